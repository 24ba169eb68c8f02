//! The Rollout status the controller writes: conditions (timestamps move
//! only when a condition changes), phase and message as Argo computes
//! them, traffic weights and replica counts.

use serde_json::{json, Map, Value};

use super::now_rfc3339;

pub(super) const ABORTED: &str = "RolloutAborted";

/// Where the rollout stands after this reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Progressing,
    /// Held by `spec.paused`.
    ManuallyPaused,
    /// Held by a pause condition (a pause step, inconclusive analysis).
    Paused,
    Aborted,
    Complete,
}

/// Set condition `kind` (keeping its times when nothing changed).
pub(super) fn set_condition(s: &mut Value, kind: &str, status: &str, reason: &str, message: &str) {
    let now = now_rfc3339();
    let mut list: Vec<Value> = s["conditions"].as_array().cloned().unwrap_or_default();
    let new = json!({"type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": now, "lastUpdateTime": now});
    match list.iter_mut().find(|c| c["type"] == kind) {
        Some(c) if c["status"] == status && c["reason"] == reason && c["message"] == message => {}
        Some(c) => {
            let transition = if c["status"] == status {
                c["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            *c = new;
            c["lastTransitionTime"] = transition;
        }
        None => list.push(new),
    }
    s["conditions"] = Value::Array(list);
}

pub(super) fn remove_condition(s: &mut Value, kind: &str) {
    if let Some(list) = s["conditions"].as_array_mut() {
        list.retain(|c| c["type"] != kind);
    }
}

pub(super) fn condition_message(s: &Value, kind: &str, reason: &str) -> Option<String> {
    s["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["reason"] == reason)
        .and_then(|c| c["message"].as_str())
        .map(str::to_string)
}

/// Remove these keys of the status object.
pub(super) fn remove(s: &mut Value, keys: &[&str]) {
    if let Some(o) = s.as_object_mut() {
        for k in keys {
            o.remove(*k);
        }
    }
}

/// Conditions, phase and message for `stage`; `rs` names the current
/// ReplicaSet.
pub(super) fn finish(s: &mut Value, stage: Stage, rs: &str, ready: u64, desired: u64) {
    if ready >= desired {
        set_condition(
            s,
            "Available",
            "True",
            "AvailableReason",
            "Rollout has minimum availability",
        );
    } else {
        set_condition(
            s,
            "Available",
            "False",
            "AvailableReason",
            "Rollout does not have minimum availability",
        );
    }
    let paused = matches!(stage, Stage::Paused | Stage::ManuallyPaused);
    if paused {
        set_condition(s, "Paused", "True", "RolloutPaused", "Rollout is paused");
    } else {
        remove_condition(s, "Paused");
    }
    let (complete, reason) = if stage == Stage::Complete {
        ("True", "RolloutCompleted")
    } else {
        ("False", "RolloutCompleted")
    };
    set_condition(s, "Completed", complete, reason, reason);
    let (phase, message) = match stage {
        Stage::Aborted => {
            let m = condition_message(s, "Progressing", ABORTED).unwrap_or_default();
            ("Degraded", Some(format!("{ABORTED}: {m}")))
        }
        Stage::ManuallyPaused => {
            set_condition(
                s,
                "Progressing",
                "Unknown",
                "RolloutPaused",
                "Rollout is paused",
            );
            ("Paused", Some("manually paused".to_string()))
        }
        Stage::Paused => {
            set_condition(
                s,
                "Progressing",
                "Unknown",
                "RolloutPaused",
                "Rollout is paused",
            );
            let reason = s["pauseConditions"][0]["reason"]
                .as_str()
                .unwrap_or("paused")
                .to_string();
            ("Paused", Some(reason))
        }
        Stage::Complete => {
            let m = format!("ReplicaSet \"{rs}\" has successfully progressed.");
            set_condition(s, "Progressing", "True", "NewReplicaSetAvailable", &m);
            ("Healthy", None)
        }
        Stage::Progressing => {
            let m = format!("ReplicaSet \"{rs}\" is progressing.");
            set_condition(s, "Progressing", "True", "ReplicaSetUpdated", &m);
            (
                "Progressing",
                Some("waiting for all steps to complete".to_string()),
            )
        }
    };
    s["phase"] = json!(phase);
    match message {
        Some(m) => s["message"] = json!(m),
        None => remove(s, &["message"]),
    }
}

/// `status.canary.weights` for the services of the canary strategy.
pub(super) fn weights(
    s: &mut Value,
    ro: &Value,
    canary_hash: &str,
    stable_hash: &str,
    weight: u64,
) {
    let canary = &ro["spec"]["strategy"]["canary"];
    let svc = |k: &str| canary[k].as_str().unwrap_or_default().to_string();
    if !s["canary"].is_object() {
        s["canary"] = Value::Object(Map::new());
    }
    s["canary"]["weights"] = json!({
        "canary": {"weight": weight, "podTemplateHash": canary_hash, "serviceName": svc("canaryService")},
        "stable": {"weight": 100 - weight.min(100), "podTemplateHash": stable_hash, "serviceName": svc("stableService")},
    });
}

/// Replica counts and the selector string.
pub(super) fn counts(s: &mut Value, ro: &Value, total: u64, updated: u64) {
    for k in [
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "HPAReplicas",
    ] {
        s[k] = json!(total);
    }
    s["updatedReplicas"] = json!(updated);
    if let Some(m) = ro
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        let sel: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        s["selector"] = json!(sel.join(","));
    }
}
