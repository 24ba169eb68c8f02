//! `SandboxRuntime`: the sandbox behind the `Runtime` port.
//!
//! One engine task (`core::Engine`) owns every piece of sandbox state. Public
//! methods send it a `Command` with a oneshot reply; supervisors, metrics
//! samplers and rollout tasks talk to it over their own bounded channels, so
//! no state is shared behind a lock.

mod chaos;
mod controller;
mod core;
mod metrics;
mod state;

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{SandboxError, SandboxOptions};
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
    Deploy {
        actor: Actor,
        env: String,
        version: Version,
        reply: oneshot::Sender<Result<ActionAccepted, RuntimeError>>,
    },
    Promote {
        actor: Actor,
        from: String,
        to: String,
        reply: oneshot::Sender<Result<ActionAccepted, RuntimeError>>,
    },
    Rollback {
        actor: Actor,
        env: String,
        reply: oneshot::Sender<Result<ActionAccepted, RuntimeError>>,
    },
    SwitchTraffic {
        actor: Actor,
        env: String,
        to_canary: bool,
        reply: oneshot::Sender<Result<ActionAccepted, RuntimeError>>,
    },
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
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_BUFFER);
        let engine = core::Engine::start(opts, events.clone(), cmd_rx).await?;
        Ok(Arc::new(SandboxRuntime {
            cmd_tx,
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
}

/// What the sandbox's delivery controller offers today.
fn driven_capabilities() -> Capabilities {
    Capabilities::with(
        DeliveryMode::Driven,
        &[IntentKind::Deploy, IntentKind::Undo, IntentKind::Switch],
        |k| format!("the sandbox's delivery controller has no {} yet", k.name()),
    )
    .with_scenarios(crate::domain::chaos::ScenarioKind::ALL)
}

fn refuse(intent: &Intent) -> RuntimeError {
    match driven_capabilities().check(intent.kind()) {
        Err(reason) => RuntimeError::Refused(reason),
        Ok(()) => RuntimeError::Refused(format!("`{}` is not supported", intent.describe())),
    }
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
        let (actor, env) = (actor.clone(), env.to_string());
        match intent {
            Intent::Deploy { version } => {
                self.request(|reply| Command::Deploy {
                    actor,
                    env,
                    version,
                    reply,
                })
                .await?
            }
            Intent::Undo { to_revision: None } => {
                self.request(|reply| Command::Rollback { actor, env, reply })
                    .await?
            }
            Intent::Switch { to_canary } => {
                self.request(|reply| Command::SwitchTraffic {
                    actor,
                    env,
                    to_canary,
                    reply,
                })
                .await?
            }
            other => Err(refuse(&other)),
        }
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.request(|reply| Command::Promote {
            actor: actor.clone(),
            from: from.to_string(),
            to: to.to_string(),
            reply,
        })
        .await?
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
