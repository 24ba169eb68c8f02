//! The controller's state for one environment, and how it is published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{DeliveryBackend, Report};
use super::drill::{self, Moment};
use super::view::{RolloutState, RolloutView};
use super::Settings;
use crate::clock::now_ms;
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineRun, StageStatus};
use crate::runtime::{RolloutOutcome, RuntimeError};

/// Pipeline progress is republished about this often while waiting.
pub(super) const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The operation a controller is running, if any.
pub(super) enum Active {
    Rollout(Rollout),
    Undo(Undo),
    /// A blue-green switch being watched.
    Switched(Switched),
}

pub(super) struct Rollout {
    pub run: PipelineRun,
    pub canary: Version,
    pub user: String,
    pub stage: Stage,
    pub paused: bool,
    /// `promote --full` arrived while the canary was starting: who asked,
    /// applied as soon as its instances are ready (as Argo Rollouts does).
    pub promote_full_when_ready: Option<String>,
    pub last_publish: Instant,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Stage {
    /// Waiting for the canary's instances.
    Starting { since: Instant },
    Step {
        index: usize,
        started: Instant,
        hold_until: Instant,
        extensions: u32,
    },
    /// All traffic on the canary; the old stable still runs until the
    /// window passes.
    Watch { started: Instant, until: Instant },
}

pub(super) struct Undo {
    pub run: PipelineRun,
    pub current: Version,
    pub target: Version,
    pub since: Instant,
    pub user: String,
}

pub(super) struct Switched {
    pub run: PipelineRun,
    pub canary: Version,
    pub started: Instant,
    pub until: Instant,
    pub user: String,
}

/// A rollout someone aborted: what `retry` starts again.
pub(super) struct Aborted {
    pub version: Version,
    pub reason: String,
}

pub(super) struct Controller {
    pub backend: Arc<dyn DeliveryBackend>,
    pub s: Settings,
    pub view: RolloutView,
    pub active: Option<Active>,
    pub aborted: Option<Aborted>,
    /// The view as last given to the backend.
    reported: Option<RolloutView>,
    /// The rollout journal's record as last written (`checkpoint.rs`).
    pub journaled: Option<super::journal::InFlight>,
    /// A change the journal could not record: why; rolled back next tick.
    pub blocked: Option<String>,
    /// An operation that was ending when its change was refused.
    pub parked: Option<Active>,
}

impl Controller {
    pub fn new(
        backend: Arc<dyn DeliveryBackend>,
        s: Settings,
        stable: Option<Version>,
        previous: Option<Version>,
    ) -> Controller {
        let mut view = RolloutView {
            stable: stable.clone(),
            previous,
            ..Default::default()
        };
        if let Some(v) = &stable {
            view.push_revision(v);
        }
        Controller {
            backend,
            s,
            view,
            active: None,
            aborted: None,
            reported: None,
            journaled: None,
            blocked: None,
            parked: None,
        }
    }

    /// The view as last given to the backend.
    pub fn reported(&self) -> Option<&RolloutView> {
        self.reported.as_ref()
    }

    pub fn env(&self) -> &str {
        &self.s.env
    }

    /// Id of the pipeline of the running operation.
    pub fn running_id(&self) -> Option<u64> {
        self.active.as_ref().map(|a| match a {
            Active::Rollout(r) => r.run.id,
            Active::Undo(u) => u.run.id,
            Active::Switched(w) => w.run.id,
        })
    }

    fn state(&self) -> RolloutState {
        let total = self.s.rollout.steps.len();
        match &self.active {
            Some(Active::Rollout(r)) => {
                let c = &r.canary;
                let w = self.view.weight;
                let at = match r.stage {
                    Stage::Starting { .. } if self.view.stable.is_none() => format!("starting {c}"),
                    Stage::Starting { .. } => format!("starting canary {c}"),
                    Stage::Step { index, .. } => {
                        format!("canary {c} {w}% (step {}/{total})", index + 1)
                    }
                    Stage::Watch { .. } => format!("watching {c} after promotion"),
                };
                if r.paused {
                    RolloutState::Paused(format!("{at}, paused by {}", r.user))
                } else {
                    RolloutState::Progressing(at)
                }
            }
            Some(Active::Undo(u)) => {
                RolloutState::Progressing(format!("rolling back to {}", u.target))
            }
            Some(Active::Switched(w)) => RolloutState::Progressing(format!(
                "blue/green: watching {} after the switch",
                w.canary
            )),
            None => match (&self.aborted, &self.view.canary) {
                (Some(a), _) => RolloutState::Aborted(a.reason.clone()),
                (None, Some(c)) => RolloutState::Progressing(format!(
                    "canary {c} held at {}% (blue/green)",
                    self.view.weight
                )),
                (None, None) => RolloutState::Idle,
            },
        }
    }

    /// Give the backend the current traffic split and view, when they
    /// changed; a new split is journalled before and after (`checkpoint.rs`).
    pub async fn apply(&mut self) {
        self.view.state = self.state();
        if self.reported.as_ref() == Some(&self.view) {
            return;
        }
        let traffic_changed = self
            .reported
            .as_ref()
            .is_none_or(|r| r.split() != self.view.split());
        if traffic_changed && !self.journal_before_traffic().await {
            return;
        }
        let point = drill::point(self.reported.as_ref(), &self.view);
        if traffic_changed {
            drill::maybe_kill(&point, Moment::BeforeWeight);
            if let Err(e) = self.backend.set_traffic(&self.view.split()).await {
                let text = format!("could not set the traffic split: {e}");
                self.log(Level::Error, text).await;
            }
        }
        self.backend.report(Report::View(self.view.clone())).await;
        self.reported = Some(self.view.clone());
        if traffic_changed {
            drill::maybe_kill(&point, Moment::AfterWeight);
            self.journal_after_traffic().await;
        }
    }

    pub async fn log(&self, level: Level, text: String) {
        self.backend.report(Report::Log { level, text }).await;
    }

    pub async fn publish(&self, run: &PipelineRun) {
        self.backend.report(Report::Pipeline(run.clone())).await;
    }

    /// A version that could not be started fails the run at its first
    /// stage; the error returned says which version and why.
    pub async fn fail_start(
        &self,
        run: &mut PipelineRun,
        version: &Version,
        e: impl std::fmt::Display,
    ) -> RuntimeError {
        let reason = format!("could not start {version}: {e}");
        run.finish_stage(
            0,
            StageStatus::Failed(reason.clone()),
            reason.clone(),
            now_ms(),
        );
        run.finish(StageStatus::Failed(reason.clone()), now_ms());
        self.publish(run).await;
        RuntimeError::Failed(reason)
    }

    pub async fn finished(&self, pipeline_id: u64, outcome: RolloutOutcome, user: &str) {
        self.backend
            .report(Report::Finished {
                pipeline_id,
                outcome,
                requested_by: user.to_string(),
            })
            .await;
    }

    /// Retire `version` unless it is the stable one; problems are logged.
    pub async fn retire(&self, version: &Version) -> Option<String> {
        if self.view.stable.as_ref() == Some(version) {
            return None;
        }
        match self.backend.retire(version).await {
            Ok(()) => None,
            Err(e) => {
                let text = format!("removing {version}: {e}");
                self.log(Level::Error, text.clone()).await;
                Some(text)
            }
        }
    }

    /// Cancel the running operation with `reason`, keeping a canary where
    /// it is. Returns the cancelled pipeline's id.
    pub async fn stop_active(&mut self, reason: &str) -> Option<u64> {
        let active = self.active.take()?;
        let now = now_ms();
        let (mut run, user) = match active {
            Active::Rollout(r) => (r.run, r.user),
            Active::Switched(w) => (w.run, w.user),
            Active::Undo(u) => {
                // The target never got traffic: take it away again.
                let _ = self.retire(&u.target).await;
                (u.run, u.user)
            }
        };
        self.view.step = None;
        run.cancel(reason, now);
        self.publish(&run).await;
        let outcome = RolloutOutcome::Aborted {
            reason: reason.to_string(),
        };
        self.finished(run.id, outcome, &user).await;
        Some(run.id)
    }

    /// A finished one-off pipeline (switch, canary removal, restart).
    pub fn instant_run(
        &self,
        kind: crate::domain::pipeline::PipelineKind,
        title: &str,
        stages: &[(&str, String)],
    ) -> PipelineRun {
        let id = self.backend.next_pipeline_id();
        let now = now_ms();
        let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
        let mut run = PipelineRun::new(id, kind, self.env(), title, &names, now);
        for (n, (_, detail)) in stages.iter().enumerate() {
            run.finish_stage(
                n,
                crate::domain::pipeline::StageStatus::Succeeded,
                detail.clone(),
                now,
            );
        }
        run.finish(crate::domain::pipeline::StageStatus::Succeeded, now);
        run
    }
}
