//! The control socket: how CLI commands reach a running sandbox.
//!
//! The process that runs the sandbox (the console, or a headless
//! `blissful-infra daemon`) serves a Unix domain socket at
//! [`crate::paths::StatePaths::control_socket`]. The socket is created with
//! mode 0600 (bound under a temporary name, chmod-ed, then renamed into place
//! so no other user can ever connect), and a leftover socket file that nobody
//! answers on is replaced.
//!
//! Protocol ([`protocol`]): newline-delimited JSON. Each connection sends ONE
//! request line `{"v":1,"actor":{"user":..,"via":..},"op":{"op":"status"}}`
//! and reads reply lines `{"ok":...}` or `{"err":<RuntimeError>}`. For
//! `subscribe` the server acknowledges with `{"ok":null}` and then streams one
//! `RuntimeEvent` per line until the client hangs up. Each subscriber has a
//! bounded queue; when a client reads too slowly the server counts the events
//! it could not queue and sends a `Lagged{count}` event as soon as there is
//! room again, so memory stays bounded and no loss goes unreported. A bad
//! request line gets an `invalid request at column N: ...` error reply and
//! the server keeps serving; request lines are limited to 1 MiB.
//!
//! [`server::ControlServer`] serves any [`crate::runtime::SharedRuntime`];
//! [`client::RemoteRuntime`] implements [`crate::runtime::Runtime`] on top of
//! the socket (one connection per call; `subscribe` keeps one open), so CLI
//! commands are written once against the runtime port.
//!
//! Only one process runs a runtime on a state directory: [`lock::RuntimeLock`]
//! is taken before the runtime starts and held until the process ends.

pub mod client;
pub mod lock;
pub mod protocol;
pub mod server;

use std::path::PathBuf;

use crate::runtime::RuntimeError;

pub use client::{is_running, RemoteRuntime};
pub use protocol::PingInfo;
pub use server::{run_headless, ControlServer, ServerInfo};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "no sandbox is running (no control socket at {}); start one with `blissful-infra demo` or `blissful-infra up`",
        path.display()
    )]
    NotRunning { path: PathBuf },
    #[error("a sandbox is already running (something answers on {})", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("{} exists and is not a socket; move it away and try again", path.display())]
    NotASocket { path: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {secs}s waiting for the sandbox to answer `{op}`")]
    Timeout { op: &'static str, secs: u64 },
    #[error("control socket protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Remote(#[from] RuntimeError),
}

impl DaemonError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DaemonError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<DaemonError> for RuntimeError {
    /// Errors reaching the sandbox mean it is unavailable; errors it sent are passed through.
    fn from(e: DaemonError) -> Self {
        match e {
            DaemonError::Remote(e) => e,
            DaemonError::Protocol(m) => {
                RuntimeError::Failed(format!("control socket protocol error: {m}"))
            }
            other => RuntimeError::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_running_message_tells_how_to_start_one() {
        let e = DaemonError::NotRunning {
            path: PathBuf::from("/tmp/x/sandbox.sock"),
        };
        assert_eq!(
            e.to_string(),
            "no sandbox is running (no control socket at /tmp/x/sandbox.sock); start one with `blissful-infra demo` or `blissful-infra up`"
        );
        match RuntimeError::from(e) {
            RuntimeError::Unavailable(m) => assert!(m.starts_with("no sandbox is running")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn remote_errors_pass_through() {
        let e = DaemonError::Remote(RuntimeError::ReadOnly("deploy".into()));
        assert_eq!(
            RuntimeError::from(e),
            RuntimeError::ReadOnly("deploy".into())
        );
    }
}
