//! Readers for the result files a pipeline stage writes: JUnit XML test
//! reports, Trivy JSON scans and coverage (Cobertura XML, lcov). Pure: each
//! reader takes the file's text and its path (for error messages) and
//! returns a summary; a bad file is an error naming the file and, where the
//! format allows, the line or field. Nothing here panics on hostile input.

pub mod coverage;
pub mod junit;
pub mod trivy;

use std::path::{Path, PathBuf};

pub use coverage::{read_cobertura, read_coverage, read_lcov, Coverage};
pub use junit::{read_junit, FailedTest, JunitSummary};
pub use trivy::{read_trivy, Finding, Severity, TrivySummary};

/// At most this many failing tests or findings are kept per stage; the rest
/// are counted.
pub const KEEP_DETAILS: usize = 20;
/// Messages and names from result files are cut to this many characters.
pub const MAX_TEXT: usize = 400;

/// A result file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Syntax {
        path: String,
        line: u64,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Content { path: String, reason: String },
}

impl ResultError {
    pub fn syntax(path: &Path, line: u64, reason: impl Into<String>) -> ResultError {
        ResultError::Syntax {
            path: shown(path),
            line,
            reason: crate::domain::sanitize::strip_all(&reason.into()),
        }
    }
    pub fn content(path: &Path, reason: impl Into<String>) -> ResultError {
        ResultError::Content {
            path: shown(path),
            reason: crate::domain::sanitize::strip_all(&reason.into()),
        }
    }
    pub fn io(path: &Path, source: std::io::Error) -> ResultError {
        ResultError::Io {
            path: shown(path),
            source,
        }
    }
}

fn shown(path: &Path) -> String {
    crate::domain::sanitize::strip_all(&path.display().to_string())
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: u64) -> u64 {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let before = text.as_bytes().get(..end).unwrap_or_default();
    before.iter().filter(|b| **b == b'\n').count() as u64 + 1
}

/// Clean and cut one string taken from a result file.
pub(crate) fn clip(s: &str) -> String {
    let clean = crate::domain::sanitize::strip_all(s.trim());
    if clean.chars().count() <= MAX_TEXT {
        clean
    } else {
        let mut cut: String = clean.chars().take(MAX_TEXT).collect();
        cut.push('…');
        cut
    }
}

/// Read a result file as text (at most 64 MiB), naming it on error.
pub fn read_text(path: &Path) -> Result<String, ResultError> {
    const MAX_BYTES: u64 = 64 * 1024 * 1024;
    let meta = std::fs::metadata(path).map_err(|e| ResultError::io(path, e))?;
    if meta.len() > MAX_BYTES {
        return Err(ResultError::content(
            path,
            format!(
                "{} bytes, more than the 64 MiB a result file may have",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| ResultError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        ResultError::content(
            path,
            format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// The files a stage's `junit`/`coverage`/`trivy` entry names: a path
/// relative to `base`, whose last component may hold `*` and `?`
/// wildcards. Sorted; a pattern matching nothing yields nothing.
pub fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base.join(pattern);
    let Some(name) = full.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if full.is_file() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// `*` matches any run of characters, `?` one character.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
