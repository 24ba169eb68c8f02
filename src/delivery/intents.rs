//! Intents that start, skip, hold and stop a canary rollout.

use std::time::{Duration, Instant};

use super::controller::{Aborted, Active, Controller, Rollout, Stage};
use super::journal::Operation;
use super::validate::{tidy_reason, validate_version};
use crate::clock::now_ms;
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::rollout::{check_deploy, rollout_stages};
use crate::runtime::{ActionAccepted, Actor, Intent, RolloutOutcome, RuntimeError};

fn refused(text: impl Into<String>) -> RuntimeError {
    RuntimeError::Refused(text.into())
}

impl Controller {
    pub async fn handle(
        &mut self,
        actor: &Actor,
        intent: Intent,
        promoted_from: Option<&str>,
    ) -> Result<ActionAccepted, RuntimeError> {
        match intent {
            Intent::Deploy { version } => self.deploy(actor, version, promoted_from).await,
            Intent::Promote { full } => self.promote(actor, full).await,
            Intent::Pause => self.pause(actor).await,
            Intent::Resume => self.resume(actor).await,
            Intent::Abort { reason } => self.abort(actor, &reason).await,
            Intent::Retry => self.retry(actor).await,
            Intent::Undo { to_revision } => self.undo(actor, to_revision).await,
            Intent::Switch { to_canary } => self.switch(actor, to_canary).await,
            Intent::Restart => self.restart(actor).await,
        }
    }

    pub fn accepted(
        &self,
        id: u64,
        from: Option<Version>,
        to: Option<Version>,
        text: String,
    ) -> ActionAccepted {
        ActionAccepted {
            pipeline_id: id,
            env: self.env().to_string(),
            from_version: from,
            to_version: to,
            message: text,
        }
    }

    async fn deploy(
        &mut self,
        actor: &Actor,
        version: Version,
        promoted_from: Option<&str>,
    ) -> Result<ActionAccepted, RuntimeError> {
        validate_version(&version)?;
        check_deploy(
            self.env(),
            self.running_id(),
            self.view.stable.as_ref(),
            self.view.canary.as_ref(),
            &version,
        )
        .map_err(RuntimeError::Refused)?;
        self.start_rollout(&actor.user, version, promoted_from)
            .await
    }

    /// Start a canary rollout of `version` (a plain start when nothing is stable).
    pub async fn start_rollout(
        &mut self,
        user: &str,
        version: Version,
        promoted_from: Option<&str>,
    ) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let stable = self.view.stable.clone();
        let id = self.backend.next_pipeline_id();
        let stages = rollout_stages(&self.s.rollout.steps, &version, stable.is_some());
        let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
        let (kind, title) = match promoted_from {
            Some(from) => (
                PipelineKind::Promotion,
                format!("promote {version} from {from} to {env}"),
            ),
            None => (PipelineKind::Rollout, format!("deploy {version} to {env}")),
        };
        let mut run = PipelineRun::new(id, kind, &env, &title, &refs, now_ms());
        run.start_stage(0, now_ms());
        // Write-ahead: nothing starts unless the journal knows of it.
        let journalled = self
            .journal_start(Operation::Rollout, &version, (id, user))
            .await;
        if let Err(e) = journalled {
            run.finish(StageStatus::Failed(e.to_string()), now_ms());
            self.publish(&run).await;
            return Err(e);
        }
        self.aborted = None;
        if self.view.canary.as_ref() != Some(&version) {
            self.view.canary = Some(version.clone());
            self.view.weight = 0;
        }
        self.view.step = None;
        self.publish(&run).await;
        if let Err(e) = self.backend.bring_up(&version).await {
            let error = self.fail_start(&mut run, &version, e).await;
            self.view.canary = None;
            self.view.weight = 0;
            let _ = self.retire(&version).await;
            return Err(error);
        }
        self.active = Some(Active::Rollout(Rollout {
            run,
            canary: version.clone(),
            user: user.to_string(),
            stage: Stage::Starting {
                since: Instant::now(),
            },
            paused: false,
            promote_full_when_ready: None,
            last_publish: Instant::now(),
        }));
        let text = format!("{title} (pipeline #{id}) requested by {user}");
        self.log(Level::Info, text.clone()).await;
        Ok(self.accepted(id, stable, Some(version), text))
    }

    async fn promote(&mut self, actor: &Actor, full: bool) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let Some(active) = self.active.take() else {
            return self.promote_held(actor, full).await;
        };
        let mut r = match active {
            Active::Rollout(r) => r,
            Active::Switched(mut w) if full => {
                // Promoting during the watch after a switch accepts the new
                // version now; the promotion's own watch follows.
                let now = now_ms();
                let by = format!("promoted by {}", actor.user);
                w.run.finish_stage(2, StageStatus::Skipped, by, now);
                w.run.finish(StageStatus::Succeeded, now);
                self.publish(&w.run).await;
                return self.promote_held(actor, full).await;
            }
            other => {
                self.active = Some(other);
                return Err(refused(format!(
                    "{env} has no canary rollout to promote (a rollback or switch is running)"
                )));
            }
        };
        let by = format!("promoted by {}", actor.user);
        let now = now_ms();
        let result = match r.stage {
            Stage::Starting { .. } if full => {
                r.promote_full_when_ready = Some(by.clone());
                Ok(())
            }
            Stage::Starting { .. } => Err(refused(format!(
                "canary {} is not ready yet; promote once its instances are, or promote --full now",
                r.canary
            ))),
            Stage::Step { index, .. } if !full => {
                r.run.finish_stage(index + 1, StageStatus::Succeeded, by.clone(), now);
                if index + 1 < self.s.rollout.steps.len() {
                    self.enter_step(&mut r, index + 1);
                } else {
                    self.enter_watch(&mut r);
                }
                Ok(())
            }
            Stage::Step { .. } => {
                self.skip_to_watch(&mut r, &by);
                Ok(())
            }
            Stage::Watch { .. } if full => {
                // Skip the rest of the watch: it is stable now.
                r.stage = Stage::Watch {
                    started: Instant::now(),
                    until: Instant::now(),
                };
                Ok(())
            }
            Stage::Watch { .. } => Err(refused(format!(
                "{} already gets all traffic and is being watched; use promote --full to end the watch",
                r.canary
            ))),
        };
        r.paused = false;
        let (id, canary) = (r.run.id, r.canary.clone());
        let queued = r.promote_full_when_ready.is_some();
        self.publish(&r.run).await;
        self.active = Some(Active::Rollout(r));
        result?;
        let what = match (full, queued) {
            (true, true) => "promote --full (once its instances are ready)",
            (true, false) => "promote --full",
            _ => "promote",
        };
        let text = format!(
            "{what} {canary} in {env} (pipeline #{id}) by {}",
            actor.user
        );
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(id, self.view.stable.clone(), Some(canary), text))
    }

    /// `promote --full` of a canary held after a blue-green switch.
    async fn promote_held(
        &mut self,
        actor: &Actor,
        full: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let Some(canary) = self.view.canary.clone() else {
            return Err(refused(format!(
                "{env} has no canary to promote (deploy a version first)"
            )));
        };
        if !full {
            return Err(refused(format!(
                "canary {canary} in {env} is held, not stepping; use promote --full to make it stable"
            )));
        }
        if self.backend.readiness(&canary).await.ready == 0 {
            return Err(refused(format!(
                "canary {canary} has no ready instance yet"
            )));
        }
        let id = self.backend.next_pipeline_id();
        let title = format!("promote {canary} in {env}");
        let mut run = PipelineRun::new(
            id,
            PipelineKind::Promotion,
            &env,
            &title,
            &["promote"],
            now_ms(),
        );
        run.start_stage(0, now_ms());
        let mut r = Rollout {
            run,
            canary: canary.clone(),
            user: actor.user.clone(),
            stage: Stage::Starting {
                since: Instant::now(),
            },
            paused: false,
            promote_full_when_ready: None,
            last_publish: Instant::now(),
        };
        self.enter_watch(&mut r);
        self.publish(&r.run).await;
        self.active = Some(Active::Rollout(r));
        let text = format!(
            "promote --full {canary} in {env} (pipeline #{id}) by {}",
            actor.user
        );
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(id, self.view.stable.clone(), Some(canary), text))
    }

    /// Set step `index`'s weight and start its pause and analysis window.
    pub fn enter_step(&mut self, r: &mut Rollout, index: usize) {
        let plan = &self.s.rollout.steps;
        let Some(step) = plan.steps.get(index) else {
            return;
        };
        self.view.weight = step.weight;
        self.view.step = Some((index, plan.len()));
        r.run.start_stage(index + 1, now_ms());
        self.backend.reset_analysis();
        let now = Instant::now();
        r.stage = Stage::Step {
            index,
            started: now,
            hold_until: now + Duration::from_secs(step.pause_secs),
            extensions: 0,
        };
    }

    /// All traffic to the canary and watch it for the post-promotion window.
    /// `promote --full`: every step left is skipped, naming who skipped it,
    /// and the canary gets all traffic under the post-promotion watch.
    pub fn skip_to_watch(&mut self, r: &mut Rollout, by: &str) {
        let now = now_ms();
        for st in r.run.stages.iter_mut().skip(1) {
            if !st.status.is_finished() && st.name != "promote" {
                st.status = StageStatus::Skipped;
                st.detail = by.to_string();
                st.finished_at = Some(now);
            }
        }
        self.enter_watch(r);
    }

    pub fn enter_watch(&mut self, r: &mut Rollout) {
        self.view.weight = 100;
        self.view.step = None;
        let last = r.run.stages.len().saturating_sub(1);
        r.run.start_stage(last, now_ms());
        self.backend.reset_analysis();
        let now = Instant::now();
        r.stage = Stage::Watch {
            started: now,
            until: now + Duration::from_secs(self.s.rollout.post_promotion_window_secs),
        };
    }

    fn rollout_mut(&mut self) -> Result<&mut Rollout, RuntimeError> {
        let env = self.s.env.clone();
        match self.active.as_mut() {
            Some(Active::Rollout(r)) => Ok(r),
            _ => Err(refused(format!("{env} has no canary rollout in progress"))),
        }
    }

    async fn pause(&mut self, actor: &Actor) -> Result<ActionAccepted, RuntimeError> {
        let r = self.rollout_mut()?;
        if r.paused {
            return Err(refused(format!("pipeline #{} is already paused", r.run.id)));
        }
        if matches!(r.stage, Stage::Watch { .. }) {
            return Err(refused(format!(
                "{} already gets all traffic; promote --full or abort instead",
                r.canary
            )));
        }
        r.paused = true;
        r.user = actor.user.clone();
        let (id, canary) = (r.run.id, r.canary.clone());
        let text = format!("pipeline #{id} paused by {}", actor.user);
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(id, self.view.stable.clone(), Some(canary), text))
    }

    async fn resume(&mut self, actor: &Actor) -> Result<ActionAccepted, RuntimeError> {
        let r = self.rollout_mut()?;
        if !r.paused {
            return Err(refused(format!("pipeline #{} is not paused", r.run.id)));
        }
        r.paused = false;
        if let Stage::Step { hold_until, .. } = &mut r.stage {
            *hold_until = (*hold_until).max(Instant::now());
        }
        let (id, canary) = (r.run.id, r.canary.clone());
        let text = format!("pipeline #{id} resumed by {}", actor.user);
        self.log(Level::Info, text.clone()).await;
        Ok(self.accepted(id, self.view.stable.clone(), Some(canary), text))
    }

    async fn abort(&mut self, actor: &Actor, reason: &str) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let reason = tidy_reason(reason);
        let canary = match &self.active {
            Some(Active::Rollout(r)) => r.canary.clone(),
            Some(Active::Switched(w)) => w.canary.clone(),
            Some(Active::Undo(u)) => {
                return Err(refused(format!(
                    "pipeline #{} is rolling {env} back; it cannot be aborted",
                    u.run.id
                )))
            }
            None => match &self.view.canary {
                Some(c) => c.clone(),
                None => return Err(refused(format!("{env} has no rollout to abort"))),
            },
        };
        let why = format!("aborted by {}: {reason}", actor.user);
        let cancelled = self.stop_active(&why).await;
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.apply().await;
        let _ = self.retire(&canary).await;
        self.aborted = Some(Aborted {
            version: canary.clone(),
            reason: reason.clone(),
        });
        let id = match cancelled {
            Some(id) => id,
            None => {
                let run = self.instant_run(
                    PipelineKind::Rollback,
                    &format!("abort canary {canary} in {env}"),
                    &[("remove canary", why.clone())],
                );
                self.publish(&run).await;
                let outcome = RolloutOutcome::Aborted {
                    reason: why.clone(),
                };
                self.finished(run.id, outcome, &actor.user).await;
                run.id
            }
        };
        let text = format!("{canary} in {env} {why}; all traffic back on stable");
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(id, Some(canary), self.view.stable.clone(), text))
    }

    async fn retry(&mut self, actor: &Actor) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let Some(a) = &self.aborted else {
            return Err(refused(format!("{env} has no aborted rollout to retry")));
        };
        if let Some(id) = self.running_id() {
            return Err(refused(format!("pipeline #{id} is running in {env}")));
        }
        let version = a.version.clone();
        self.start_rollout(&actor.user, version, None).await
    }
}
