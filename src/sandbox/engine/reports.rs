//! What the delivery controller reports, folded into the engine's state,
//! its rings and events.

use super::core::{Engine, VERDICT_RING};
use crate::clock::now_ms;
use crate::delivery::Report;
use crate::runtime::{RecordedVerdict, RuntimeEvent};

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
                self.verdicts.push_back(RecordedVerdict {
                    env: env.clone(),
                    step,
                    verdict: verdict.clone(),
                });
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
                // The audit decorator journals the outcome from this event.
                let _ = requested_by;
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
