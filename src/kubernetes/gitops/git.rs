//! The git CLI, as GitOps needs it: state checks, commit, fetch and push.
//! Every call runs `git -C <repo>` without a terminal prompt, in the C
//! locale, and its error output comes back cleaned.

use std::path::Path;

use tokio::process::Command;

use super::GitopsError;
use crate::kubernetes::fields::clean;

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(repo)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .kill_on_drop(true);
    c
}

/// Run git; its trimmed standard output, or the error naming `action`.
pub(super) async fn run(repo: &Path, action: &str, args: &[&str]) -> Result<String, GitopsError> {
    let out = git(repo)
        .args(args)
        .output()
        .await
        .map_err(|e| GitopsError::Git {
            action: action.to_string(),
            reason: format!("cannot run git: {e}"),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("failed");
    Err(GitopsError::Git {
        action: action.to_string(),
        reason: clean(reason),
    })
}

/// Like [`run`], `None` when git answers with an error (a missing config
/// key, no upstream).
async fn query(repo: &Path, args: &[&str]) -> Option<String> {
    run(repo, "query", args)
        .await
        .ok()
        .filter(|s| !s.is_empty())
}

/// Where a branch pushes: its remote and the remote ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Upstream {
    pub remote: String,
    pub merge: String,
}

/// The repository's state before a change.
#[derive(Clone, Debug)]
pub(super) struct RepoState {
    pub branch: String,
    pub upstream: Option<Upstream>,
    pub remotes: Vec<String>,
}

/// Refuse a dirty tree, a detached HEAD, or a branch behind its upstream
/// (after fetching it).
pub(super) async fn preflight(repo: &Path) -> Result<RepoState, GitopsError> {
    if query(repo, &["rev-parse", "--is-inside-work-tree"])
        .await
        .as_deref()
        != Some("true")
    {
        return Err(GitopsError::NotARepo(repo.display().to_string()));
    }
    let status = run(
        repo,
        "status",
        &["status", "--porcelain", "--untracked-files=normal"],
    )
    .await?;
    if !status.is_empty() {
        let files: Vec<String> = status
            .lines()
            .take(5)
            .map(|l| clean(l.get(3..).unwrap_or(l)))
            .collect();
        return Err(GitopsError::Dirty {
            files: files.join(", "),
        });
    }
    let branch = query(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .await
        .ok_or(GitopsError::Detached)?;
    let remotes: Vec<String> = run(repo, "remote", &["remote"])
        .await?
        .lines()
        .map(str::to_string)
        .collect();
    let remote = query(
        repo,
        &["config", "--get", &format!("branch.{branch}.remote")],
    )
    .await;
    let merge = query(
        repo,
        &["config", "--get", &format!("branch.{branch}.merge")],
    )
    .await;
    let upstream = match (remote, merge) {
        (Some(remote), Some(merge)) if remote != "." => Some(Upstream { remote, merge }),
        _ => None,
    };
    if let Some(up) = &upstream {
        run(repo, "fetch", &["fetch", "--quiet", &up.remote]).await?;
        let counts = run(
            repo,
            "rev-list",
            &["rev-list", "--left-right", "--count", "HEAD...@{upstream}"],
        )
        .await?;
        let mut n = counts
            .split_whitespace()
            .map(|x| x.parse::<u32>().unwrap_or(0));
        let (ahead, behind) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
        if behind > 0 {
            return Err(GitopsError::Behind {
                branch: clean(&branch),
                upstream: format!(
                    "{}/{}",
                    clean(&up.remote),
                    clean(up.merge.trim_start_matches("refs/heads/"))
                ),
                ahead,
                behind,
            });
        }
    }
    Ok(RepoState {
        branch,
        upstream,
        remotes,
    })
}

/// Commit `file` (relative to the repository) with `message`; the new
/// commit's id. The author is whoever git's configuration names.
pub(super) async fn commit(repo: &Path, file: &Path, message: &str) -> Result<String, GitopsError> {
    let file = file.to_string_lossy();
    run(repo, "add", &["add", "--", &file]).await?;
    run(
        repo,
        "commit",
        &[
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
            "--",
            &file,
        ],
    )
    .await?;
    run(repo, "rev-parse", &["rev-parse", "HEAD"]).await
}

/// Undo a staged but uncommitted change of `file`.
pub(super) async fn unstage(repo: &Path, file: &Path) {
    let _ = run(
        repo,
        "reset",
        &["reset", "--quiet", "--", &file.to_string_lossy()],
    )
    .await;
}

/// Push HEAD to the branch's upstream, else to `origin` (or the only
/// remote) under the same branch name; `None` without a remote. Returns
/// `<remote>/<branch>`.
pub(super) async fn push(repo: &Path, state: &RepoState) -> Result<Option<String>, GitopsError> {
    let (remote, dest) = match &state.upstream {
        Some(up) => (up.remote.clone(), up.merge.clone()),
        None => {
            let remote = if state.remotes.iter().any(|r| r == "origin") {
                "origin".to_string()
            } else if let [only] = state.remotes.as_slice() {
                only.clone()
            } else {
                return Ok(None);
            };
            (remote, format!("refs/heads/{}", state.branch))
        }
    };
    run(
        repo,
        "push",
        &["push", "--quiet", &remote, &format!("HEAD:{dest}")],
    )
    .await?;
    Ok(Some(format!(
        "{}/{}",
        clean(&remote),
        clean(dest.trim_start_matches("refs/heads/"))
    )))
}
