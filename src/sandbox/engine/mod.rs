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
pub use chaos::scenario_support;
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
use crate::delivery::journal::RolloutJournal;
use crate::delivery::{Analyzer, DeliveryController, Settings};
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
        let cfg = opts.config.clone();
        let state = opts.state.clone();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_BUFFER);
        let (engine, deliveries) = core::Engine::start(opts, events.clone(), cmd_rx).await?;
        let controllers = deliveries
            .into_iter()
            .map(|d| {
                let env = d.backend.env.to_string();
                let journal =
                    RolloutJournal::new(state.rollout_journal(&env), state.audit_journal());
                let settings = Settings {
                    env,
                    rollout: cfg.rollout.clone(),
                    smoke_paths: cfg.traffic.paths.clone(),
                    analyzer: analyzer.clone(),
                    journal: Some(journal),
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

    async fn stable_of(&self, env: &str) -> Option<Version> {
        let all = self.request(Command::Status).await.ok()?;
        all.into_iter()
            .find(|s| s.name == env)
            .and_then(|s| s.traffic.stable)
    }
}

/// The delivery controller carries out every intent.
fn driven_capabilities() -> Capabilities {
    let mut caps = Capabilities::with(DeliveryMode::Driven, &IntentKind::ALL, |k| {
        format!("the sandbox does not offer {}", k.name())
    });
    caps.scenarios = chaos::scenario_support();
    caps
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
        self.controller(env)?.intent(actor, intent, None).await
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        if !self.controllers.contains_key(from) {
            return Err(RuntimeError::UnknownEnvironment(from.to_string()));
        }
        let Some(version) = self.stable_of(from).await else {
            return Err(RuntimeError::Refused(format!(
                "{from} has no stable version to promote"
            )));
        };
        if from == to {
            return Err(RuntimeError::Refused(
                "cannot promote an environment to itself".into(),
            ));
        }
        let deploy = Intent::Deploy { version };
        self.controller(to)?.intent(actor, deploy, Some(from)).await
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
    fn every_intent_and_every_sandbox_scenario_is_offered() {
        let caps = driven_capabilities();
        assert!(IntentKind::ALL.iter().all(|k| caps.supports(*k)));
        assert!(!caps.scenarios.is_empty());
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
