//! `compare --old <ref> --new <ref>` for a project that runs its own service
//! (`service.command` is set): each ref is checked out into a git worktree
//! inside the comparison's directory, built with `service.build`, and its
//! instances run from there. For the built-in sample service the names stay
//! sample-service versions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::CompareError;
use crate::config::Config;
use crate::domain::sanitize::strip_all;

/// Longest git ref accepted on the command line.
const MAX_REF_LEN: usize = 200;
/// Lines of a failed build's output kept for the error.
const BUILD_TAIL_LINES: usize = 20;

/// What the two sides run.
#[derive(Debug)]
pub struct Prepared {
    pub old: String,
    pub new: String,
    /// Version name -> working directory (worktree) for its instances.
    pub workdirs: BTreeMap<String, PathBuf>,
    worktrees: Option<Worktrees>,
}

#[derive(Debug)]
struct Worktrees {
    repo: PathBuf,
    paths: Vec<PathBuf>,
}

impl Prepared {
    /// Remove the worktrees (their directories and git's records of them).
    pub async fn cleanup(self, err: &mut (dyn Write + Send)) {
        let Some(w) = self.worktrees else { return };
        for path in &w.paths {
            let out = git(&w.repo)
                .args(["worktree", "remove", "--force"])
                .arg(path)
                .output()
                .await;
            if !matches!(&out, Ok(o) if o.status.success()) && path.exists() {
                let _ = writeln!(err, "warning: could not remove worktree {}", path.display());
            }
        }
        let _ = git(&w.repo).args(["worktree", "prune"]).output().await;
    }
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).kill_on_drop(true);
    c
}

/// A ref is handed to git as an argument: refuse what git could read as an
/// option or what cannot be a ref at all.
pub fn check_ref(flag: &str, r: &str) -> Result<(), CompareError> {
    let ok = !r.is_empty()
        && r.len() <= MAX_REF_LEN
        && !r.starts_with('-')
        && r.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(CompareError::Usage(format!(
            "--{flag} `{}` is not a git ref (no spaces, not starting with `-`, at most {MAX_REF_LEN} characters)",
            strip_all(r)
        )))
    }
}

/// `main-1a2b3c4` for `main` at 1a2b3c4…: a version name the sandbox accepts.
pub fn version_name(r: &str, sha: &str) -> String {
    let mut name: String = r
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(40);
    let name = name.trim_matches('-');
    let short = &sha[..sha.len().min(7)];
    if name.is_empty() {
        short.to_string()
    } else {
        format!("{name}-{short}")
    }
}

async fn run_git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let out = git(repo)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(strip_all(String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Resolve `old` and `new` to what each side runs. With `service.command`
/// set they are git refs: check them out into `<dir>/worktrees/` and build.
pub async fn prepare(
    config: &Config,
    config_dir: &Path,
    old: &str,
    new: &str,
    dir: &Path,
    err: &mut (dyn Write + Send),
) -> Result<Prepared, CompareError> {
    if config.service.command.trim().is_empty() {
        return Ok(Prepared {
            old: old.to_string(),
            new: new.to_string(),
            workdirs: BTreeMap::new(),
            worktrees: None,
        });
    }
    let root = run_git(config_dir, &["rev-parse", "--show-toplevel"])
        .await
        .map(PathBuf::from)
        .map_err(|e| {
            CompareError::Usage(format!(
                "service.command is set, so --old and --new are git refs, but {} is not in a git repository ({e})",
                config_dir.display()
            ))
        })?;
    // Where the config sits inside the repository: the same place in a worktree.
    let config_dir = std::fs::canonicalize(config_dir).unwrap_or_else(|_| config_dir.into());
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let rel = config_dir
        .strip_prefix(&root)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut prepared = Prepared {
        old: String::new(),
        new: String::new(),
        workdirs: BTreeMap::new(),
        worktrees: Some(Worktrees {
            repo: root.clone(),
            paths: Vec::new(),
        }),
    };
    for (side, r) in [("old", old), ("new", new)] {
        let sha = match run_git(
            &root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{r}^{{commit}}"),
            ],
        )
        .await
        {
            Ok(s) if !s.is_empty() => s,
            _ => {
                prepared.cleanup(err).await;
                return Err(CompareError::Usage(format!(
                    "--{side} `{}` is not a git ref of {}",
                    strip_all(r),
                    root.display()
                )));
            }
        };
        let mut name = version_name(r, &sha);
        if side == "new" && name == prepared.old {
            // The same commit twice: keep the two sides apart.
            name.push_str("-new");
        }
        let tree = dir.join("worktrees").join(side);
        let _ = writeln!(
            err,
            "checking out {} ({}) into {}",
            strip_all(r),
            &sha[..sha.len().min(7)],
            tree.display()
        );
        let tree_arg = tree.display().to_string();
        if let Err(e) = run_git(&root, &["worktree", "add", "--detach", &tree_arg, &sha]).await {
            prepared.cleanup(err).await;
            return Err(CompareError::Failed(format!(
                "git worktree add for `{}`: {e}",
                strip_all(r)
            )));
        }
        if let Some(w) = prepared.worktrees.as_mut() {
            w.paths.push(tree.clone());
        }
        let workdir = tree.join(&rel).join(&config.service.workdir);
        if let Err(e) = build(config, &workdir, r, err).await {
            prepared.cleanup(err).await;
            return Err(e);
        }
        prepared.workdirs.insert(name.clone(), workdir);
        if side == "old" {
            prepared.old = name;
        } else {
            prepared.new = name;
        }
    }
    Ok(prepared)
}

/// Run `service.build` in `workdir`, if one is configured.
async fn build(
    config: &Config,
    workdir: &Path,
    r: &str,
    err: &mut (dyn Write + Send),
) -> Result<(), CompareError> {
    let cmd = config.service.build.trim();
    if cmd.is_empty() {
        return Ok(());
    }
    let _ = writeln!(err, "building {}: {cmd}", strip_all(r));
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(workdir)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            CompareError::Failed(format!("starting the build of `{}`: {e}", strip_all(r)))
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(BUILD_TAIL_LINES)..].join("\n");
    Err(CompareError::Failed(format!(
        "building `{}` failed ({}):\n{}",
        strip_all(r),
        out.status,
        strip_all(&tail)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_become_version_names() {
        assert_eq!(version_name("main", "1a2b3c4d5e"), "main-1a2b3c4");
        assert_eq!(version_name("HEAD~1", "abcdef0123"), "HEAD-1-abcdef0");
        assert_eq!(
            version_name("feature/x@{u}", "0123456789"),
            "feature-x--u-0123456"
        );
        assert_eq!(version_name("~", "0123456789"), "0123456");
    }

    #[test]
    fn refs_that_look_like_options_are_refused() {
        assert!(check_ref("old", "main").is_ok());
        assert!(check_ref("old", "HEAD~2").is_ok());
        assert!(check_ref("old", "--upload-pack=x").is_err());
        assert!(check_ref("old", "a b").is_err());
        assert!(check_ref("old", "").is_err());
        assert!(check_ref("old", &"x".repeat(201)).is_err());
    }
}
