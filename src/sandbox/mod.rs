//! The embedded sandbox runtime: supervised local processes on loopback, an
//! edge router per environment with weighted canary routing and fault
//! injection, its delivery backend for the shared rollout controller, and its
//! fault applier for the shared fault engine (whose journal is in the state
//! directory). Read-only mode and the audit journal wrap it as decorators.
//!
//! One engine task owns all sandbox state; the public `SandboxRuntime` talks to
//! it over a channel (see `engine`).

pub mod cgroup;
pub mod dependencies;
pub mod engine;
pub mod fault_steps;
pub mod process;
pub mod procstat;
pub(crate) mod resolv;
pub mod sample_service;
pub mod supervisor;

/// The edge router and traffic generator moved to `crate::router`; these
/// paths stay for callers not yet updated.
pub use crate::router;
pub use crate::router::traffic;

use std::path::PathBuf;
use std::sync::Arc;

pub use engine::SandboxRuntime;

use crate::config::Config;
use crate::paths::StatePaths;

/// Everything the sandbox needs to start.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    pub config: Arc<Config>,
    /// Directory of the config file; `service.workdir` is relative to it.
    pub config_dir: PathBuf,
    /// The `blissful-infra` binary, run as `<program> sample-service ...` for
    /// the built-in service (tests pass the built binary explicitly).
    pub service_program: PathBuf,
    pub state: StatePaths,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("fault journal {path}: {message}")]
    Journal { path: PathBuf, message: String },
    #[error("state directory {dir} is in use by another sandbox (pid {pid}); stop it first")]
    StateInUse { dir: PathBuf, pid: u32 },
    #[error("cannot start the edge router of environment `{env}`: {source}")]
    Router {
        env: String,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}
