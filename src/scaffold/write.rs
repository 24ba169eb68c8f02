//! Write a rendered project: all files or none. The files go to a staging
//! folder next to the target first, which is renamed into place at the end;
//! any failure removes the staging folder and leaves the target as it was.

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
    let staging = parent.join(format!(
        ".{name}.creating-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir(&staging)
        .map_err(|e| ScaffoldError::io(format!("creating {}", staging.display()), e))?;
    let result = fill(&staging, files).and_then(|()| {
        // An empty target directory is replaced by the staging folder.
        if dir.exists() {
            std::fs::remove_dir(dir)
                .map_err(|e| ScaffoldError::io(format!("replacing {}", dir.display()), e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| {
            ScaffoldError::io(
                format!("moving {} to {}", staging.display(), dir.display()),
                e,
            )
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
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
    fn escaping_output_paths_are_refused_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        assert!(write_files(&dir, &[file("../x", "x")]).is_err());
        assert!(listing(tmp.path()).is_empty());
    }
}
