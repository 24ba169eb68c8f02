//! The change detector's fingerprint: a SHA-256 over the paths and contents
//! of a stage's `inputs` (files, directories walked in name order, or a
//! last component with `*`/`?`). A missing input counts as "missing", so
//! creating it changes the hash.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::results::expand;

/// Past this many files the inputs are refused rather than hashed slowly.
pub const MAX_FILES: usize = 100_000;

/// Why the inputs could not be hashed; names the path.
#[derive(Debug, thiserror::Error)]
#[error("inputs: {path}: {reason}")]
pub struct InputsError {
    pub path: String,
    pub reason: String,
}

fn err(path: &Path, reason: impl Into<String>) -> InputsError {
    InputsError {
        path: crate::domain::sanitize::strip_all(&path.display().to_string()),
        reason: reason.into(),
    }
}

/// The hex SHA-256 of `patterns` (relative to `base`).
pub fn hash_inputs(base: &Path, patterns: &[String]) -> Result<String, InputsError> {
    let mut hasher = Sha256::new();
    let mut files = 0usize;
    for pattern in patterns {
        hasher.update(b"pattern\0");
        hasher.update(pattern.as_bytes());
        hasher.update(b"\0");
        let roots: Vec<PathBuf> = if pattern.contains(['*', '?']) {
            expand(base, pattern)
        } else {
            let p = base.join(pattern);
            if p.symlink_metadata().is_ok() {
                vec![p]
            } else {
                Vec::new()
            }
        };
        if roots.is_empty() {
            hasher.update(b"missing\0");
        }
        for root in roots {
            walk(base, &root, &mut hasher, &mut files)?;
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn walk(base: &Path, path: &Path, h: &mut Sha256, files: &mut usize) -> Result<(), InputsError> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| err(path, e.to_string()))?;
    let rel = path.strip_prefix(base).unwrap_or(path);
    h.update(rel.to_string_lossy().as_bytes());
    h.update(b"\0");
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| err(path, format!("cannot list: {e}")))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        h.update(b"dir\0");
        for e in entries {
            walk(base, &e, h, files)?;
        }
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| err(path, e.to_string()))?;
        h.update(b"link\0");
        h.update(target.to_string_lossy().as_bytes());
    } else {
        *files += 1;
        if *files > MAX_FILES {
            return Err(err(
                path,
                format!("more than {MAX_FILES} files in the inputs"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        h.update(b"file\0");
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
