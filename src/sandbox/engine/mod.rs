//! `SandboxRuntime`: the sandbox behind the `Runtime` port.
//!
//! One engine task (`core::Engine`) owns every piece of sandbox state. Public
//! methods send it a `Command` with a oneshot reply; supervisors, metrics
//! samplers and rollout tasks talk to it over their own bounded channels, so
//! no state is shared behind a lock. Each environment's rollouts are run by
//! a `delivery::DeliveryController`, which drives the engine through
//! `backend::SandboxBackend`; the runtime sends intents straight to it.

mod backend;
mod chaos;
mod core;
mod instances;
mod metrics;
mod reports;
mod shutdown;
mod state;
mod validate;

use std::collections::BTreeMap;

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{SandboxError, SandboxOptions};
use crate::clock::now_ms;
use crate::delivery::{Analyzer, DeliveryController, Settings};
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::logs::LogLine;
use crate::runtime::{
    ActionAccepted, Actor, Capabilities, DeliveryMode, History, Intent, IntentKind, Published,
    Runtime, RuntimeError, RuntimeEvent,
};

/// Events buffered for slow subscribers before they lag (and are told so).
pub const EVENT_CAPACITY: usize = 8192;
/// Events buffered per subscriber between the broadcast and its receiver.
const SUBSCRIBER_BUFFER: usize = 1024;
const COMMAND_BUFFER: usize = 256;

pub(crate) enum Command {
    Status(oneshot::Sender<Vec<EnvironmentStatus>>),
    Audit(AuditEntry),
    Inject {
        actor: Actor,
        env: String,
        scenario: ScenarioKind,
        params: FaultParams,
        reply: oneshot::Sender<Result<Experiment, RuntimeError>>,
    },
    Undo {
        actor: Actor,
        id: String,
        reply: oneshot::Sender<Result<(), RuntimeError>>,
    },
    RecentLogs {
        env: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Vec<LogLine>>,
    },
    History(oneshot::Sender<History>),
    Publish {
        item: Published,
        reply: oneshot::Sender<Result<u64, RuntimeError>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// The embedded sandbox runtime.
pub struct SandboxRuntime {
    cmd_tx: mpsc::Sender<Command>,
    /// One delivery controller per environment, by name.
    controllers: BTreeMap<String, DeliveryController>,
    read_only: bool,
    events: broadcast::Sender<RuntimeEvent>,
    engine: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SandboxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxRuntime").finish_non_exhaustive()
    }
}

impl SandboxRuntime {
    /// Undo leftovers of a crashed run, start every environment's router,
    /// instances and traffic, and the engine task.
    pub async fn start(opts: SandboxOptions) -> Result<Arc<SandboxRuntime>, SandboxError> {
        // Before anything starts, so a bad setting leaves nothing behind.
        let analyzer = Analyzer::from_config(&opts.config).map_err(SandboxError::Config)?;
        let read_only = opts.read_only;
        let cfg = opts.config.clone();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_BUFFER);
        let (engine, deliveries) = core::Engine::start(opts, events.clone(), cmd_rx).await?;
        let controllers = deliveries
            .into_iter()
            .map(|d| {
                let settings = Settings {
                    env: d.backend.env.to_string(),
                    rollout: cfg.rollout.clone(),
                    smoke_paths: cfg.traffic.paths.clone(),
                    analyzer: analyzer.clone(),
                };
                let name = settings.env.clone();
                let backend = Arc::new(d.backend);
                let c = DeliveryController::spawn(backend, settings, Some(d.stable), None);
                (name, c)
            })
            .collect();
        Ok(Arc::new(SandboxRuntime {
            cmd_tx,
            controllers,
            read_only,
            events,
            engine: std::sync::Mutex::new(Some(engine)),
        }))
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RuntimeError> {
        let (tx, rx) = oneshot::channel();
        self.cmd_tx.send(make(tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }

    fn controller(&self, env: &str) -> Result<&DeliveryController, RuntimeError> {
        self.controllers
            .get(env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))
    }

    /// Write what `actor` asked for and how it went to the audit journal.
    async fn audit(
        &self,
        actor: &Actor,
        env: &str,
        action: &str,
        versions: (Option<Version>, Option<Version>),
        outcome: String,
        detail: String,
    ) {
        let entry = AuditEntry {
            ts: now_ms(),
            user: actor.user.clone(),
            env: env.to_string(),
            action: action.to_string(),
            from_version: versions.0.map(|v| v.0),
            to_version: versions.1.map(|v| v.0),
            outcome,
            detail,
        };
        // A stopped engine has no journal left to write to.
        let _ = self.cmd_tx.send(Command::Audit(entry)).await;
    }

    async fn stable_of(&self, env: &str) -> Option<Version> {
        let all = self.request(Command::Status).await.ok()?;
        all.into_iter()
            .find(|s| s.name == env)
            .and_then(|s| s.traffic.stable)
    }
}

/// The audit journal's name for an intent (kept from before intents).
fn audit_action(intent: &Intent) -> &'static str {
    match intent {
        Intent::Undo { .. } => "rollback",
        Intent::Switch { .. } => "switch_traffic",
        other => other.kind().name(),
    }
}

fn outcome_of<T>(r: &Result<T, RuntimeError>) -> String {
    match r {
        Ok(_) => "accepted".to_string(),
        Err(e) => format!("refused: {e}"),
    }
}

/// The delivery controller carries out every intent.
fn driven_capabilities() -> Capabilities {
    Capabilities::with(DeliveryMode::Driven, &IntentKind::ALL, |k| {
        format!("the sandbox does not offer {}", k.name())
    })
}

fn stopped() -> RuntimeError {
    RuntimeError::Unavailable("the sandbox engine has stopped".into())
}

#[async_trait]
impl Runtime for SandboxRuntime {
    fn name(&self) -> &str {
        "sandbox"
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.request(Command::Status).await
    }

    fn capabilities(&self) -> Capabilities {
        driven_capabilities()
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        let action = audit_action(&intent);
        let detail = format!("{} via {}", intent.describe(), actor.via);
        let before = self.stable_of(env).await;
        let r = if self.read_only {
            Err(RuntimeError::ReadOnly(action.to_string()))
        } else {
            match self.controller(env) {
                Ok(c) => c.intent(actor, intent.clone(), None).await,
                Err(e) => Err(e),
            }
        };
        let versions = match (&r, &intent) {
            (Ok(a), _) => (a.from_version.clone(), a.to_version.clone()),
            (Err(_), Intent::Deploy { version }) => (before, Some(version.clone())),
            (Err(_), _) => (before, None),
        };
        self.audit(actor, env, action, versions, outcome_of(&r), detail)
            .await;
        r
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        let source = self.stable_of(from).await;
        let current = self.stable_of(to).await;
        let r = match (self.read_only, self.controllers.contains_key(from), &source) {
            (true, _, _) => Err(RuntimeError::ReadOnly("promote".into())),
            (false, false, _) => Err(RuntimeError::UnknownEnvironment(from.to_string())),
            (false, true, None) => Err(RuntimeError::Refused(format!(
                "{from} has no stable version to promote"
            ))),
            (false, true, Some(_)) if from == to => Err(RuntimeError::Refused(
                "cannot promote an environment to itself".into(),
            )),
            (false, true, Some(v)) => match self.controller(to) {
                Ok(c) => {
                    let deploy = Intent::Deploy { version: v.clone() };
                    c.intent(actor, deploy, Some(from)).await
                }
                Err(e) => Err(e),
            },
        };
        let detail = format!("from {from} via {}", actor.via);
        self.audit(
            actor,
            to,
            "promote",
            (current, source),
            outcome_of(&r),
            detail,
        )
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
        self.request(|reply| Command::Inject {
            actor: actor.clone(),
            env: env.to_string(),
            scenario,
            params,
            reply,
        })
        .await?
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        self.request(|reply| Command::Undo {
            actor: actor.clone(),
            id: experiment_id.to_string(),
            reply,
        })
        .await?
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.request(|reply| Command::RecentLogs {
            env: env.map(str::to_string),
            limit,
            reply,
        })
        .await
    }

    async fn publish(&self, _actor: &Actor, item: Published) -> Result<u64, RuntimeError> {
        self.request(|reply| Command::Publish { item, reply })
            .await?
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.request(Command::History).await
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        if self.cmd_tx.is_closed() {
            return Err(stopped());
        }
        let rx = self.events.subscribe();
        let (tx, out) = mpsc::channel(SUBSCRIBER_BUFFER);
        tokio::spawn(crate::runtime::forward_events(rx, tx));
        Ok(out)
    }

    async fn shutdown(&self) {
        for c in self.controllers.values() {
            c.stop("sandbox shut down").await;
        }
        // An engine that is already gone has nothing left to stop.
        let _ = self.request(Command::Shutdown).await;
        let handle = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::SourceState;

    fn ev(n: usize) -> RuntimeEvent {
        RuntimeEvent::Source {
            name: format!("e{n}"),
            state: SourceState::Ok,
        }
    }

    #[test]
    fn audit_outcome_says_accepted_or_why_refused() {
        let ok: Result<(), RuntimeError> = Ok(());
        assert_eq!(outcome_of(&ok), "accepted");
        let ro: Result<(), RuntimeError> = Err(RuntimeError::ReadOnly("deploy".into()));
        assert_eq!(
            outcome_of(&ro),
            "refused: read-only mode: deploy is not allowed"
        );
    }

    #[test]
    fn every_intent_is_offered_and_audited_under_its_old_name() {
        let caps = driven_capabilities();
        assert!(IntentKind::ALL.iter().all(|k| caps.supports(*k)));
        assert_eq!(
            audit_action(&Intent::Undo {
                to_revision: Some(2)
            }),
            "rollback"
        );
        assert_eq!(
            audit_action(&Intent::Switch { to_canary: true }),
            "switch_traffic"
        );
        assert_eq!(audit_action(&Intent::Pause), "pause");
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_much_it_lost() {
        let (btx, brx) = broadcast::channel(4);
        // Overflow the broadcast before the forwarder reads anything.
        for n in 0..10 {
            btx.send(ev(n)).unwrap();
        }
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(crate::runtime::forward_events(brx, tx));
        assert_eq!(rx.recv().await, Some(RuntimeEvent::Lagged { count: 6 }));
        for n in 6..10 {
            assert_eq!(rx.recv().await, Some(ev(n)));
        }
        drop(btx);
        assert_eq!(rx.recv().await, None);
        task.await.unwrap();
    }
}
