//! Intents that change what serves without stepping: undo to a revision,
//! the blue-green switch (behind a smoke check), and a rolling restart.

use std::time::{Duration, Instant};

use super::controller::{Active, Controller, Switched, Undo};
use super::journal::Operation;
use super::smoke::smoke_check;
use crate::clock::now_ms;
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::rollout::{rollback_stages, rollback_target};
use crate::runtime::{ActionAccepted, Actor, RuntimeError};

fn refused(text: impl Into<String>) -> RuntimeError {
    RuntimeError::Refused(text.into())
}

impl Controller {
    pub(super) async fn undo(
        &mut self,
        actor: &Actor,
        to_revision: Option<u32>,
    ) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        if let Some(Active::Undo(u)) = &self.active {
            return Err(refused(format!(
                "pipeline #{} is already rolling {env} back to {}",
                u.run.id, u.target
            )));
        }
        let in_flight = match &self.active {
            Some(Active::Rollout(r)) => Some(r.canary.clone()),
            Some(Active::Switched(w)) => Some(w.canary.clone()),
            _ => self.view.canary.clone(),
        };
        if let Some(canary) = in_flight {
            if to_revision.is_some() {
                return Err(refused(format!(
                    "canary {canary} is in {env}; abort it before undoing to a revision"
                )));
            }
            return self.remove_canary(actor, canary).await;
        }
        let stable = self.view.stable.clone();
        let (current, target) = match to_revision {
            None => rollback_target(&env, stable.as_ref(), self.view.previous.as_ref())
                .map_err(RuntimeError::Refused)?,
            Some(n) => {
                let Some(target) = self.view.revision(n).cloned() else {
                    let known: Vec<String> = self
                        .view
                        .revisions
                        .iter()
                        .map(|r| r.number.to_string())
                        .collect();
                    return Err(RuntimeError::NotFound(format!(
                        "revision {n} of {env} (known: {})",
                        known.join(", ")
                    )));
                };
                let Some(current) = stable else {
                    return Err(refused(format!("{env} has no version to roll back from")));
                };
                if current == target {
                    return Err(refused(format!(
                        "revision {n} ({target}) is already stable in {env}"
                    )));
                }
                (current, target)
            }
        };
        let id = self.backend.next_pipeline_id();
        let stages = rollback_stages(&current, &target);
        let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
        let title = format!("roll back {env} from {current} to {target}");
        let mut run = PipelineRun::new(id, PipelineKind::Rollback, &env, &title, &refs, now_ms());
        run.start_stage(0, now_ms());
        self.publish(&run).await;
        let user = actor.user.clone();
        self.journal_start(Operation::Rollback, &target, (id, &user))
            .await?;
        if let Err(e) = self.backend.bring_up(&target).await {
            return Err(self.fail_start(&mut run, &target, e).await);
        }
        self.aborted = None;
        self.active = Some(Active::Undo(Undo {
            run,
            current: current.clone(),
            target: target.clone(),
            since: Instant::now(),
            user: actor.user.clone(),
        }));
        let text = format!("{title} (pipeline #{id}) requested by {}", actor.user);
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(id, Some(current), Some(target), text))
    }

    /// Undo while a canary is in: cancel its rollout and take it out.
    async fn remove_canary(
        &mut self,
        actor: &Actor,
        canary: crate::domain::environment::Version,
    ) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        let reason = format!("rollback requested by {}", actor.user);
        let cancelled = self.stop_active(&reason).await;
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.aborted = None;
        self.apply().await;
        let _ = self.retire(&canary).await;
        let stable = self.view.stable.clone();
        let target = stable
            .as_ref()
            .map_or("nothing".to_string(), |v| v.0.clone());
        let what = match cancelled {
            Some(id) => format!("pipeline #{id} cancelled, {canary} stopped"),
            None => format!("{canary} stopped"),
        };
        let run = self.instant_run(
            PipelineKind::Rollback,
            &format!("roll back canary {canary} in {env}"),
            &[
                ("remove canary", what.clone()),
                ("route all traffic to stable", format!("100% to {target}")),
            ],
        );
        self.publish(&run).await;
        let text = format!("rolled back canary {canary} in {env}: {what}");
        self.log(Level::Warn, text.clone()).await;
        Ok(self.accepted(run.id, Some(canary), stable, text))
    }

    pub(super) async fn switch(
        &mut self,
        actor: &Actor,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        if let Some(Active::Undo(u)) = &self.active {
            return Err(refused(format!(
                "pipeline #{} is rolling {env} back",
                u.run.id
            )));
        }
        let Some(canary) = self.view.canary.clone() else {
            return Err(refused(format!(
                "{env} has no canary to switch traffic to or from"
            )));
        };
        let Some(stable) = self.view.stable.clone() else {
            return Err(refused(format!(
                "{env} has no stable version to switch between"
            )));
        };
        let (from, to) = if to_canary {
            (stable.clone(), canary.clone())
        } else {
            (canary.clone(), stable.clone())
        };
        if self.backend.readiness(&to).await.ready == 0 {
            return Err(refused(format!("{to} has no ready instance")));
        }
        let smoke = if to_canary {
            let endpoints = self.backend.endpoints(&canary).await;
            let max = self.s.rollout.analysis.max_error_rate;
            Some(smoke_check(&endpoints, &self.s.smoke_paths, max).await)
        } else {
            None
        };
        let cancelled = self
            .stop_active(&format!("traffic switched by {}", actor.user))
            .await;
        let paused = cancelled.map(|id| format!("pipeline #{id} stopped; canary {canary} kept"));
        let title = format!("blue/green: switch {env} to {to}");
        match smoke {
            Some(Err(why)) => {
                self.view.weight = 0;
                self.view.step = None;
                self.apply().await;
                let id = self.backend.next_pipeline_id();
                let now = now_ms();
                let mut run = PipelineRun::new(
                    id,
                    PipelineKind::Rollout,
                    &env,
                    &title,
                    &["smoke check", "switch traffic"],
                    now,
                );
                run.finish_stage(0, StageStatus::Failed(why.clone()), why.clone(), now);
                run.finish(StageStatus::Failed(why.clone()), now);
                self.publish(&run).await;
                let text = format!(
                    "blue/green switch of {env} to {canary} refused: {why}; all traffic stays on {stable}"
                );
                self.log(Level::Warn, text.clone()).await;
                Err(RuntimeError::Refused(text))
            }
            Some(Ok(summary)) => {
                self.view.weight = 100;
                self.view.step = None;
                self.backend.reset_analysis();
                let id = self.backend.next_pipeline_id();
                let now = now_ms();
                let mut run = PipelineRun::new(
                    id,
                    PipelineKind::Rollout,
                    &env,
                    &title,
                    &["smoke check", "switch traffic", "watch"],
                    now,
                );
                run.finish_stage(0, StageStatus::Succeeded, summary, now);
                let switched = match &paused {
                    Some(p) => format!("100% to {to}; {p}"),
                    None => format!("100% to {to}"),
                };
                run.finish_stage(1, StageStatus::Succeeded, switched, now);
                run.start_stage(2, now);
                self.publish(&run).await;
                let window = Duration::from_secs(self.s.rollout.post_promotion_window_secs);
                self.active = Some(Active::Switched(Switched {
                    run,
                    canary: canary.clone(),
                    started: Instant::now(),
                    until: Instant::now() + window,
                    user: actor.user.clone(),
                }));
                let text =
                    format!("blue/green: all traffic in {env} now goes to {to} (from {from})");
                self.log(Level::Warn, text.clone()).await;
                Ok(self.accepted(id, Some(from), Some(to), text))
            }
            None => {
                self.view.weight = 0;
                self.view.step = None;
                let mut stages = Vec::new();
                if let Some(p) = paused {
                    stages.push(("pause rollout", p));
                }
                stages.push(("switch traffic", format!("100% to {to}")));
                let run = self.instant_run(PipelineKind::Rollout, &title, &stages);
                self.publish(&run).await;
                let text =
                    format!("blue/green: all traffic in {env} now goes to {to} (from {from})");
                self.log(Level::Warn, text.clone()).await;
                Ok(self.accepted(run.id, Some(from), Some(to), text))
            }
        }
    }

    /// Restart every instance of the stable version, one at a time, each
    /// replaced by a ready one before it stops.
    pub(super) async fn restart(&mut self, actor: &Actor) -> Result<ActionAccepted, RuntimeError> {
        let env = self.env().to_string();
        if let Some(id) = self.running_id() {
            return Err(refused(format!(
                "pipeline #{id} is running in {env}; restart after it"
            )));
        }
        let Some(stable) = self.view.stable.clone() else {
            return Err(refused(format!("{env} has no version to restart")));
        };
        let ids = self.backend.instances(&stable).await;
        if ids.is_empty() {
            return Err(refused(format!(
                "{env} has no instance of {stable} to restart"
            )));
        }
        let id = self.backend.next_pipeline_id();
        let names: Vec<String> = ids.iter().map(|i| format!("restart {i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let title = format!("restart {stable} in {env}");
        let mut run = PipelineRun::new(id, PipelineKind::Rollout, &env, &title, &refs, now_ms());
        for (n, instance) in ids.iter().enumerate() {
            run.start_stage(n, now_ms());
            self.publish(&run).await;
            if let Err(e) = self.backend.replace_instance(&stable, instance).await {
                let reason = format!("restarting {instance}: {e}");
                run.finish_stage(
                    n,
                    StageStatus::Failed(reason.clone()),
                    reason.clone(),
                    now_ms(),
                );
                run.finish(StageStatus::Failed(reason.clone()), now_ms());
                self.publish(&run).await;
                return Err(RuntimeError::Failed(reason));
            }
            run.finish_stage(
                n,
                StageStatus::Succeeded,
                "replaced by a ready instance",
                now_ms(),
            );
        }
        run.finish(StageStatus::Succeeded, now_ms());
        self.publish(&run).await;
        let text = format!(
            "{title}: {} instance(s) restarted one at a time by {}",
            ids.len(),
            actor.user
        );
        self.log(Level::Info, text.clone()).await;
        Ok(self.accepted(id, Some(stable.clone()), Some(stable), text))
    }
}
