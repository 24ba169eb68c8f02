//! What the delivery controller reports, folded into the engine's state,
//! its rings and events, and the audit journal.

use super::core::{Engine, VERDICT_RING};
use crate::clock::now_ms;
use crate::delivery::Report;
use crate::runtime::{RolloutOutcome, RuntimeEvent};

impl Engine {
    pub(super) async fn on_report(&mut self, i: usize, report: Report) {
        let env = self.envs[i].cfg.name.clone();
        match report {
            Report::Pipeline(run) => self.upsert_pipeline(run),
            Report::Verdict { step, verdict } => {
                if self.verdicts.len() >= VERDICT_RING {
                    self.verdicts.pop_front();
                }
                let verdict = *verdict;
                self.verdicts.push_back((env.clone(), verdict.clone()));
                self.emit(RuntimeEvent::Verdict { env, step, verdict });
            }
            Report::Log { level, text } => self.log(level, &env, text),
            Report::View(view) => {
                let e = &mut self.envs[i];
                e.stable = view.stable.clone();
                e.canary = view.canary.clone();
                e.weight = view.weight;
                e.step = view.step;
                e.previous = view.previous.clone();
                e.rollout = view;
                e.last_change = now_ms();
                self.apply_split(i);
            }
            Report::Finished {
                pipeline_id,
                outcome,
                requested_by,
            } => {
                let detail = format!("pipeline #{pipeline_id} requested by {requested_by}");
                let e = &self.envs[i];
                let (stable, previous) = (e.stable.clone(), e.previous.clone());
                match &outcome {
                    RolloutOutcome::Promoted { version } => {
                        let versions = (previous.as_ref(), Some(version));
                        self.write_audit(
                            "controller",
                            &env,
                            "promote",
                            versions,
                            "promoted".into(),
                            detail,
                        )
                        .await;
                    }
                    RolloutOutcome::RolledBack {
                        version, reason, ..
                    } => {
                        let versions = (Some(version), stable.as_ref());
                        let outcome = format!("rolled back: {reason}");
                        self.write_audit("controller", &env, "rollback", versions, outcome, detail)
                            .await;
                    }
                    RolloutOutcome::Aborted { .. } => {}
                }
                self.emit(RuntimeEvent::RolloutFinished {
                    env,
                    pipeline_id,
                    outcome,
                });
                self.touch(i);
            }
        }
    }
}
