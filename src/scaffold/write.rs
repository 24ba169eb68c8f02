//! Write a rendered project (or `eject`'s output): all files or none. The
//! files go to a staging folder next to the target first, which is renamed
//! into place at the end; any failure removes the staging folder and leaves
//! the target as it was.

use std::path::{Path, PathBuf};

use super::render::RenderedFile;
use super::ScaffoldError;

/// Refuse a target that exists and is a file or a non-empty directory.
pub fn check_target(dir: &Path) -> Result<(), ScaffoldError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ScaffoldError::io(format!("checking {}", dir.display()), e)),
        Ok(m) if !m.is_dir() => Err(ScaffoldError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| ScaffoldError::io(format!("reading {}", dir.display()), e))?;
            if entries.next().is_some() {
                Err(ScaffoldError::DirectoryNotEmpty {
                    path: dir.to_path_buf(),
                })
            } else {
                Ok(())
            }
        }
    }
}

/// Write `files` under `dir` (created; an empty existing directory is
/// replaced). Returns the directory written.
pub fn write_files(dir: &Path, files: &[RenderedFile]) -> Result<PathBuf, ScaffoldError> {
    check_target(dir)?;
    stage_and_swap(dir, files, false)
}

/// [`write_files`], but an existing directory, full or not, is replaced:
/// it is moved aside only once every new file is written, and removed
/// after the new one is in place (put back if that fails).
pub fn replace_files(dir: &Path, files: &[RenderedFile]) -> Result<PathBuf, ScaffoldError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => Err(ScaffoldError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        _ => stage_and_swap(dir, files, true),
    }
}

/// Fill a staging folder beside `dir`, then rename it to `dir`; an existing
/// empty `dir` goes first, a full one is moved aside only with `replace`.
fn stage_and_swap(
    dir: &Path,
    files: &[RenderedFile],
    replace: bool,
) -> Result<PathBuf, ScaffoldError> {
    for f in files {
        if f.path.is_empty()
            || f.path.starts_with('/')
            || f.path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(ScaffoldError::Render {
                problems: vec![super::RenderProblem {
                    file: f.source.clone(),
                    line: None,
                    message: format!("output path `{}` is not a plain relative path", f.path),
                }],
            });
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            ScaffoldError::io(
                format!("{} has no final folder name", dir.display()),
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            )
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| ScaffoldError::io(format!("creating {}", parent.display()), e))?;
    let beside = |what: &str| {
        parent.join(format!(
            ".{name}.{what}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ))
    };
    let staging = beside("creating");
    std::fs::create_dir(&staging)
        .map_err(|e| ScaffoldError::io(format!("creating {}", staging.display()), e))?;
    let mut old = None;
    let result = fill(&staging, files).and_then(|()| {
        if dir.exists() && std::fs::remove_dir(dir).is_err() {
            if !replace {
                return Err(ScaffoldError::DirectoryNotEmpty {
                    path: dir.to_path_buf(),
                });
            }
            let aside = beside("replaced");
            std::fs::rename(dir, &aside)
                .map_err(|e| ScaffoldError::io(format!("replacing {}", dir.display()), e))?;
            old = Some(aside);
        }
        std::fs::rename(&staging, dir).map_err(|e| {
            ScaffoldError::io(
                format!("moving {} to {}", staging.display(), dir.display()),
                e,
            )
        })
    });
    match (&result, old) {
        (Ok(()), Some(old)) => {
            let _ = std::fs::remove_dir_all(old);
        }
        (Err(_), old) => {
            if let Some(old) = old {
                let _ = std::fs::rename(old, dir);
            }
            let _ = std::fs::remove_dir_all(&staging);
        }
        (Ok(()), None) => {}
    }
    result.map(|()| dir.to_path_buf())
}

fn fill(root: &Path, files: &[RenderedFile]) -> Result<(), ScaffoldError> {
    for f in files {
        let path = root.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ScaffoldError::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&path, &f.contents)
            .map_err(|e| ScaffoldError::io(format!("writing {}", path.display()), e))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| ScaffoldError::io(format!("chmod {}", path.display()), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> RenderedFile {
        RenderedFile {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
            executable: path.ends_with(".sh"),
            source: format!("t/files/{path}"),
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_every_file_with_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        write_files(&dir, &[file("a/b.txt", "b"), file("ci/run.sh", "echo")]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a/b.txt")).unwrap(), "b");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ci/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(listing(tmp.path()), vec!["svc"], "no staging folder left");
    }

    #[test]
    fn an_empty_directory_is_used_and_a_full_one_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        std::fs::create_dir(&dir).unwrap();
        write_files(&dir, &[file("x.txt", "x")]).unwrap();
        let e = write_files(&dir, &[file("y.txt", "y")]).unwrap_err();
        assert!(matches!(e, ScaffoldError::DirectoryNotEmpty { .. }), "{e}");
        assert_eq!(listing(&dir), vec!["x.txt"]);
        std::fs::write(tmp.path().join("f"), "").unwrap();
        let e = write_files(&tmp.path().join("f"), &[file("y.txt", "y")]).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotADirectory { .. }), "{e}");
    }

    #[test]
    fn a_failure_half_way_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        // `a` is a file, so `a/b.txt` cannot be created after it.
        let e = write_files(&dir, &[file("a", "x"), file("a/b.txt", "y")]).unwrap_err();
        assert!(matches!(e, ScaffoldError::Io { .. }), "{e}");
        assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
    }

    #[test]
    fn replacing_swaps_a_full_directory_only_when_the_new_one_is_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        write_files(&dir, &[file("old.txt", "old")]).unwrap();
        let e = replace_files(&dir, &[file("a", "x"), file("a/b.txt", "y")]).unwrap_err();
        assert!(matches!(e, ScaffoldError::Io { .. }), "{e}");
        assert_eq!(
            listing(&dir),
            vec!["old.txt"],
            "the old one stays on failure"
        );
        replace_files(&dir, &[file("new.txt", "new")]).unwrap();
        assert_eq!(listing(&dir), vec!["new.txt"]);
        assert_eq!(listing(tmp.path()), vec!["out"], "nothing left beside it");
        std::fs::write(tmp.path().join("f"), "").unwrap();
        let e = replace_files(&tmp.path().join("f"), &[file("y.txt", "y")]).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotADirectory { .. }), "{e}");
    }

    #[test]
    fn escaping_output_paths_are_refused_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        assert!(write_files(&dir, &[file("../x", "x")]).is_err());
        assert!(listing(tmp.path()).is_empty());
    }
}
