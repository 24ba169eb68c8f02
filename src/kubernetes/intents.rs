//! Intents as the patches the `kubectl argo rollouts` plugin sends for
//! them (pure code; [`super::send`] sends them).
//!
//! What the plugin does, per command (argo-rollouts
//! `pkg/kubectl-argo-rollouts/cmd/*`), every patch a JSON merge patch:
//!
//! - `pause`: `{"spec":{"paused":true}}` on the object. The plugin has no
//!   `resume`; resuming is the same patch with `false` (the "unpause" part
//!   of its `promote`).
//! - `abort` / `retry rollout`: `{"status":{"abort":true|false}}` on the
//!   `status` subresource; if that answers 404 (a CRD without the status
//!   subresource), the same body on the object.
//! - `restart`: `{"spec":{"restartAt":"<now, RFC 3339, UTC>"}}` on the object.
//! - `promote`: depends on the Rollout (see [`promote`]): a status patch
//!   first (the step index and pause conditions), then `spec.paused: false`
//!   if the spec is paused; if the status subresource answers 404, one
//!   "unified" patch of both on the object instead.
//! - `promote --full`: `spec.paused: false` if paused, and
//!   `status.promoteFull: true` unless the new ReplicaSet is already stable.

use serde_json::{json, Value};

use crate::runtime::intent::Intent;

/// The media type of a patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
}

impl PatchKind {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Merge => "application/merge-patch+json",
        }
    }
}

/// One PATCH of a Rollout, in the order to send.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutPatch {
    /// `Some("status")`: the status subresource; `None`: the object.
    pub subresource: Option<&'static str>,
    pub kind: PatchKind,
    pub body: Value,
    /// For a status patch: if the subresource answers 404, send this body
    /// to the object instead and skip the patches that follow (the
    /// plugin's fallback for CRDs installed without the status subresource).
    pub object_fallback: Option<Value>,
}

impl RolloutPatch {
    fn object(body: Value) -> Self {
        RolloutPatch {
            subresource: None,
            kind: PatchKind::Merge,
            body,
            object_fallback: None,
        }
    }

    fn status(body: Value, fallback: Value) -> Self {
        RolloutPatch {
            subresource: Some("status"),
            kind: PatchKind::Merge,
            body,
            object_fallback: Some(fallback),
        }
    }
}

/// What Argo Rollouts cannot do for an intent, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct IntentRefused {
    pub reason: String,
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, IntentRefused> {
    Err(IntentRefused {
        reason: reason.into(),
    })
}

/// The patches for `intent` on `rollout` (the object as last read), in the
/// order to send them. An empty list: nothing to change (the plugin then
/// reports success without a request). `now_rfc3339` stamps a restart.
pub fn rollout_patches(
    intent: &Intent,
    rollout: &Value,
    now_rfc3339: &str,
) -> Result<Vec<RolloutPatch>, IntentRefused> {
    let blue_green = rollout.pointer("/spec/strategy/blueGreen").is_some();
    match intent {
        Intent::Deploy { .. } => refuse(
            "deploy is not a Rollout patch: a new version reaches an Argo Rollout through its \
             manifests (GitOps), which blissful-infra does not drive yet",
        ),
        Intent::Promote { full: false } => Ok(promote(rollout)),
        Intent::Promote { full: true } => Ok(promote_full(rollout)),
        Intent::Pause => Ok(vec![RolloutPatch::object(
            json!({"spec": {"paused": true}}),
        )]),
        Intent::Resume => Ok(vec![RolloutPatch::object(
            json!({"spec": {"paused": false}}),
        )]),
        Intent::Abort { .. } => {
            let body = json!({"status": {"abort": true}});
            Ok(vec![RolloutPatch::status(body.clone(), body)])
        }
        Intent::Retry => {
            if rollout.pointer("/status/abort").and_then(Value::as_bool) != Some(true) {
                return refuse("retry: the rollout is not aborted (status.abort is not true)");
            }
            let body = json!({"status": {"abort": false}});
            Ok(vec![RolloutPatch::status(body.clone(), body)])
        }
        Intent::Restart => {
            if now_rfc3339.trim().is_empty() {
                return refuse("restart: no timestamp for spec.restartAt");
            }
            Ok(vec![RolloutPatch::object(
                json!({"spec": {"restartAt": now_rfc3339}}),
            )])
        }
        Intent::Undo { to_revision } => {
            let target = match to_revision {
                Some(n) if *n > 0 => format!("revision {n}"),
                _ => "the previous revision".to_string(),
            };
            refuse(format!(
                "undo to {target} is not a patch of the Rollout alone: it restores spec.template \
                 from the ReplicaSet of that revision (kubernetes::undo_send reads them)"
            ))
        }
        Intent::Switch { .. } if !blue_green => refuse(
            "switch is for blue-green rollouts; this rollout is a canary (use promote or abort)",
        ),
        // Argo's blue-green promote is the switch: the preview becomes active.
        Intent::Switch { to_canary: true } => Ok(promote(rollout)),
        Intent::Switch { to_canary: false } => refuse(
            "switch back: Argo has no such command; abort before the promotion keeps the \
             active version, undo after it restores the previous one",
        ),
    }
}

fn spec_paused(ro: &Value) -> bool {
    ro.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
}

fn has_pause_conditions(ro: &Value) -> bool {
    ro.pointer("/status/pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// The index of the step after the current one, capped at the number of
/// steps (Argo's `GetCurrentCanaryStep`, then `+1` unless past the end);
/// `None` without canary steps.
fn next_step_index(ro: &Value) -> Option<u64> {
    let steps = ro
        .pointer("/spec/strategy/canary/steps")
        .and_then(Value::as_array)?
        .len() as u64;
    if steps == 0 {
        return None;
    }
    let current = ro
        .pointer("/status/currentStepIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(if current < steps {
        current + 1
    } else {
        current
    })
}

/// The plugin's `promote` (no flags).
fn promote(ro: &Value) -> Vec<RolloutPatch> {
    let canary = ro.pointer("/spec/strategy/canary").is_some();
    let inconclusive = canary
        && ro
            .pointer("/status/canary/currentStepAnalysisRunStatus/status")
            .and_then(Value::as_str)
            == Some("Inconclusive");
    let controller_pause = ro
        .pointer("/status/controllerPause")
        .and_then(Value::as_bool)
        == Some(true);
    let mut unified = json!({"spec": {"paused": false}, "status": {"pauseConditions": null}});
    let status = if inconclusive && has_pause_conditions(ro) && controller_pause {
        next_step_index(ro).map(|i| {
            json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": i}})
        })
    } else if has_pause_conditions(ro) {
        Some(json!({"status": {"pauseConditions": null}}))
    } else if canary {
        next_step_index(ro).map(|i| {
            unified = json!({"spec": {"paused": false}, "status": {"pauseConditions": null, "currentStepIndex": i}});
            json!({"status": {"pauseConditions": null, "currentStepIndex": i}})
        })
    } else {
        None
    };
    let spec = spec_paused(ro).then(|| json!({"spec": {"paused": false}}));
    sequence(status, spec, unified)
}

/// The plugin's `promote --full`.
fn promote_full(ro: &Value) -> Vec<RolloutPatch> {
    let current = ro.pointer("/status/currentPodHash").and_then(Value::as_str);
    let stable = ro.pointer("/status/stableRS").and_then(Value::as_str);
    let status = (current != stable).then(|| json!({"status": {"promoteFull": true}}));
    let spec = spec_paused(ro).then(|| json!({"spec": {"paused": false}}));
    let unified = json!({"spec": {"paused": false}, "status": {"promoteFull": true}});
    sequence(status, spec, unified)
}

/// A status patch (with the unified fallback), then a spec patch.
fn sequence(status: Option<Value>, spec: Option<Value>, unified: Value) -> Vec<RolloutPatch> {
    let mut out = Vec::new();
    if let Some(body) = status {
        out.push(RolloutPatch::status(body, unified));
    }
    if let Some(body) = spec {
        out.push(RolloutPatch::object(body));
    }
    out
}

#[cfg(test)]
mod tests;
