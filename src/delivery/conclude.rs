//! How an operation ends: a promotion, an automatic rollback, an undo.

use std::time::Duration;

use super::controller::{Controller, Rollout, Undo};
use crate::clock::now_ms;
use crate::domain::analysis::Verdict;
use crate::domain::logs::Level;
use crate::domain::pipeline::StageStatus;
use crate::runtime::RolloutOutcome;

/// In-flight requests to a version leaving service get this long to finish.
const DRAIN: Duration = Duration::from_millis(500);

impl Controller {
    /// The canary becomes stable (a new revision); the old stable is retired.
    pub(super) async fn conclude_promote(&mut self, mut r: Rollout) {
        let env = self.env().to_string();
        let canary = r.canary.clone();
        let old = self.view.stable.replace(canary.clone());
        let old = old.filter(|o| *o != canary);
        if let Some(o) = &old {
            self.view.previous = Some(o.clone());
        }
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.view.push_revision(&canary);
        self.apply().await;
        if self.view.stable.as_ref() != Some(&canary) {
            // The journal could not record it: rolled back at the next tick.
            self.parked = Some(super::controller::Active::Rollout(r));
            return;
        }
        let mut detail = format!("{canary} is stable in {env}");
        if let Some(o) = &old {
            tokio::time::sleep(DRAIN).await;
            match self.retire(o).await {
                None => detail.push_str(&format!("; {o} kept as previous")),
                Some(problem) => detail.push_str(&format!("; {problem}")),
            }
        }
        let now = now_ms();
        let last = r.run.stages.len().saturating_sub(1);
        r.run
            .finish_stage(last, StageStatus::Succeeded, detail.clone(), now);
        r.run.finish(StageStatus::Succeeded, now);
        self.publish(&r.run).await;
        self.log(Level::Info, format!("promoted {canary}: {detail}"))
            .await;
        let outcome = RolloutOutcome::Promoted { version: canary };
        self.finished(r.run.id, outcome, &r.user).await;
    }

    /// Give up on the canary: all traffic to stable, the canary retired.
    pub(super) async fn conclude_failure(
        &mut self,
        mut r: Rollout,
        reason: String,
        verdict: Option<Verdict>,
    ) {
        let env = self.env().to_string();
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.apply().await;
        let _ = self.retire(&r.canary).await;
        let now = now_ms();
        if let Some(s) = r
            .run
            .stages
            .iter_mut()
            .find(|s| s.status == StageStatus::Running)
        {
            s.status = StageStatus::Failed(reason.clone());
            s.finished_at = Some(now);
            s.progress = 1.0;
            if s.detail.is_empty() {
                s.detail = reason.clone();
            }
        }
        r.run.finish(StageStatus::Failed(reason.clone()), now);
        self.publish(&r.run).await;
        let text = format!("{} rolled back in {env}: {reason}", r.canary);
        self.log(Level::Warn, text).await;
        let outcome = match &self.view.stable {
            Some(_) => RolloutOutcome::RolledBack {
                version: r.canary.clone(),
                reason,
                verdict: verdict.map(Box::new),
            },
            None => RolloutOutcome::Aborted { reason },
        };
        self.finished(r.run.id, outcome, &r.user).await;
    }

    /// The undo's target is ready: switch to it and retire what served.
    pub(super) async fn conclude_undo(&mut self, mut u: Undo) {
        let env = self.env().to_string();
        let now = now_ms();
        u.run.finish_stage(
            0,
            StageStatus::Succeeded,
            format!("{} ready", u.target),
            now,
        );
        self.view.stable = Some(u.target.clone());
        self.view.previous = Some(u.current.clone());
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.view.push_revision(&u.target);
        self.apply().await;
        u.run.finish_stage(
            1,
            StageStatus::Succeeded,
            format!("100% to {}", u.target),
            now_ms(),
        );
        u.run.start_stage(2, now_ms());
        self.publish(&u.run).await;
        tokio::time::sleep(DRAIN).await;
        let stopped = match self.retire(&u.current).await {
            None => format!("{} stopped", u.current),
            Some(problem) => problem,
        };
        u.run
            .finish_stage(2, StageStatus::Succeeded, stopped, now_ms());
        u.run.finish(StageStatus::Succeeded, now_ms());
        self.publish(&u.run).await;
        let text = format!("{env} rolled back from {} to {}", u.current, u.target);
        self.log(Level::Warn, text).await;
        let outcome = RolloutOutcome::RolledBack {
            version: u.current.clone(),
            reason: format!("rollback requested by {}", u.user),
            verdict: None,
        };
        self.finished(u.run.id, outcome, &u.user).await;
    }
}
