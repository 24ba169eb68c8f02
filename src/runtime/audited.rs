//! A decorator that writes every change asked of a runtime to the audit
//! journal: who, which environment and what, as a `requested` entry before
//! the change reaches the runtime, then how it ended (`accepted`, or
//! `refused: <why>`). A change whose `requested` entry cannot be written
//! (a full disk, a read-only state directory) is refused and never reaches
//! the runtime: nothing destructive happens unaudited. It also writes the outcome of every rollout the
//! runtime's controller finishes (user `controller`), read from the
//! runtime's own events. Whoever owns a runtime wraps it once, so every
//! client (console, CLI over the socket) is audited exactly once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::audit_log::AuditLog;
use super::audit_watch::{merge_notices, watch_outcomes};
use super::{
    ActionAccepted, Actor, Capabilities, History, Intent, Published, Runtime, RuntimeError,
    RuntimeEvent,
};
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::logs::LogLine;

/// How long shutdown waits for the last rollout outcomes to be journalled.
const DRAIN: Duration = Duration::from_millis(300);
/// The outcome of the entry written before a change is made.
pub const REQUESTED: &str = "requested";

pub struct Audited<R: ?Sized> {
    inner: Arc<R>,
    log: AuditLog,
    /// Errors of the audit writer, merged into every subscriber's stream.
    notices: broadcast::Sender<RuntimeEvent>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The journal's name for an intent. A rollout undo is `rollback` so it is
/// never mistaken for undoing a fault (`undo`).
pub fn audit_action(intent: &Intent) -> &'static str {
    match intent {
        Intent::Undo { .. } => "rollback",
        Intent::Switch { .. } => "switch_traffic",
        other => other.kind().name(),
    }
}

/// Intents that only take traffic back toward the stable version or hold a
/// rollout: they go ahead even when the audit journal cannot be written,
/// because refusing them during an incident would do more harm.
fn stops_harm(intent: &Intent) -> bool {
    matches!(
        intent,
        Intent::Pause
            | Intent::Abort { .. }
            | Intent::Undo { .. }
            | Intent::Switch { to_canary: false }
    )
}

fn outcome_of<T>(r: &Result<T, RuntimeError>) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => e.refusal(),
    }
}

fn version(v: Option<&Version>) -> Option<String> {
    v.map(|v| v.0.clone())
}

impl<R: Runtime + ?Sized + 'static> Audited<R> {
    /// Wrap `inner`, appending to the journal at `path`. Subscribes to the
    /// runtime's events first so no controller outcome is missed.
    pub async fn start(inner: Arc<R>, path: PathBuf) -> Self {
        let (notices, _) = broadcast::channel(64);
        let (log, writer) = AuditLog::start(path, notices.clone());
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![writer];
        match inner.subscribe().await {
            Ok(events) => tasks.push(tokio::spawn(watch_outcomes(
                events,
                log.clone(),
                notices.clone(),
                stop_rx,
            ))),
            Err(e) => super::audit_watch::notice(
                &notices,
                format!("audit: cannot follow the runtime's rollouts ({e}); their outcomes are not journalled"),
            ),
        }
        Audited {
            inner,
            log,
            notices,
            stop,
            tasks: Mutex::new(tasks),
        }
    }

    async fn write(&self, entry: AuditEntry) {
        if let Err(e) = self.log.append(entry).await {
            super::audit_watch::notice(&self.notices, e.to_string());
        }
    }

    /// Journal the change before it is made; refuse it when that fails,
    /// unless it `stops_harm` (then it goes ahead and the lost entry is
    /// reported as an error).
    async fn ahead(
        &self,
        actor: &Actor,
        env: &str,
        (action, stops_harm): (&str, bool),
        to_version: Option<&Version>,
        detail: &str,
    ) -> Result<(), RuntimeError> {
        let entry = AuditEntry {
            ts: crate::clock::now_ms(),
            user: actor.user.clone(),
            env: env.to_string(),
            action: action.to_string(),
            from_version: None,
            to_version: version(to_version),
            outcome: REQUESTED.into(),
            detail: detail.to_string(),
        };
        match self.log.write_ahead(entry).await {
            Ok(()) => Ok(()),
            Err(e) if stops_harm => {
                let text = format!("{e}; {action} on {env} goes ahead unaudited (it stops harm)");
                super::audit_watch::notice(&self.notices, text);
                Ok(())
            }
            Err(e) => Err(RuntimeError::Refused(format!(
                "{action} on {env} was not made because it cannot be audited: {e}"
            ))),
        }
    }

    async fn record_action(
        &self,
        actor: &Actor,
        env: &str,
        action: &str,
        r: &Result<ActionAccepted, RuntimeError>,
        asked_for: Option<&Version>,
        detail: String,
    ) {
        // A refused deploy still names the version that was asked for.
        let (from, to) = match r {
            Ok(a) => (
                version(a.from_version.as_ref()),
                version(a.to_version.as_ref()),
            ),
            Err(_) => (None, version(asked_for)),
        };
        self.write(AuditEntry {
            ts: crate::clock::now_ms(),
            user: actor.user.clone(),
            env: env.to_string(),
            action: action.to_string(),
            from_version: from,
            to_version: to,
            outcome: outcome_of(r),
            detail,
        })
        .await;
    }

    /// Wait until every entry so far is written (tests read the file after).
    pub async fn flush(&self) {
        self.log.flush().await;
    }
}

#[async_trait]
impl<R: Runtime + ?Sized + 'static> Runtime for Audited<R> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.inner.status().await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        let action = audit_action(&intent);
        let detail = format!("{} via {}", intent.describe(), actor.via);
        let asked_for = match &intent {
            Intent::Deploy { version } => Some(version.clone()),
            _ => None,
        };
        self.ahead(
            actor,
            env,
            (action, stops_harm(&intent)),
            asked_for.as_ref(),
            &detail,
        )
        .await?;
        let r = self.inner.intent(actor, env, intent).await;
        self.record_action(actor, env, action, &r, asked_for.as_ref(), detail)
            .await;
        r
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        let detail = format!("from {from} via {}", actor.via);
        self.ahead(actor, to, ("promote", false), None, &detail)
            .await?;
        let r = self.inner.promote(actor, from, to).await;
        self.record_action(actor, to, "promote", &r, None, detail)
            .await;
        r
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        let detail = format!(
            "{scenario}: duration {}s, latency {}ms, rate {}, cpu workers {} via {}",
            params.duration_secs, params.latency_ms, params.rate, params.cpu_workers, actor.via
        );
        let action = format!("chaos {scenario}");
        self.ahead(actor, env, (&action, false), None, &detail)
            .await?;
        let r = self.inner.inject(actor, env, scenario, params).await;
        let outcome = match &r {
            Ok(x) => format!("accepted: experiment {}", x.id),
            Err(e) => e.refusal(),
        };
        self.write(AuditEntry {
            ts: crate::clock::now_ms(),
            user: actor.user.clone(),
            env: env.to_string(),
            action,
            from_version: None,
            to_version: None,
            outcome,
            detail,
        })
        .await;
        r
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        // The environment is the experiment's, as the runtime last reported it.
        let env = match self.inner.history().await {
            Ok(h) => h
                .experiments
                .iter()
                .find(|x| x.id == experiment_id)
                .map(|x| x.env.clone()),
            Err(_) => None,
        }
        .unwrap_or_else(|| "-".into());
        let detail = format!("experiment {experiment_id} via {}", actor.via);
        self.ahead(actor, &env, ("undo", true), None, &detail)
            .await?;
        let r = self.inner.undo(actor, experiment_id).await;
        self.write(AuditEntry {
            ts: crate::clock::now_ms(),
            user: actor.user.clone(),
            env,
            action: "undo".into(),
            from_version: None,
            to_version: None,
            outcome: outcome_of(&r),
            detail,
        })
        .await;
        r
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.inner.recent_logs(env, limit).await
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.inner.history().await
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let events = self.inner.subscribe().await?;
        Ok(merge_notices(events, self.notices.subscribe()))
    }

    async fn publish(&self, actor: &Actor, item: Published) -> Result<u64, RuntimeError> {
        self.inner.publish(actor, item).await
    }

    /// Stop the runtime, then journal the outcomes it reported on the way
    /// down, then stop the writer.
    async fn shutdown(&self) {
        self.inner.shutdown().await;
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let mut tasks = tasks.into_iter();
        let writer = tasks.next();
        for t in tasks {
            let _ = tokio::time::timeout(DRAIN, t).await;
        }
        self.log.flush().await;
        if let Some(w) = writer {
            w.abort();
        }
    }
}

#[cfg(test)]
mod tests;
