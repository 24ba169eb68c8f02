//! What a platform that steps rollouts itself (Argo Rollouts) reports about
//! one rollout, beyond the common [`super::environment::EnvironmentStatus`]:
//! the weight asked for and the weight in effect, the two ReplicaSets with
//! their images, and whether the data is stale.

use serde::{Deserialize, Serialize};

/// One ReplicaSet (stable or canary) of an observed rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSetInfo {
    /// The pod template hash (`rollouts-pod-template-hash`).
    pub hash: String,
    /// The first container's image, when its ReplicaSet was seen.
    pub image: Option<String>,
    pub ready: u32,
    pub replicas: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRollout {
    /// Who steps the rollout, e.g. `argo-rollouts`.
    pub controller: String,
    /// The object and where it lives, e.g. `rollout web in shop-staging`.
    pub object: String,
    /// The weight the current step asks for.
    pub set_weight: Option<u8>,
    /// The weight the traffic router reports.
    pub actual_weight: Option<u8>,
    pub stable: Option<ReplicaSetInfo>,
    /// `None` once promoted (stable and canary are the same ReplicaSet).
    pub canary: Option<ReplicaSetInfo>,
    /// Ready and desired replicas of the whole rollout.
    pub ready: u32,
    pub desired: u32,
    /// `Some(reason)`: the source is degraded and this is the last data seen.
    pub stale: Option<String>,
}

impl ObservedRollout {
    /// `20%`, or `20% (set 40%)` while the router lags the step.
    pub fn weight_label(&self) -> Option<String> {
        match (self.actual_weight, self.set_weight) {
            (Some(a), Some(s)) if a != s => Some(format!("{a}% (set {s}%)")),
            (Some(w), _) | (None, Some(w)) => Some(format!("{w}%")),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_label_shows_the_set_weight_only_when_it_differs() {
        let mut o = ObservedRollout {
            set_weight: Some(40),
            actual_weight: Some(20),
            ..ObservedRollout::default()
        };
        assert_eq!(o.weight_label().as_deref(), Some("20% (set 40%)"));
        o.actual_weight = Some(40);
        assert_eq!(o.weight_label().as_deref(), Some("40%"));
        o.actual_weight = None;
        o.set_weight = None;
        assert_eq!(o.weight_label(), None);
    }
}
