//! A pod as an instance of an environment: phase, readiness, restarts, and
//! why it is not running well (CrashLoopBackOff, OOMKilled called out).

use serde_json::Value;

use crate::domain::environment::{InstanceDetail, InstancePhase, InstanceStatus, Version};
use crate::kubernetes::fields::{at, flag, list, raw, text, uint};
use crate::kubernetes::rollout::image_tag;

/// The label Argo Rollouts puts on its ReplicaSets and their pods.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The image of the first container of a pod spec.
pub fn first_image(spec: &Value) -> Option<String> {
    list(spec, &["containers"])
        .first()
        .and_then(|c| text(c, &["image"]))
}

/// The name of the first container of a pod spec.
pub fn first_container(spec: &Value) -> Option<String> {
    list(spec, &["containers"])
        .first()
        .and_then(|c| raw(c, &["name"]))
        .map(str::to_string)
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    list(pod, &["status", "conditions"])
        .iter()
        .any(|c| raw(c, &["type"]) == Some(kind) && raw(c, &["status"]) == Some("True"))
}

/// Why a pod is not running well, in the words of the kubelet: a waiting
/// reason other than the ordinary start-up ones, a last termination that
/// was not a clean exit, or the pod's own reason (Evicted).
fn trouble(pod: &Value) -> Option<String> {
    const ORDINARY: [&str; 2] = ["ContainerCreating", "PodInitializing"];
    let statuses = list(pod, &["status", "containerStatuses"]);
    let waiting = statuses
        .iter()
        .filter_map(|c| text(c, &["state", "waiting", "reason"]))
        .find(|r| !ORDINARY.contains(&r.as_str()));
    let last = statuses
        .iter()
        .filter_map(|c| text(c, &["lastState", "terminated", "reason"]))
        .find(|r| r != "Completed");
    match (waiting, last) {
        (Some(w), Some(l)) if w != l => Some(format!("{w} (last exit: {l})")),
        (Some(w), _) => Some(w),
        (None, Some(l)) if l == "OOMKilled" => Some(l),
        _ => text(pod, &["status", "reason"]),
    }
}

/// One pod as an instance (id: the pod name, version: its image tag).
pub fn pod_instance(pod: &Value) -> InstanceStatus {
    let spec = at(pod, &["spec"]).unwrap_or(&Value::Null);
    let version = first_image(spec)
        .map(|i| image_tag(&i))
        .or_else(|| text(pod, &["metadata", "labels", HASH_LABEL]))
        .unwrap_or_else(|| "-".into());
    let terminating = at(pod, &["metadata", "deletionTimestamp"]).is_some();
    let phase = match raw(pod, &["status", "phase"]) {
        _ if terminating => InstancePhase::Stopped,
        Some("Succeeded" | "Failed") => InstancePhase::Stopped,
        Some("Running") if condition_true(pod, "Ready") => InstancePhase::Ready,
        _ => InstancePhase::Starting,
    };
    let restarts = list(pod, &["status", "containerStatuses"])
        .iter()
        .filter_map(|c| uint(c, &["restartCount"]))
        .sum::<u64>();
    let reason = trouble(pod).or_else(|| terminating.then(|| "Terminating".to_string()));
    InstanceStatus {
        id: text(pod, &["metadata", "name"]).unwrap_or_else(|| "-".into()),
        version: Version(version),
        phase,
        restarts: u32::try_from(restarts).unwrap_or(u32::MAX),
        detail: InstanceDetail::Pod {
            node: text(spec, &["nodeName"]),
            reason,
        },
    }
}

/// Whether `obj` (a ReplicaSet or an AnalysisRun) is controlled by the Rollout `name`.
pub fn owned_by_rollout(obj: &Value, name: &str) -> bool {
    list(obj, &["metadata", "ownerReferences"])
        .iter()
        .any(|o| raw(o, &["kind"]) == Some("Rollout") && raw(o, &["name"]) == Some(name))
}

/// The ReplicaSet that controls a pod, by name.
pub fn owner_replicaset(pod: &Value) -> Option<&str> {
    list(pod, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| raw(o, &["kind"]) == Some("ReplicaSet") && flag(o, &["controller"]))
        .or_else(|| {
            list(pod, &["metadata", "ownerReferences"])
                .iter()
                .find(|o| raw(o, &["kind"]) == Some("ReplicaSet"))
        })
        .and_then(|o| raw(o, &["name"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::fixture::fixture;

    #[test]
    fn a_ready_rollout_pod_is_ready_with_its_image_tag() {
        let pod = fixture("core/pod-rollout-aborted-stable-running.yaml");
        let i = pod_instance(&pod);
        assert_eq!(i.id, "rollout-background-analysis-7d84d44bb8-z5wps");
        assert_eq!(i.version, Version::new("blue"));
        assert_eq!(i.phase, InstancePhase::Ready);
        assert_eq!(
            i.detail,
            InstanceDetail::Pod {
                node: Some("minikube".into()),
                reason: None
            }
        );
        assert_eq!(
            owner_replicaset(&pod),
            Some("rollout-background-analysis-7d84d44bb8")
        );
    }

    #[test]
    fn crash_loops_are_called_out_with_the_last_exit() {
        let i = pod_instance(&fixture("core/pod-crashloopbackoff.yaml"));
        assert_eq!(i.phase, InstancePhase::Starting);
        assert_eq!(i.restarts, 3);
        let InstanceDetail::Pod { reason, .. } = i.detail else {
            panic!("not a pod")
        };
        assert_eq!(
            reason.as_deref(),
            Some("CrashLoopBackOff (last exit: Error)")
        );
        let pending = pod_instance(&fixture("core/pod-pending.yaml"));
        assert_eq!(pending.phase, InstancePhase::Starting);
        let failed = pod_instance(&fixture("core/pod-failed.yaml"));
        assert_eq!(failed.phase, InstancePhase::Stopped);
    }

    #[test]
    fn an_oom_kill_is_named() {
        let mut pod = fixture("core/pod-rollout-aborted-stable-running.yaml");
        pod["status"]["containerStatuses"][0]["lastState"] =
            serde_json::json!({"terminated": {"reason": "OOMKilled", "exitCode": 137}});
        let InstanceDetail::Pod { reason, .. } = pod_instance(&pod).detail else {
            panic!("not a pod")
        };
        assert_eq!(reason.as_deref(), Some("OOMKilled"));
    }
}
