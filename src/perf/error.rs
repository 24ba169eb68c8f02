//! The errors of `perf` and the exit code each one maps to.

use crate::report::exit;

#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    UnknownEnvironment(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Failed(String),
}

impl PerfError {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            PerfError::Usage(_) => "usage",
            PerfError::Unreachable(_) => "unreachable",
            PerfError::Unavailable(_) => "unavailable",
            PerfError::UnknownEnvironment(_) => "unknown_environment",
            PerfError::Internal(_) => "internal",
            PerfError::Failed(_) => "failed",
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            PerfError::Usage(_) => exit::USAGE,
            PerfError::Unreachable(_) | PerfError::Internal(_) | PerfError::Failed(_) => {
                exit::FAILED
            }
            PerfError::Unavailable(_) => exit::UNAVAILABLE,
            PerfError::UnknownEnvironment(_) => exit::REFUSED,
        }
    }
}
