//! What the controller does on each tick: wait for readiness, hold a step,
//! analyse it and decide, watch after a promotion or a switch.

use std::time::{Duration, Instant};

use super::backend::Report;
use super::controller::{Active, Controller, Rollout, Stage, Switched, Undo, PROGRESS_EVERY};
use crate::clock::now_ms;
use crate::domain::analysis::Outcome;
use crate::domain::logs::Level;
use crate::domain::pipeline::StageStatus;
use crate::domain::rollout::{decide, Decision};
use crate::runtime::RolloutOutcome;

/// How long new instances get to become ready before the operation fails.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Controller {
    pub async fn tick(&mut self) {
        self.settle().await;
        self.active = match self.active.take() {
            None => None,
            Some(Active::Rollout(r)) => self.tick_rollout(r).await.map(Active::Rollout),
            Some(Active::Undo(u)) => self.tick_undo(u).await.map(Active::Undo),
            Some(Active::Switched(w)) => self.tick_switched(w).await.map(Active::Switched),
        };
    }

    /// Publish the run about once a second with `progress` on `stage`.
    async fn progress(&self, r: &mut Rollout, stage: usize, progress: f64, detail: Option<String>) {
        if r.last_publish.elapsed() < PROGRESS_EVERY {
            return;
        }
        r.last_publish = Instant::now();
        if let Some(s) = r.run.stages.get_mut(stage) {
            s.progress = progress.clamp(0.0, 1.0);
            if let Some(d) = detail {
                s.detail = d;
            }
        }
        self.publish(&r.run).await;
    }

    async fn tick_rollout(&mut self, mut r: Rollout) -> Option<Rollout> {
        if r.paused {
            return Some(r);
        }
        match r.stage {
            Stage::Starting { since } => {
                let rd = self.backend.readiness(&r.canary).await;
                if rd.complete() {
                    let detail = format!(
                        "{}/{} instances of {} ready",
                        rd.ready, rd.desired, r.canary
                    );
                    r.run
                        .finish_stage(0, StageStatus::Succeeded, detail, now_ms());
                    if self.view.stable.is_none() {
                        self.conclude_promote(r).await;
                        return None;
                    }
                    if let Some(by) = r.promote_full_when_ready.take() {
                        self.skip_to_watch(&mut r, &by);
                        self.publish(&r.run).await;
                        return Some(r);
                    }
                    self.enter_step(&mut r, 0);
                    self.publish(&r.run).await;
                    return Some(r);
                }
                let waited = since.elapsed();
                if waited >= READY_TIMEOUT {
                    let reason = format!(
                        "{}: only {}/{} instances ready after {}s",
                        r.canary,
                        rd.ready,
                        rd.desired,
                        READY_TIMEOUT.as_secs()
                    );
                    self.conclude_failure(r, reason, None).await;
                    return None;
                }
                let p = waited.as_secs_f64() / READY_TIMEOUT.as_secs_f64();
                let d = format!("{}/{} instances ready", rd.ready, rd.desired);
                self.progress(&mut r, 0, p, Some(d)).await;
                Some(r)
            }
            Stage::Step {
                index,
                started,
                hold_until,
                extensions,
            } => {
                let now = Instant::now();
                if now < hold_until {
                    let total = hold_until.saturating_duration_since(started).as_secs_f64();
                    let p = if total > 0.0 {
                        started.elapsed().as_secs_f64() / total
                    } else {
                        1.0
                    };
                    self.progress(&mut r, index + 1, p, None).await;
                    return Some(r);
                }
                self.analyse_step(r, index, started, extensions).await
            }
            Stage::Watch { started, until } => {
                if Instant::now() < until {
                    let total = until.saturating_duration_since(started).as_secs_f64();
                    let p = started.elapsed().as_secs_f64() / total.max(0.001);
                    let last = r.run.stages.len().saturating_sub(1);
                    self.progress(&mut r, last, p, None).await;
                    return Some(r);
                }
                if until > started {
                    let window = started.elapsed();
                    let steps = self.s.rollout.steps.len();
                    let canary = r.canary.clone();
                    if let Some((reason, verdict)) = self.watch_failed(&canary, window, steps).await
                    {
                        self.conclude_failure(r, reason, Some(verdict)).await;
                        return None;
                    }
                }
                self.conclude_promote(r).await;
                None
            }
        }
    }

    async fn analyse_step(
        &mut self,
        mut r: Rollout,
        index: usize,
        started: Instant,
        extensions: u32,
    ) -> Option<Rollout> {
        let stage = index + 1;
        let (verdict, note) = self
            .s
            .analyzer
            .judge(
                self.backend.as_ref(),
                &self.s.env,
                &r.canary,
                self.view.stable.as_ref(),
                started.elapsed(),
                &self.s.rollout.analysis,
            )
            .await;
        let summary = match note {
            Some(n) => format!("{}; {n}", verdict.summary()),
            None => verdict.summary(),
        };
        self.log(
            Level::Info,
            format!("canary analysis step {}: {}", index + 1, verdict.summary()),
        )
        .await;
        self.backend
            .report(Report::Verdict {
                step: index,
                verdict: Box::new(verdict.clone()),
            })
            .await;
        let cfg = &self.s.rollout;
        match decide(&cfg.steps, index, &verdict, extensions, cfg.max_extensions) {
            Decision::Extend => {
                let extensions = extensions + 1;
                let pause = cfg
                    .steps
                    .steps
                    .get(index)
                    .map_or(1, |s| s.pause_secs.max(1));
                if let Some(st) = r.run.stages.get_mut(stage) {
                    st.detail = format!("{summary}; extended {extensions}/{}", cfg.max_extensions);
                }
                r.stage = Stage::Step {
                    index,
                    started,
                    hold_until: Instant::now() + Duration::from_secs(pause),
                    extensions,
                };
                self.publish(&r.run).await;
                Some(r)
            }
            Decision::Advance { next, .. } => {
                r.run
                    .finish_stage(stage, StageStatus::Succeeded, summary, now_ms());
                self.enter_step(&mut r, next);
                self.publish(&r.run).await;
                Some(r)
            }
            Decision::Promote => {
                r.run
                    .finish_stage(stage, StageStatus::Succeeded, summary, now_ms());
                self.enter_watch(&mut r);
                self.publish(&r.run).await;
                Some(r)
            }
            Decision::Rollback { reason } => {
                r.run.finish_stage(
                    stage,
                    StageStatus::Failed(reason.clone()),
                    summary,
                    now_ms(),
                );
                self.conclude_failure(r, reason, Some(verdict)).await;
                None
            }
        }
    }

    /// Judge `version` alone over the watch window; the reason and verdict
    /// when it failed (an inconclusive watch does not switch back).
    async fn watch_failed(
        &self,
        version: &crate::domain::environment::Version,
        window: Duration,
        step: usize,
    ) -> Option<(String, crate::domain::analysis::Verdict)> {
        let (verdict, _) = self
            .s
            .analyzer
            .judge(
                self.backend.as_ref(),
                &self.s.env,
                version,
                None,
                window,
                &self.s.rollout.analysis,
            )
            .await;
        self.backend
            .report(Report::Verdict {
                step,
                verdict: Box::new(verdict.clone()),
            })
            .await;
        (verdict.outcome == Outcome::Fail).then(|| {
            (
                format!("{} (watch after the switch of traffic)", verdict.summary()),
                verdict,
            )
        })
    }

    async fn tick_undo(&mut self, mut u: Undo) -> Option<Undo> {
        let rd = self.backend.readiness(&u.target).await;
        if rd.complete() {
            self.conclude_undo(u).await;
            return None;
        }
        if u.since.elapsed() < READY_TIMEOUT {
            return Some(u);
        }
        let reason = format!(
            "{}: only {}/{} instances ready after {}s",
            u.target,
            rd.ready,
            rd.desired,
            READY_TIMEOUT.as_secs()
        );
        let _ = self.retire(&u.target).await;
        u.run.finish_stage(
            0,
            StageStatus::Failed(reason.clone()),
            reason.clone(),
            now_ms(),
        );
        u.run.finish(StageStatus::Failed(reason.clone()), now_ms());
        self.publish(&u.run).await;
        let text = format!(
            "pipeline #{}: rollback to {} failed: {reason}",
            u.run.id, u.target
        );
        self.log(Level::Error, text).await;
        self.finished(u.run.id, RolloutOutcome::Aborted { reason }, &u.user)
            .await;
        None
    }

    async fn tick_switched(&mut self, mut w: Switched) -> Option<Switched> {
        if Instant::now() < w.until {
            return Some(w);
        }
        let steps = self.s.rollout.steps.len();
        let failed = if w.until > w.started {
            self.watch_failed(&w.canary, w.started.elapsed(), steps)
                .await
        } else {
            None
        };
        let now = now_ms();
        match failed {
            Some((reason, verdict)) => {
                self.view.weight = 0;
                self.apply().await;
                let why = format!("switched back: {reason}");
                w.run
                    .finish_stage(2, StageStatus::Failed(why.clone()), why.clone(), now);
                w.run.finish(StageStatus::Failed(why.clone()), now);
                self.publish(&w.run).await;
                let text = format!(
                    "blue/green: {} failed after the switch; all traffic back on stable: {reason}",
                    w.canary
                );
                self.log(Level::Warn, text).await;
                let outcome = RolloutOutcome::RolledBack {
                    version: w.canary.clone(),
                    reason: why,
                    verdict: Some(Box::new(verdict)),
                };
                self.finished(w.run.id, outcome, &w.user).await;
            }
            None => {
                w.run.finish_stage(
                    2,
                    StageStatus::Succeeded,
                    format!("{} held up", w.canary),
                    now,
                );
                w.run.finish(StageStatus::Succeeded, now);
                self.publish(&w.run).await;
            }
        }
        None
    }
}
