//! Canary rollout plans and the decision taken after each step's analysis.

use serde::{Deserialize, Serialize};

use super::analysis::{Outcome, Verdict};
use super::environment::Version;

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
    NotIncreasing {
        index: usize,
        weight: u8,
        previous: u8,
    },
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

/// One version that became stable in an environment, numbered like Argo's
/// ReplicaSet revisions (`undo --to-revision N`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub number: u32,
    pub version: Version,
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
pub fn decide(
    plan: &CanaryPlan,
    step: usize,
    verdict: &Verdict,
    extensions: u32,
    max_extensions: u32,
) -> Decision {
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

/// Stage names of a rollout of `version`: the canary steps of `plan` when
/// a stable version runs, a plain start otherwise; then promotion.
pub fn rollout_stages(plan: &CanaryPlan, version: &Version, has_stable: bool) -> Vec<String> {
    let mut stages = Vec::with_capacity(plan.len() + 2);
    if has_stable {
        stages.push(format!("start canary ({version})"));
        for (n, s) in plan.steps.iter().enumerate() {
            stages.push(format!("step {}: {}%", n + 1, s.weight));
        }
    } else {
        stages.push(format!("start {version}"));
    }
    stages.push("promote".to_string());
    stages
}

/// The version a rollback of `env` leaves (`current`) and the one it returns
/// to (`previous`), or why there is none.
pub fn rollback_target(
    env: &str,
    stable: Option<&Version>,
    previous: Option<&Version>,
) -> Result<(Version, Version), String> {
    let Some(current) = stable else {
        return Err(format!("{env} has no version to roll back from"));
    };
    let Some(target) = previous.filter(|p| *p != current) else {
        return Err(format!("{env} has no previous version to roll back to"));
    };
    Ok((current.clone(), target.clone()))
}

/// Stage names of a rollback from `current` to `target`.
pub fn rollback_stages(current: &Version, target: &Version) -> [String; 3] {
    [
        format!("start {target}"),
        format!("switch traffic to {target}"),
        format!("stop {current}"),
    ]
}

/// Whether `version` may be deployed to `env` now: one pipeline at a time,
/// not the stable version again, and not over a different held canary.
/// The error says what to do instead.
pub fn check_deploy(
    env: &str,
    running_pipeline: Option<u64>,
    stable: Option<&Version>,
    canary: Option<&Version>,
    version: &Version,
) -> Result<(), String> {
    if let Some(id) = running_pipeline {
        return Err(format!(
            "pipeline #{id} is already running in {env}; wait for it or roll back"
        ));
    }
    if stable == Some(version) {
        return Err(format!("{version} is already stable in {env}"));
    }
    if let Some(c) = canary.filter(|c| *c != version) {
        return Err(format!(
            "canary {c} is still held in {env}; roll back or deploy {c} again first"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_and_rollback_stages() {
        let v = |s: &str| Version::new(s);
        let plan = CanaryPlan::default();
        let with = rollout_stages(&plan, &v("v2"), true);
        assert_eq!(with.first().map(String::as_str), Some("start canary (v2)"));
        assert_eq!(with.len(), plan.len() + 2);
        assert_eq!(with.last().map(String::as_str), Some("promote"));
        assert_eq!(
            rollout_stages(&plan, &v("v1"), false),
            vec!["start v1", "promote"]
        );
        assert_eq!(
            rollback_target("e", Some(&v("v2")), Some(&v("v1"))),
            Ok((v("v2"), v("v1")))
        );
        assert!(rollback_target("e", None, Some(&v("v1")))
            .unwrap_err()
            .contains("no version to roll back from"));
        assert!(rollback_target("e", Some(&v("v1")), Some(&v("v1")))
            .unwrap_err()
            .contains("no previous version"));
        assert_eq!(
            rollback_stages(&v("v2"), &v("v1")),
            ["start v1", "switch traffic to v1", "stop v2"].map(String::from)
        );
    }

    #[test]
    fn deploys_are_refused_with_what_to_do() {
        let v = |s: &str| Version::new(s);
        assert_eq!(
            check_deploy("e", None, Some(&v("v1")), None, &v("v2")),
            Ok(())
        );
        assert!(check_deploy("e", Some(7), None, None, &v("v2"))
            .unwrap_err()
            .contains("pipeline #7 is already running in e"));
        assert!(check_deploy("e", None, Some(&v("v2")), None, &v("v2"))
            .unwrap_err()
            .contains("already stable"));
        assert!(
            check_deploy("e", None, Some(&v("v1")), Some(&v("v3")), &v("v2"))
                .unwrap_err()
                .contains("canary v3 is still held")
        );
        // Deploying the held canary again is allowed.
        assert_eq!(
            check_deploy("e", None, Some(&v("v1")), Some(&v("v2")), &v("v2")),
            Ok(())
        );
    }
    use crate::domain::analysis::{analyze, Thresholds, VersionSample};

    fn plan(weights: &[u8]) -> CanaryPlan {
        CanaryPlan {
            steps: weights
                .iter()
                .map(|&weight| CanaryStep {
                    weight,
                    pause_secs: 1,
                })
                .collect(),
        }
    }

    fn verdict(requests: u64, errors: u64) -> Verdict {
        let s = VersionSample {
            requests,
            errors,
            p50_ms: 5.0,
            p95_ms: 10.0,
            p99_ms: 20.0,
            ..Default::default()
        };
        analyze(&s, None, &Thresholds::default())
    }

    #[test]
    fn default_plan_is_valid() {
        let p = CanaryPlan::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            p.steps.iter().map(|s| s.weight).collect::<Vec<_>>(),
            vec![5, 20, 50, 100]
        );
        assert_eq!(p.len(), 4);
        assert!(!p.is_empty());
        assert_eq!(plan(&[100]).validate(), Ok(()));
    }

    #[test]
    fn plan_validation_errors() {
        assert_eq!(plan(&[]).validate(), Err(PlanError::Empty));
        assert!(plan(&[]).is_empty());
        assert_eq!(
            plan(&[50, 20, 100]).validate(),
            Err(PlanError::NotIncreasing {
                index: 1,
                weight: 20,
                previous: 50
            })
        );
        assert_eq!(
            plan(&[10, 10, 100]).validate(),
            Err(PlanError::NotIncreasing {
                index: 1,
                weight: 10,
                previous: 10
            })
        );
        assert_eq!(
            plan(&[0, 100]).validate(),
            Err(PlanError::NotIncreasing {
                index: 0,
                weight: 0,
                previous: 0
            })
        );
        assert_eq!(
            plan(&[10, 50, 90]).validate(),
            Err(PlanError::LastNotFull(90))
        );
        assert_eq!(
            plan(&[10, 150]).validate(),
            Err(PlanError::WeightTooHigh {
                index: 1,
                weight: 150
            })
        );
        assert_eq!(
            PlanError::LastNotFull(90).to_string(),
            "the last step must send 100% of traffic to the canary, not 90%"
        );
    }

    #[test]
    fn passing_steps_advance_then_promote() {
        let p = CanaryPlan::default();
        let pass = verdict(100, 0);
        let mut step = 0;
        let mut weights = vec![p.steps[0].weight];
        loop {
            match decide(&p, step, &pass, 0, 3) {
                Decision::Advance { next, weight } => {
                    assert_eq!(next, step + 1);
                    weights.push(weight);
                    step = next;
                }
                Decision::Promote => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(weights, vec![5, 20, 50, 100]);
        assert_eq!(step, 3);
    }

    #[test]
    fn failing_step_rolls_back_with_the_reason() {
        let p = CanaryPlan::default();
        for step in 0..p.len() {
            match decide(&p, step, &verdict(100, 30), 0, 3) {
                Decision::Rollback { reason } => {
                    assert!(
                        reason.starts_with("failed: error rate 30.00% > 1.00%"),
                        "{reason}"
                    );
                }
                other => panic!("step {step}: {other:?}"),
            }
        }
    }

    #[test]
    fn inconclusive_extends_until_the_limit_then_rolls_back() {
        let p = CanaryPlan::default();
        let few = verdict(3, 0);
        assert_eq!(decide(&p, 1, &few, 0, 3), Decision::Extend);
        assert_eq!(decide(&p, 1, &few, 2, 3), Decision::Extend);
        match decide(&p, 1, &few, 3, 3) {
            Decision::Rollback { reason } => {
                assert!(reason.contains("inconclusive: samples 3 < 10"), "{reason}");
                assert!(reason.ends_with("after 3 extensions"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&p, 0, &few, 0, 0),
            Decision::Rollback { .. }
        ));
        // Enough data after an extension: advance as usual.
        assert_eq!(
            decide(&p, 1, &verdict(100, 0), 2, 3),
            Decision::Advance {
                next: 2,
                weight: 50
            }
        );
    }
}
