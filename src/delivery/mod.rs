//! One rollout controller for every runtime blissful-infra drives itself
//! (the sandbox, Docker). It steps canaries with pauses, analyses each step
//! (router statistics or PromQL, chosen once in `analysis`), rolls back
//! automatically naming the metric, its value and the threshold, runs the
//! blue-green switch behind a smoke check, watches a new version for
//! `rollout.post_promotion_window_secs` after a promotion or a switch, and
//! carries out every intent (promote, pause, resume, abort, retry, undo,
//! switch, restart).
//!
//! A runtime implements `DeliveryBackend` (bring a version up, readiness,
//! traffic weights, analysis samples, retire) and talks to one
//! `DeliveryController` task per environment; it keeps no stepping loop.

pub mod analysis;
pub mod backend;
mod checkpoint;
mod conclude;
mod controller;
mod dedupe;
pub mod drill;
pub mod ids;
mod intents;
pub mod journal;
#[cfg(test)]
mod memory_backend;
mod recover;
mod revert;
mod smoke;
mod stepping;
#[cfg(test)]
mod tests;
pub mod validate;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use analysis::Analyzer;
pub use backend::{DeliveryBackend, Readiness, Report};
pub use view::{RolloutState, RolloutView};

use crate::config::RolloutConfig;
use crate::domain::environment::Version;
use crate::runtime::{ActionAccepted, Actor, Intent, RuntimeError};

/// How often a running rollout is looked at.
const TICK: Duration = Duration::from_millis(250);
const REQUEST_BUFFER: usize = 64;

/// What a controller needs besides its backend.
#[derive(Clone)]
pub struct Settings {
    pub env: String,
    pub rollout: RolloutConfig,
    /// Paths the smoke check requests (the traffic generator's paths).
    pub smoke_paths: Vec<String>,
    pub analyzer: Analyzer,
    /// Where the operation in flight is journalled (`None`: nowhere, tests).
    pub journal: Option<journal::RolloutJournal>,
}

enum Msg {
    Intent {
        actor: Actor,
        intent: Intent,
        promoted_from: Option<String>,
        /// When it was sent: an identical intent still in flight then refuses it.
        arrived: std::time::Instant,
        reply: oneshot::Sender<Result<ActionAccepted, RuntimeError>>,
    },
    Stop {
        reason: String,
        reply: oneshot::Sender<()>,
    },
}

/// The controller task of one environment.
pub struct DeliveryController {
    tx: mpsc::Sender<Msg>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl DeliveryController {
    /// Start the controller of an environment whose `stable` version runs
    /// already (its first revision), and report its view once.
    pub fn spawn(
        backend: Arc<dyn DeliveryBackend>,
        settings: Settings,
        stable: Option<Version>,
        previous: Option<Version>,
    ) -> DeliveryController {
        let (tx, rx) = mpsc::channel(REQUEST_BUFFER);
        let c = controller::Controller::new(backend, settings, stable, previous);
        let task = tokio::spawn(run(c, rx));
        DeliveryController {
            tx,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Carry out `intent`; `promoted_from` names the environment a
    /// promotion comes from (a deploy of its stable version).
    pub async fn intent(
        &self,
        actor: &Actor,
        intent: Intent,
        promoted_from: Option<&str>,
    ) -> Result<ActionAccepted, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Intent {
            actor: actor.clone(),
            intent,
            promoted_from: promoted_from.map(str::to_string),
            arrived: std::time::Instant::now(),
            reply,
        };
        self.tx.send(msg).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Stop the controller: a running operation is cancelled with `reason`
    /// (its canary is kept where it is).
    pub async fn stop(&self, reason: &str) {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Stop {
            reason: reason.to_string(),
            reply,
        };
        if self.tx.send(msg).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl Drop for DeliveryController {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

fn stopped() -> RuntimeError {
    RuntimeError::Unavailable("the delivery controller has stopped".into())
}

async fn run(mut c: controller::Controller, mut rx: mpsc::Receiver<Msg>) {
    c.recover().await;
    c.apply().await;
    let mut recent = dedupe::Recent::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                None => return,
                Some(Msg::Intent { actor, intent, promoted_from, arrived, reply }) => {
                    let from = promoted_from.as_deref();
                    if let Some(refusal) = recent.check(&intent, from, arrived, c.running_id()) {
                        let _ = reply.send(Err(refusal));
                        continue;
                    }
                    let r = c.handle(&actor, intent.clone(), from).await;
                    c.apply().await;
                    recent.record(intent, promoted_from, actor, &r);
                    let _ = reply.send(r);
                }
                Some(Msg::Stop { reason, reply }) => {
                    c.stop_active(&reason).await;
                    c.apply().await;
                    c.note_stop(&reason).await;
                    let _ = reply.send(());
                    return;
                }
            },
            _ = tick.tick() => {
                c.tick().await;
                c.apply().await;
            }
        }
    }
}
