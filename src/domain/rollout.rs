//! Canary rollout plans and the decision taken after each step's analysis.

use serde::{Deserialize, Serialize};

use super::analysis::{Outcome, Verdict};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryStep {
    /// Percentage of traffic sent to the canary during this step.
    pub weight: u8,
    /// How long to hold this weight before analysing, in seconds.
    pub pause_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanaryPlan {
    pub steps: Vec<CanaryStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a canary plan needs at least one step")]
    Empty,
    #[error("step {index}: weight {weight} is above 100")]
    WeightTooHigh { index: usize, weight: u8 },
    #[error("step {index}: weight {weight} is not above the previous step's {previous}")]
    NotIncreasing { index: usize, weight: u8, previous: u8 },
    #[error("the last step must send 100% of traffic to the canary, not {0}%")]
    LastNotFull(u8),
}

impl Default for CanaryPlan {
    fn default() -> Self {
        let step = |weight| CanaryStep {
            weight,
            pause_secs: 10,
        };
        CanaryPlan {
            steps: vec![step(5), step(20), step(50), step(100)],
        }
    }
}

impl CanaryPlan {
    pub fn validate(&self) -> Result<(), PlanError> {
        let last = self.steps.last().ok_or(PlanError::Empty)?;
        let mut previous = 0u8;
        for (index, s) in self.steps.iter().enumerate() {
            if s.weight > 100 {
                return Err(PlanError::WeightTooHigh {
                    index,
                    weight: s.weight,
                });
            }
            if s.weight <= previous {
                return Err(PlanError::NotIncreasing {
                    index,
                    weight: s.weight,
                    previous,
                });
            }
            previous = s.weight;
        }
        if last.weight != 100 {
            return Err(PlanError::LastNotFull(last.weight));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What the controller does after the analysis at the end of step `step`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Move to step `next` and set its weight.
    Advance { next: usize, weight: u8 },
    /// Hold the current weight and analyse again (too few samples so far).
    Extend,
    /// Last step passed: the canary becomes stable.
    Promote,
    /// Send all traffic back to stable and remove the canary.
    Rollback { reason: String },
}

/// Decide after step `step` of `plan`, given its verdict and how many times the
/// step was already extended for lack of data.
pub fn decide(plan: &CanaryPlan, step: usize, verdict: &Verdict, extensions: u32, max_extensions: u32) -> Decision {
    match verdict.outcome {
        Outcome::Fail => Decision::Rollback {
            reason: verdict.summary(),
        },
        Outcome::Inconclusive if extensions < max_extensions => Decision::Extend,
        Outcome::Inconclusive => Decision::Rollback {
            reason: format!("{} after {} extensions", verdict.summary(), extensions),
        },
        Outcome::Pass => match plan.steps.get(step + 1) {
            Some(next) => Decision::Advance {
                next: step + 1,
                weight: next.weight,
            },
            None => Decision::Promote,
        },
    }
}
