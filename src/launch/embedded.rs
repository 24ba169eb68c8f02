//! Run the configured runtime in this process and serve the control socket.

use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::eyre::{eyre, WrapErr};
use color_eyre::Result;

use crate::cli::args::GlobalArgs;
use crate::config::{Config, RuntimeKind};
use crate::daemon::lock::{LockError, LockOwner, RuntimeLock};
use crate::daemon::server::{ControlServer, ServerInfo};
use crate::paths::StatePaths;
use crate::runtime::SharedRuntime;
use crate::sandbox::{SandboxOptions, SandboxRuntime};

/// Start the sandbox in this process and serve the control socket.
pub(super) struct Embedded {
    /// The sandbox, or the Docker runtime with `runtime: docker`.
    pub(super) sandbox: SharedRuntime,
    /// `sandbox` or `docker`, for messages.
    pub(super) kind: &'static str,
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    pub(super) server: tokio::task::JoinHandle<()>,
    /// Fires when a client sent `shutdown` (`blissful-infra down`).
    pub(super) shutdown_requested: tokio::sync::watch::Receiver<bool>,
    /// The state directory is ours while this lives: drop it last.
    pub(super) lock: RuntimeLock,
}

/// Claim the state directory for a runtime started by `command` (`daemon`,
/// `up`, `demo`, `console`). `None` once it has said on stderr who holds it
/// (the caller exits with `REFUSED`).
pub(super) fn claim_state(
    state: &StatePaths,
    command: &str,
    runtime: RuntimeKind,
) -> Result<Option<RuntimeLock>> {
    let kind = match runtime {
        RuntimeKind::Sandbox => "sandbox",
        RuntimeKind::Docker => "docker",
        RuntimeKind::Kubernetes => "kubernetes",
    };
    match RuntimeLock::acquire(state, LockOwner::this_process(command, kind)) {
        Ok(lock) => Ok(Some(lock)),
        Err(e @ LockError::Held { .. }) => {
            super::errors::print_error(e);
            Ok(None)
        }
        Err(e) => Err(e).wrap_err("claiming the state directory"),
    }
}

pub(super) async fn start_sandbox(
    g: &GlobalArgs,
    state: &StatePaths,
    config: Arc<Config>,
    config_dir: PathBuf,
    lock: RuntimeLock,
) -> Result<Embedded> {
    let (sandbox, kind): (SharedRuntime, &'static str) = match config.runtime {
        RuntimeKind::Sandbox => {
            let program =
                std::env::current_exe().wrap_err("finding the blissful-infra executable")?;
            let rt = SandboxRuntime::start(SandboxOptions {
                config: config.clone(),
                config_dir,
                service_program: program,
                state: state.clone(),
            })
            .await
            .map_err(|e| eyre!("starting the sandbox: {e}"))?;
            (rt, "sandbox")
        }
        RuntimeKind::Docker => {
            let mut err = std::io::stderr();
            match crate::docker::cli::open_runtime(
                config.clone(),
                &config_dir,
                state.clone(),
                &mut err,
            )
            .await
            {
                Ok(rt) => (rt, "docker"),
                Err(code) => return Err(eyre!("opening the Docker runtime failed (exit {code})")),
            }
        }
        RuntimeKind::Kubernetes => return Err(eyre!("{}", super::kube::NO_DAEMON)),
    };
    // The owner of the runtime wraps it once: every client is audited once.
    let sandbox = crate::runtime::decorate(sandbox, g.read_only, state.audit_journal()).await;
    let shared: SharedRuntime = sandbox.clone();
    let info = ServerInfo {
        pid: std::process::id(),
        runtime: kind.into(),
        project: config.project.clone(),
        started_at: chrono::Utc::now().timestamp_millis(),
    };
    let server = ControlServer::bind(&state.control_socket(), shared, info)
        .await
        .map_err(|e| eyre!("serving the control socket: {e}"))?;
    let shutdown_requested = server.shutdown_requested();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        let _ = server.serve(stop_rx).await;
    });
    Ok(Embedded {
        sandbox,
        kind,
        stop: stop_tx,
        server: handle,
        shutdown_requested,
        lock,
    })
}
