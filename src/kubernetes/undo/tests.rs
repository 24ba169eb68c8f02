//! `undo` planned on upstream Rollouts, Deployments' ReplicaSets and the
//! ReplicaSets they control.

use serde_json::{json, Value};

use super::*;
use crate::kubernetes::fixture::fixture;

fn aborted() -> (Value, Vec<Value>) {
    let ro = fixture("argo-rollouts/rollout-canary-aborted.yaml");
    let rs = vec![
        fixture("core/replicaset-aborted-canary.yaml"),
        fixture("core/replicaset-aborted-stable.yaml"),
    ];
    (ro, rs)
}

fn ops(plan: UndoPlan) -> (i64, String, Value) {
    match plan {
        UndoPlan::Patch {
            revision,
            replica_set,
            ops,
        } => (revision, replica_set, ops),
        other => panic!("expected a patch, got {other:?}"),
    }
}

#[test]
fn rollout_undo_restores_the_previous_revision_without_the_hash_label() {
    let (ro, rs) = aborted();
    let (rev, name, ops) = ops(plan_undo(Workload::Rollout, &ro, &rs, None).unwrap());
    assert_eq!(rev, 1);
    assert_eq!(name, "rollout-background-analysis-7d84d44bb8");
    let mut want = rs[1]["spec"]["template"].clone();
    want["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("rollouts-pod-template-hash");
    assert_eq!(
        ops,
        json!([{"op": "replace", "path": "/spec/template", "value": want}])
    );
    assert_eq!(
        ops[0]["value"]["spec"]["containers"][0]["image"],
        "argoproj/rollouts-demo:blue"
    );
    // Revision 0 is "the previous one" too, as with --to-revision=0.
    assert_eq!(
        plan_undo(Workload::Rollout, &ro, &rs, Some(0)).unwrap(),
        plan_undo(Workload::Rollout, &ro, &rs, None).unwrap()
    );
}

#[test]
fn rollout_undo_to_the_current_template_is_skipped() {
    // The canary ReplicaSet carries server defaults the Rollout leaves unset.
    let (ro, rs) = aborted();
    assert_eq!(
        plan_undo(Workload::Rollout, &ro, &rs, Some(2)).unwrap(),
        UndoPlan::Skipped { revision: 2 }
    );
}

#[test]
fn only_controlled_replica_sets_count() {
    let (ro, _) = aborted();
    let others = vec![
        fixture("core/replicaset-canary-stable.yaml"),
        fixture("core/replicaset-canary-new.yaml"),
    ];
    let err = plan_undo(Workload::Rollout, &ro, &others, None).unwrap_err();
    assert!(err.reason.contains("no earlier revision"), "{err}");
    let err = plan_undo(Workload::Rollout, &ro, &others, Some(30)).unwrap_err();
    assert!(err.reason.contains("revision 30"), "{err}");
    // Their own Rollout finds them.
    let demo = fixture("argo-rollouts/rollout-canary-degraded-progress-deadline.yaml");
    let (rev, name, ops) = ops(plan_undo(Workload::Rollout, &demo, &others, None).unwrap());
    assert_eq!((rev, name.as_str()), (30, "canary-demo-877894d5b"));
    assert_eq!(
        ops[0]["value"]["spec"]["containers"][0]["image"],
        "argoproj/rollouts-demo:green"
    );
}

fn deployment_replica_sets() -> Vec<Value> {
    let list = fixture("core/replicaset-list.json");
    list["items"].as_array().unwrap().clone()
}

/// A Deployment `foo` owning the upstream ReplicaSets (the fixtures have
/// none of its own), at revision 4 with kubectl's bookkeeping.
fn deployment(paused: bool) -> Value {
    let rs = deployment_replica_sets();
    let current = rs
        .iter()
        .find(|r| r["metadata"]["name"] == "foo-548d8d7b88")
        .unwrap();
    let mut template = current["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "foo", "namespace": "default",
            "uid": "3e3ed62b-b868-45a7-aabb-462d421aa4ad",
            "annotations": {"deployment.kubernetes.io/revision": "4", "team": "shop"}},
        "spec": {"paused": paused, "selector": {"matchLabels": {"app": "bar"}}, "template": template},
    })
}

#[test]
fn deployment_undo_patches_template_and_annotations() {
    let rs = deployment_replica_sets();
    let (rev, name, ops) =
        ops(plan_undo(Workload::Deployment, &deployment(false), &rs, None).unwrap());
    assert_eq!((rev, name.as_str()), (3, "foo-64dff5fd7c"));
    assert_eq!(ops[0]["path"], "/spec/template");
    assert!(ops[0]["value"]["metadata"]["labels"]
        .get("pod-template-hash")
        .is_none());
    assert_eq!(
        ops[1],
        json!({"op": "replace", "path": "/metadata/annotations", "value": {
            "deployment.kubernetes.io/revision": "4",
            "kubernetes.io/change-cause": "kubectl.exe apply --filename=deployment.yaml --record=true"
        }})
    );
    let err = plan_undo(Workload::Deployment, &deployment(true), &rs, None).unwrap_err();
    assert!(err.reason.contains("paused"), "{err}");
}

#[test]
fn selectors_cover_labels_and_expressions() {
    let (ro, _) = aborted();
    assert_eq!(selector(&ro).unwrap(), "app=rollout-background-analysis");
    let exprs = json!({"spec": {"selector": {"matchLabels": {"a": "b"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "api"]},
        {"key": "old", "operator": "DoesNotExist"}]}}});
    assert_eq!(selector(&exprs).unwrap(), "a=b,tier in (web,api),!old");
    assert!(selector(&json!({"spec": {}})).is_err());
}

#[test]
fn derivative_ignores_what_the_first_leaves_unset() {
    let a = json!({"spec": {"containers": [{"image": "x", "args": []}]}, "metadata": {"creationTimestamp": null}});
    let b = json!({"spec": {"containers": [{"image": "x", "imagePullPolicy": "Always"}]}, "metadata": {}});
    assert!(derivative(&a, &b));
    assert!(!derivative(&b, &a));
    assert!(!derivative(
        &json!({"spec": {"containers": [{"image": "y"}]}}),
        &b
    ));
}
