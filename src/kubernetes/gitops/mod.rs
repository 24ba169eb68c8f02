//! GitOps deploy and promote: a new version reaches a cluster by a commit
//! to the repository Argo CD watches.
//!
//! - [`deploy`] writes the image tag into
//!   `<overlays>/<env>/kustomization.yaml` (`images:`, edited as text so
//!   comments stay, see [`kustomize`]), commits it as the configured git
//!   author (`deploy <app> <tag> to <env>`), and pushes when the repository
//!   has a remote.
//! - [`promote`] copies the tag of one overlay into another the same way
//!   (`promote <app> <tag> from <from> to <to>`).
//! - [`sync::request_sync`] then asks Argo CD to sync the environment's
//!   Application to that commit; without Argo CD, [`apply`] renders the
//!   overlay (`kubectl kustomize`) and applies it server-side.
//!
//! Refused, changing nothing: a dirty working tree, a detached HEAD, a
//! branch behind its upstream (checked after a fetch), a missing overlay
//! or image entry, an invalid tag, or a tag already in place. The git CLI
//! does the work (`git` must be on the PATH).

pub mod apply;
mod git;
pub mod kustomize;
pub mod render;
pub mod sync;

use std::path::{Path, PathBuf};

pub use kustomize::KustomizeError;
pub use sync::{request_sync, SyncError};

use crate::kubernetes::fields::clean;

/// Where the overlays are and which image entry is the application's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gitops<'a> {
    /// The repository's working tree.
    pub repo: &'a Path,
    /// The overlays folder, relative to the repository (`k8s/overlays`).
    pub overlays: &'a Path,
    /// The `name:` of the `images:` entry (`ghcr.io/acme/orders`).
    pub image: &'a str,
    /// The application's name for commit messages.
    pub app: &'a str,
}

/// The overlays folder of the seed's layout.
pub const DEFAULT_OVERLAYS: &str = "k8s/overlays";

/// A change committed (and perhaps pushed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitopsCommit {
    /// The commit id (full hex); the revision to sync.
    pub sha: String,
    pub branch: String,
    /// The kustomization changed, relative to the repository.
    pub file: PathBuf,
    pub old_tag: Option<String>,
    pub tag: String,
    pub message: String,
    /// `<remote>/<branch>` when pushed; `None` without a remote.
    pub pushed: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GitopsError {
    #[error("{0} is not a git working tree")]
    NotARepo(String),
    #[error("the working tree has uncommitted changes ({files}): commit or stash them first; nothing was changed")]
    Dirty { files: String },
    #[error("HEAD is detached: check out a branch first; nothing was changed")]
    Detached,
    #[error("branch {branch} is {behind} commit(s) behind {upstream} (and {ahead} ahead): pull or rebase first; nothing was changed")]
    Behind {
        branch: String,
        upstream: String,
        ahead: u32,
        behind: u32,
    },
    #[error("\"{0}\" is not an environment name (lowercase letters, digits and `-`)")]
    BadEnv(String),
    #[error("no overlay for {env}: {path} does not exist; nothing was changed")]
    MissingOverlay { env: String, path: String },
    #[error("{path}: {source}; nothing was changed")]
    Kustomize {
        path: String,
        source: KustomizeError,
    },
    #[error("{env} already runs {image}:{tag} in {path}; nothing to commit")]
    Unchanged {
        env: String,
        image: String,
        tag: String,
        path: String,
    },
    #[error("cannot write {path}: {reason}; nothing was changed")]
    Write { path: String, reason: String },
    #[error("git {action} failed: {reason}")]
    Git { action: String, reason: String },
    #[error("committed {sha} but the push failed: {reason}; push it by hand")]
    PushFailed { sha: String, reason: String },
}

fn check_env(env: &str) -> Result<(), GitopsError> {
    let ok = !env.is_empty()
        && env.len() <= 63
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(GitopsError::BadEnv(clean(env)))
    }
}

/// `<overlays>/<env>/kustomization.yaml` (or `.yml`), relative to the repo.
fn kustomization(g: &Gitops<'_>, env: &str) -> Result<PathBuf, GitopsError> {
    check_env(env)?;
    let dir = g.overlays.join(env);
    for name in ["kustomization.yaml", "kustomization.yml"] {
        if g.repo.join(&dir).join(name).is_file() {
            return Ok(dir.join(name));
        }
    }
    Err(GitopsError::MissingOverlay {
        env: env.to_string(),
        path: dir.join("kustomization.yaml").display().to_string(),
    })
}

fn read(g: &Gitops<'_>, rel: &Path) -> Result<String, GitopsError> {
    std::fs::read_to_string(g.repo.join(rel)).map_err(|e| GitopsError::Write {
        path: rel.display().to_string(),
        reason: e.to_string(),
    })
}

/// Write through a temporary file and a rename, so a crash leaves either
/// text.
fn write(g: &Gitops<'_>, rel: &Path, text: &str) -> Result<(), GitopsError> {
    let path = g.repo.join(rel);
    let tmp = path.with_extension("yaml.blissful-tmp");
    let err = |e: std::io::Error| GitopsError::Write {
        path: rel.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Write `tag` into `env`'s overlay and commit with `message`.
async fn write_tag(
    g: &Gitops<'_>,
    env: &str,
    tag: &str,
    message: String,
) -> Result<GitopsCommit, GitopsError> {
    let state = git::preflight(g.repo).await?;
    let rel = kustomization(g, env)?;
    let kerr = |source| GitopsError::Kustomize {
        path: rel.display().to_string(),
        source,
    };
    let before = read(g, &rel)?;
    let (after, old_tag) = kustomize::set_image_tag(&before, g.image, tag).map_err(kerr)?;
    if old_tag.as_deref() == Some(tag) {
        return Err(GitopsError::Unchanged {
            env: env.to_string(),
            image: g.image.to_string(),
            tag: tag.to_string(),
            path: rel.display().to_string(),
        });
    }
    write(g, &rel, &after)?;
    let sha = match git::commit(g.repo, &rel, &message).await {
        Ok(sha) => sha,
        Err(e) => {
            git::unstage(g.repo, &rel).await;
            write(g, &rel, &before)?;
            return Err(e);
        }
    };
    let pushed = git::push(g.repo, &state)
        .await
        .map_err(|e| GitopsError::PushFailed {
            sha: sha.clone(),
            reason: e.to_string(),
        })?;
    Ok(GitopsCommit {
        sha,
        branch: state.branch,
        file: rel,
        old_tag,
        tag: tag.to_string(),
        message,
        pushed,
    })
}

/// `deploy --env <env> --version <tag>`: the overlay of `env` runs `tag`.
pub async fn deploy(g: &Gitops<'_>, env: &str, tag: &str) -> Result<GitopsCommit, GitopsError> {
    kustomize::check_tag(tag).map_err(|source| GitopsError::Kustomize {
        path: env.to_string(),
        source,
    })?;
    let message = format!("deploy {} {tag} to {env}", clean(g.app));
    write_tag(g, env, tag, message).await
}

/// `promote --from <from> --to <to>`: the tag of `from`'s overlay goes
/// into `to`'s.
pub async fn promote(g: &Gitops<'_>, from: &str, to: &str) -> Result<GitopsCommit, GitopsError> {
    let rel = kustomization(g, from)?;
    let text = read(g, &rel)?;
    let kerr = |source| GitopsError::Kustomize {
        path: rel.display().to_string(),
        source,
    };
    let tag = kustomize::image_tag(&text, g.image)
        .map_err(kerr)?
        .ok_or_else(|| {
            kerr(KustomizeError::NoTag {
                image: g.image.to_string(),
            })
        })?;
    let message = format!("promote {} {tag} from {from} to {to}", clean(g.app));
    write_tag(g, to, &tag, message).await
}
