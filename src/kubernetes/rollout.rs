//! An Argo Rollout as the console shows it: health, step, weights, the
//! stable and canary ReplicaSets, replicas and blue-green services.
//!
//! Health comes from [`super::rollout_health`]; this file reads the rest.

use serde_json::Value;

use super::fields::{at, clean, count, flag, list, raw, text, uint};
use super::rollout_health;
use crate::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Canary,
    BlueGreen,
    /// Neither `spec.strategy.canary` nor `spec.strategy.blueGreen` is an object.
    Unknown,
}

/// Blue-green services and the pod hashes they select.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlueGreenView {
    pub active_service: Option<String>,
    pub preview_service: Option<String>,
    /// Pod template hash the active service selects.
    pub active_selector: Option<String>,
    /// Pod template hash the preview service selects (`None` when empty).
    pub preview_selector: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RolloutView {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub strategy: Strategy,
    pub health: Health,
    /// `(status.currentStepIndex, number of canary steps)`; `None` without steps.
    pub step: Option<(usize, usize)>,
    /// Weight the steps ask for (0 once aborted, 100 past the last step).
    pub set_weight: Option<u8>,
    /// Weight the traffic router reports, when the Rollout says it.
    pub actual_weight: Option<u8>,
    /// `status.stableRS` (before v0.6: `status.canary.stableRS`).
    pub stable_hash: Option<String>,
    /// `status.currentPodHash`: the ReplicaSet of the current template.
    pub canary_hash: Option<String>,
    /// First container image of `spec.template` (none with a `workloadRef`).
    pub canary_image: Option<String>,
    /// Known only when stable is the current template; otherwise the
    /// stable ReplicaSet holds it and the Rollout does not say.
    pub stable_image: Option<String>,
    pub ready_replicas: u32,
    pub available_replicas: u32,
    pub updated_replicas: u32,
    /// `spec.replicas` (Argo defaults a missing one to 1).
    pub desired_replicas: Option<u32>,
    pub blue_green: Option<BlueGreenView>,
}

/// Read a Rollout object (as JSON); never fails, garbage gives `Unknown`.
pub fn rollout_view(obj: &Value) -> RolloutView {
    let strategy = strategy(obj);
    let stable_hash =
        text(obj, &["status", "stableRS"]).or_else(|| text(obj, &["status", "canary", "stableRS"]));
    let canary_hash = text(obj, &["status", "currentPodHash"]);
    let canary_image = list(obj, &["spec", "template", "spec", "containers"])
        .first()
        .and_then(|c| text(c, &["image"]));
    let promoted = stable_hash.is_some() && stable_hash == canary_hash;
    // Nothing is known of progress before the controller wrote a status.
    let has_status = at(obj, &["status"])
        .and_then(Value::as_object)
        .is_some_and(|s| !s.is_empty());
    let (step, set_weight, actual_weight) = match strategy {
        Strategy::Canary if has_status => canary_progress(obj),
        _ => (None, None, None),
    };
    RolloutView {
        name: text(obj, &["metadata", "name"]),
        namespace: text(obj, &["metadata", "namespace"]),
        strategy,
        health: rollout_health::health(obj),
        step,
        set_weight,
        actual_weight,
        stable_image: canary_image.clone().filter(|_| promoted),
        stable_hash,
        canary_hash,
        canary_image,
        ready_replicas: count(obj, &["status", "readyReplicas"]).unwrap_or(0),
        available_replicas: count(obj, &["status", "availableReplicas"]).unwrap_or(0),
        updated_replicas: count(obj, &["status", "updatedReplicas"]).unwrap_or(0),
        desired_replicas: count(obj, &["spec", "replicas"]),
        blue_green: (strategy == Strategy::BlueGreen).then(|| BlueGreenView {
            active_service: text(obj, &["spec", "strategy", "blueGreen", "activeService"]),
            preview_service: text(obj, &["spec", "strategy", "blueGreen", "previewService"]),
            active_selector: text(obj, &["status", "blueGreen", "activeSelector"]),
            preview_selector: text(obj, &["status", "blueGreen", "previewSelector"]),
        }),
    }
}

pub(super) fn strategy(obj: &Value) -> Strategy {
    let is_obj = |key| at(obj, &["spec", "strategy", key]).is_some_and(Value::is_object);
    if is_obj("canary") {
        Strategy::Canary
    } else if is_obj("blueGreen") {
        Strategy::BlueGreen
    } else {
        Strategy::Unknown
    }
}

/// Step, set weight and actual weight of a canary, read as kubectl-argo-rollouts does.
fn canary_progress(obj: &Value) -> (Option<(usize, usize)>, Option<u8>, Option<u8>) {
    let steps = list(obj, &["spec", "strategy", "canary", "steps"]);
    let index = uint(obj, &["status", "currentStepIndex"]).map(|i| i as usize);
    let step = index
        .filter(|_| !steps.is_empty())
        .map(|i| (i.min(steps.len()), steps.len()));
    // No current step: no steps at all, or every step done.
    let current = index.unwrap_or(0);
    let in_steps = current < steps.len();
    let set = if flag(obj, &["status", "abort"]) {
        0
    } else if !in_steps {
        100
    } else {
        steps[..=current]
            .iter()
            .rev()
            .find_map(|s| weight(s, &["setWeight"]))
            .unwrap_or(0)
    };
    let routed = at(obj, &["spec", "strategy", "canary", "trafficRouting"]).is_some();
    let actual = weight(obj, &["status", "canary", "weights", "canary", "weight"])
        .or((!in_steps).then_some(100))
        .or(routed.then_some(set));
    (step, Some(set), actual)
}

fn weight(v: &Value, path: &[&str]) -> Option<u8> {
    uint(v, path).filter(|w| *w <= 100).map(|w| w as u8)
}

pub use crate::domain::environment::image_tag;

impl RolloutView {
    /// The canary's version: its image tag, else its pod hash.
    pub fn canary_version(&self) -> Option<Version> {
        self.canary_image
            .as_deref()
            .map(|i| Version::new(image_tag(i)))
            .or_else(|| self.canary_hash.clone().map(Version))
    }

    /// The stable version: the canary's when promoted, else the stable pod
    /// hash (the image lives on the ReplicaSet, not the Rollout).
    pub fn stable_version(&self) -> Option<Version> {
        if self.is_promoted() {
            return self.canary_version();
        }
        self.stable_hash.clone().map(Version)
    }

    /// Stable and current template are the same ReplicaSet.
    pub fn is_promoted(&self) -> bool {
        self.stable_hash.is_some() && self.stable_hash == self.canary_hash
    }

    /// Who gets traffic. Blue-green: active is stable, preview the canary at 0%.
    pub fn traffic(&self) -> TrafficSplit {
        match (&self.strategy, &self.blue_green) {
            (Strategy::BlueGreen, Some(bg)) => {
                let version = |hash: &Option<String>| {
                    hash.as_ref().map(|h| match &self.canary_hash {
                        Some(c) if c == h => {
                            self.canary_version().unwrap_or_else(|| Version(h.clone()))
                        }
                        _ => Version(h.clone()),
                    })
                };
                let preview = bg
                    .preview_selector
                    .clone()
                    .filter(|p| bg.active_selector.as_ref() != Some(p));
                TrafficSplit {
                    stable: version(&bg.active_selector),
                    canary: version(&preview),
                    canary_weight: 0,
                }
            }
            _ if self.is_promoted() => TrafficSplit {
                stable: self.stable_version(),
                canary: None,
                canary_weight: 0,
            },
            _ => TrafficSplit {
                stable: self.stable_version(),
                canary: self.canary_version(),
                canary_weight: self.actual_weight.or(self.set_weight).unwrap_or(0),
            },
        }
    }

    /// Write what the Rollout determines into an environment's status.
    pub fn apply_to(&self, env: &mut EnvironmentStatus) {
        env.traffic = self.traffic();
        env.step = self.step;
        env.health = self.health.clone();
        env.replicas = self.desired_replicas.unwrap_or(1);
    }
}

/// `prefix: msg`, cleaned (Argo's way of naming a condition's reason).
pub(super) fn joined(prefix: &str, msg: Option<&str>) -> String {
    match msg {
        Some(m) if !m.is_empty() => clean(&format!("{prefix}: {m}")),
        _ => prefix.to_owned(),
    }
}

/// The raw string at `status.<key>` of the Rollout (for comparisons).
pub(super) fn status_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    raw(obj, &["status", key])
}

#[cfg(test)]
mod tests;
