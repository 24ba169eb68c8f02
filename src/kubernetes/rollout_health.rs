//! A Rollout's health. Since Rollouts v1.0 the controller writes
//! `status.phase` and `status.message`; older objects carry neither, so the
//! phase is derived from conditions, `abort`, `pauseConditions` and replica
//! counts the way kubectl-argo-rollouts does for them, with two choices of
//! ours: an abort is `Aborted` (Argo calls it Degraded), and a pause wins
//! over a timed-out Progressing condition (a controller from v1.0 on does not
//! time out a paused rollout, so such a condition predates the pause).

use serde_json::Value;

use super::fields::{at, clean, count, flag, list, raw, text};
use super::rollout::{joined, status_str, strategy, Strategy};
use crate::domain::environment::Health;

const ABORTED: &str = "RolloutAborted";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const INVALID_SPEC: &str = "InvalidSpec";

pub(super) fn health(obj: &Value) -> Health {
    let Some(status) = at(obj, &["status"]).filter(|s| s.is_object()) else {
        return Health::Unknown;
    };
    let observed = [
        "phase",
        "conditions",
        "currentPodHash",
        "observedGeneration",
    ];
    if observed.iter().all(|k| status.get(*k).is_none()) {
        return Health::Unknown;
    }
    if !generation_observed(obj) {
        return Health::Progressing("waiting for rollout spec update to be observed".into());
    }
    if flag(status, &["abort"])
        || status_str(obj, "message").is_some_and(|m| m.starts_with(ABORTED))
    {
        return Health::Aborted(abort_message(obj));
    }
    if flag(status, &["controllerPause"]) && list(status, &["pauseConditions"]).is_empty() {
        return Health::Progressing("waiting for rollout to unpause".into());
    }
    let message = text(status, &["message"]);
    let phase = match status.get("phase") {
        None => return derived(obj, status),
        Some(p) => p.as_str(),
    };
    match phase {
        Some("Healthy") => Health::Healthy,
        Some("Progressing") => Health::Progressing(message.unwrap_or_else(|| "progressing".into())),
        Some("Paused") => Health::Paused(
            message
                .or_else(|| first_pause_reason(status))
                .unwrap_or_else(|| "paused".into()),
        ),
        Some("Degraded") => Health::Degraded(message.unwrap_or_else(|| "degraded".into())),
        _ => Health::Unknown,
    }
}

/// `status.observedGeneration` is a string: a generation from v0.10 on, a
/// hash before (and a hash is taken as observed, as Argo does).
fn generation_observed(obj: &Value) -> bool {
    let observed = status_str(obj, "observedGeneration").and_then(|s| s.parse::<u64>().ok());
    match (
        observed,
        at(obj, &["metadata", "generation"]).and_then(Value::as_u64),
    ) {
        (Some(o), Some(g)) => o >= g,
        _ => true,
    }
}

fn conditions(status: &Value) -> impl Iterator<Item = &Value> {
    list(status, &["conditions"]).iter()
}

fn condition_message(prefix: &str, c: &Value) -> String {
    joined(prefix, text(c, &["message"]).as_deref())
}

fn abort_message(obj: &Value) -> String {
    let status = at(obj, &["status"]).unwrap_or(&Value::Null);
    if let Some(m) = conditions(status)
        .find(|c| raw(c, &["reason"]) == Some(ABORTED))
        .and_then(|c| text(c, &["message"]))
    {
        return m;
    }
    if let Some(m) = raw(status, &["message"]) {
        let m = m.strip_prefix(ABORTED).unwrap_or(m);
        let m = clean(m.trim_start_matches(':'));
        if !m.is_empty() {
            return m;
        }
    }
    text(
        status,
        &["canary", "currentBackgroundAnalysisRunStatus", "message"],
    )
    .unwrap_or_else(|| "aborted".into())
}

fn first_pause_reason(status: &Value) -> Option<String> {
    list(status, &["pauseConditions"])
        .iter()
        .find_map(|p| text(p, &["reason"]))
}

fn derived(obj: &Value, status: &Value) -> Health {
    if let Some(c) = conditions(status).find(|c| raw(c, &["type"]) == Some(INVALID_SPEC)) {
        return Health::Degraded(condition_message(INVALID_SPEC, c));
    }
    if flag(obj, &["spec", "paused"]) {
        return Health::Paused("manually paused".into());
    }
    if let Some(reason) = first_pause_reason(status) {
        return Health::Paused(reason);
    }
    if !list(status, &["pauseConditions"]).is_empty() {
        return Health::Paused("paused".into());
    }
    if let Some(c) = conditions(status).find(|c| raw(c, &["reason"]) == Some(TIMED_OUT)) {
        return Health::Degraded(condition_message(TIMED_OUT, c));
    }
    let n = |key| count(status, &[key]).unwrap_or(0);
    let desired = count(obj, &["spec", "replicas"]).unwrap_or(1);
    let progressing = |why: &str| Health::Progressing(why.into());
    if n("updatedReplicas") < desired {
        return progressing("more replicas need to be updated");
    }
    if n("availableReplicas") < n("updatedReplicas") {
        return progressing("updated replicas are still becoming available");
    }
    let current = status_str(obj, "currentPodHash");
    let stable = status_str(obj, "stableRS").or_else(|| raw(status, &["canary", "stableRS"]));
    match strategy(obj) {
        Strategy::BlueGreen => {
            let active = raw(status, &["blueGreen", "activeSelector"]).filter(|s| !s.is_empty());
            if active.is_none() || active != current {
                return progressing("active service cutover pending");
            }
            // Blue-green objects from before stableRS existed have only the
            // active selector; a present stableRS must match.
            if status.get("stableRS").is_some() && stable != current {
                return progressing("waiting for post-promotion analysis or verification");
            }
        }
        Strategy::Canary => {
            let routed = at(obj, &["spec", "strategy", "canary", "trafficRouting"]).is_some();
            if !routed && n("replicas") > n("updatedReplicas") {
                return progressing("old replicas are pending termination");
            }
            if stable.is_none_or(str::is_empty) || stable != current {
                return progressing("waiting for all steps to complete");
            }
        }
        Strategy::Unknown => return Health::Unknown,
    }
    Health::Healthy
}
