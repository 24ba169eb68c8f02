//! The runtime port: what the console and CLI need from any runtime
//! (the embedded sandbox and Docker, driven; Kubernetes, observed). Callers hold a
//! `SharedRuntime` and never know which implementation is behind it.

pub mod audit_log;
mod audit_watch;
pub mod audited;
pub mod contexts;
mod decorate;
#[cfg(test)]
pub(crate) mod fake;
pub mod intent;
pub mod publisher;
pub mod read_only;
mod source_state;

pub use audit_log::{append_audit_line, read_audit_journal, AuditLog};
pub use audit_watch::outcome_entry;
pub use audited::Audited;
pub use decorate::decorate;
pub use intent::{Capabilities, DeliveryMode, Intent, IntentKind, Support};
pub use read_only::ReadOnly;
pub use source_state::{split_retry, wait_text, RETRY_MARK};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::domain::analysis::Verdict;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::logs::LogLine;
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::PipelineRun;

pub type SharedRuntime = Arc<dyn Runtime>;

/// Who asked for an action; written to the audit journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    /// `console`, `cli`, or `controller` for automatic actions.
    pub via: String,
}

impl Actor {
    pub fn current(via: &str) -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(user_from_passwd)
            .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
        Actor {
            user,
            via: via.to_string(),
        }
    }
}

/// The login name of this process's user, from the password database
/// (USER is often unset under tmux, cron or CI).
fn user_from_passwd() -> Option<String> {
    // SAFETY: getpwuid_r writes into our buffers only; we read them only on success.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum RuntimeError {
    #[error("unknown environment `{0}`")]
    UnknownEnvironment(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("read-only mode: {0} is not allowed")]
    ReadOnly(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

impl RuntimeError {
    /// The error as an audit or report outcome, `refused: <why>`, without
    /// saying "refused" twice when the runtime already refused.
    pub fn refusal(&self) -> String {
        match self {
            RuntimeError::Refused(_) => self.to_string(),
            other => format!("refused: {other}"),
        }
    }
}

/// How a rollout ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RolloutOutcome {
    Promoted {
        version: Version,
    },
    /// `version` is the version taken out of service (the failed canary, or the
    /// stable version a rollback replaced).
    RolledBack {
        version: Version,
        reason: String,
        /// Boxed: a verdict is large and most outcomes carry none.
        verdict: Option<Box<Verdict>>,
    },
    Aborted {
        reason: String,
    },
}

/// Returned when an action is accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionAccepted {
    /// Pipeline run that tracks the action (watch `RuntimeEvent::Pipeline` with this id).
    pub pipeline_id: u64,
    pub env: String,
    pub from_version: Option<Version>,
    pub to_version: Option<Version>,
    pub message: String,
}

/// Connection state of a source, shown by every pane that depends on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum SourceState {
    Connecting,
    Ok,
    Degraded(String),
}

/// Everything a runtime streams to its subscribers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RuntimeEvent {
    Environment {
        status: EnvironmentStatus,
    },
    Log {
        line: LogLine,
    },
    Metrics {
        env: String,
        version: String,
        point: MetricPoint,
    },
    Pipeline {
        run: PipelineRun,
    },
    Verdict {
        env: String,
        step: usize,
        verdict: Verdict,
    },
    RolloutFinished {
        env: String,
        pipeline_id: u64,
        outcome: RolloutOutcome,
    },
    Experiment {
        experiment: Experiment,
    },
    /// The subscriber fell behind and `count` events were lost (logs mostly).
    Lagged {
        count: u64,
    },
    Source {
        name: String,
        state: SourceState,
    },
}

#[async_trait]
pub trait Runtime: Send + Sync {
    /// Short name shown in the UI: `sandbox`, `docker`, `kubernetes`.
    fn name(&self) -> &str;

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError>;

    /// What this runtime can do, and who steps its rollouts.
    fn capabilities(&self) -> Capabilities;

    /// Ask for a change to the rollout of `env`. A runtime refuses an intent
    /// its capabilities do not offer, with the reason.
    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError>;

    /// Start a rollout of `version` in `env`; returns once accepted.
    async fn deploy(
        &self,
        actor: &Actor,
        env: &str,
        version: &Version,
    ) -> Result<ActionAccepted, RuntimeError> {
        let version = version.clone();
        self.intent(actor, env, Intent::Deploy { version }).await
    }

    /// Roll the stable version of `from` out to `to` (as a rollout there).
    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError>;

    /// Return `env` to its previous stable version at once (aborting any rollout).
    async fn rollback(&self, actor: &Actor, env: &str) -> Result<ActionAccepted, RuntimeError> {
        self.intent(actor, env, Intent::Undo { to_revision: None })
            .await
    }

    /// Blue/green: send all traffic to the canary now (`to_canary`) or back to stable.
    async fn switch_traffic(
        &self,
        actor: &Actor,
        env: &str,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.intent(actor, env, Intent::Switch { to_canary }).await
    }

    /// Start a chaos experiment; the fault is journalled before it is applied.
    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError>;

    /// Remove a fault early (or one left over from a crash).
    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError>;

    /// Recent log lines from the runtime's buffer, newest last.
    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError>;

    /// Recent pipeline runs and experiments, for a console that attaches late.
    async fn history(&self) -> Result<History, RuntimeError>;

    /// A stream of events; when the subscriber lags, a `Lagged` event says how many were lost.
    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError>;

    /// Show work done outside the runtime (a `perf` or `compare` run) to
    /// everyone attached to it. Returns the pipeline id (a new one when the
    /// published run has id 0). Runtimes that cannot relay such reports say so.
    async fn publish(&self, actor: &Actor, item: Published) -> Result<u64, RuntimeError> {
        let _ = (actor, item);
        Err(RuntimeError::Unavailable(format!(
            "the {} runtime does not relay perf or compare runs",
            self.name()
        )))
    }

    /// Stop everything this runtime started (instances, routers, faults).
    async fn shutdown(&self);
}

/// Copy a runtime's broadcast events to one subscriber; a lag becomes a
/// `Lagged` event saying how many were lost, and the stream goes on.
pub async fn forward_events(
    mut rx: tokio::sync::broadcast::Receiver<RuntimeEvent>,
    tx: mpsc::Sender<RuntimeEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let ev = tokio::select! {
            _ = tx.closed() => return,
            ev = rx.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(RecvError::Lagged(count)) => RuntimeEvent::Lagged { count },
            Err(RecvError::Closed) => return,
        };
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}

/// Name of the metric series that carries a load test's live numbers
/// (next to the version series of the environment it loads).
pub const LOAD_TEST_SERIES: &str = "load test";

/// Reports of external work, relayed to subscribers as ordinary events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Published {
    /// A pipeline run of an external kind (`perf`, `comparison`); id 0 asks
    /// for a new id, any other id must be one this runtime handed out.
    Run { run: PipelineRun },
    /// One point of a named series of an environment (e.g. [`LOAD_TEST_SERIES`]).
    Metrics {
        env: String,
        series: String,
        point: MetricPoint,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub pipelines: Vec<PipelineRun>,
    pub experiments: Vec<Experiment>,
    pub verdicts: Vec<RecordedVerdict>,
}

/// A verdict as a runtime keeps it, with the rollout step (0-based) it judged,
/// so a console that attaches later shows where the rollout stood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedVerdict {
    pub env: String,
    pub verdict: Verdict,
    /// Last so that an older `[env, verdict]` pair still reads, as step 0.
    #[serde(default)]
    pub step: usize,
}
