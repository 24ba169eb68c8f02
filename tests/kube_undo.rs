//! `undo [--to-revision N]` over a real `kube` client against the FAKE API
//! server (`tests/support/fake_kube/`): the exact JSON patch for a Rollout
//! and a Deployment, the refusals, and (with the simulated controller) an
//! aborted canary going back to its stable revision.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use blissful_infra::domain::environment::Health;
use blissful_infra::kubernetes::connect::{connect, Connection, Target};
use blissful_infra::kubernetes::rollout_view;
use blissful_infra::kubernetes::send::{send_intent, SendError};
use blissful_infra::kubernetes::undo::{UndoPlan, Workload};
use blissful_infra::kubernetes::undo_send::send_undo;
use blissful_infra::runtime::intent::Intent;
use serde_json::{json, Value};
use support::fake_kube::client::patch;
use support::fake_kube::{read_fixture, FakeKube, ObjKey, Received};

const JSON_PATCH: &str = "application/json-patch+json";
const NOW: &str = "2026-12-06T21:30:00Z";

async fn start() -> (FakeKube, Connection) {
    let kube = FakeKube::start().await;
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    (kube, conn)
}

fn patches(kube: &FakeKube) -> Vec<Received> {
    kube.received()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

fn without_hash(template: &Value, label: &str) -> Value {
    let mut t = template.clone();
    t["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(label);
    t
}

#[tokio::test]
async fn rollout_undo_sends_the_plugins_json_patch() {
    let (kube, conn) = start().await;
    let key = kube.seed_fixture("argo-rollouts/rollout-canary-aborted.yaml");
    kube.seed_fixture("core/replicaset-aborted-canary.yaml");
    let stable = kube.seed_fixture("core/replicaset-aborted-stable.yaml");
    // Another Rollout's ReplicaSets in the namespace do not count.
    kube.seed_fixture_in("core/replicaset-canary-stable.yaml", "default");

    let after = send_intent(
        &conn,
        "default",
        "rollout-background-analysis",
        &Intent::Undo { to_revision: None },
        NOW,
    )
    .await
    .unwrap();
    let sent = patches(&kube);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, kube.path_of(&key));
    assert_eq!(sent[0].content_type.as_deref(), Some(JSON_PATCH));
    assert_eq!(
        sent[0].query.get("fieldManager").map(String::as_str),
        Some("blissful-infra")
    );
    let want = without_hash(
        &kube.get(&stable).unwrap()["spec"]["template"],
        "rollouts-pod-template-hash",
    );
    assert_eq!(
        sent[0].body_json(),
        json!([{"op": "replace", "path": "/spec/template", "value": want}])
    );
    let stored = kube.get(&key).unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "argoproj/rollouts-demo:blue"
    );
    assert_eq!(after["spec"], stored["spec"]);
    let list = kube.received_matching("GET", "/namespaces/default/replicasets");
    assert_eq!(
        list[0].query.get("labelSelector").map(String::as_str),
        Some("app=rollout-background-analysis")
    );
}

#[tokio::test]
async fn undo_to_the_current_or_a_missing_revision_sends_nothing() {
    let (kube, conn) = start().await;
    kube.seed_fixture("argo-rollouts/rollout-canary-aborted.yaml");
    kube.seed_fixture("core/replicaset-aborted-canary.yaml");
    kube.seed_fixture("core/replicaset-aborted-stable.yaml");
    let done = send_undo(
        &conn,
        Workload::Rollout,
        "default",
        "rollout-background-analysis",
        Some(2),
    )
    .await
    .unwrap();
    assert_eq!(done.plan, UndoPlan::Skipped { revision: 2 });
    assert!(done
        .summary(Workload::Rollout, "rollout-background-analysis")
        .starts_with("skipped undo"));
    let err = send_intent(
        &conn,
        "default",
        "rollout-background-analysis",
        &Intent::Undo {
            to_revision: Some(7),
        },
        NOW,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SendError::Refused(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "undo: unable to find revision 7 in the history"
    );
    assert!(patches(&kube).is_empty());
}

#[tokio::test]
async fn deployment_undo_replaces_template_and_annotations() {
    let (kube, conn) = start().await;
    let list = read_fixture("core/replicaset-list.json");
    let items = list["items"].as_array().unwrap();
    for rs in items {
        let mut rs = rs.clone();
        rs["apiVersion"] = json!("apps/v1"); // list items leave it to the list
        rs["kind"] = json!("ReplicaSet");
        kube.put(rs);
    }
    let current = items
        .iter()
        .find(|r| r["metadata"]["name"] == "foo-548d8d7b88")
        .unwrap();
    let previous = items
        .iter()
        .find(|r| r["metadata"]["name"] == "foo-64dff5fd7c")
        .unwrap();
    // The fixtures have no Deployment object; this one owns the ReplicaSets.
    let key = kube.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "foo", "namespace": "default", "uid": "3e3ed62b-b868-45a7-aabb-462d421aa4ad",
            "annotations": {"deployment.kubernetes.io/revision": "4", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "bar"}},
            "template": without_hash(&current["spec"]["template"], "pod-template-hash")}}));
    let done = send_undo(&conn, Workload::Deployment, "default", "foo", None)
        .await
        .unwrap();
    assert!(
        matches!(done.plan, UndoPlan::Patch { revision: 3, .. }),
        "{:?}",
        done.plan
    );
    let sent = patches(&kube);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].path,
        "/apis/apps/v1/namespaces/default/deployments/foo"
    );
    assert_eq!(sent[0].content_type.as_deref(), Some(JSON_PATCH));
    assert_eq!(
        sent[0].body_json(),
        json!([
            {"op": "replace", "path": "/spec/template", "value": without_hash(&previous["spec"]["template"], "pod-template-hash")},
            {"op": "replace", "path": "/metadata/annotations", "value": {
                "deployment.kubernetes.io/revision": "4",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kubernetes.io/change-cause": "kubectl.exe apply --filename=deployment.yaml --record=true"}},
        ])
    );
    assert_eq!(
        kube.get(&key).unwrap()["metadata"]["annotations"]["kubernetes.io/change-cause"],
        previous["metadata"]["annotations"]["kubernetes.io/change-cause"]
    );
}

#[tokio::test]
async fn undo_of_an_aborted_canary_returns_to_stable_at_once() {
    let (kube, conn) = start().await;
    let key = kube.seed_fixture_in(
        "argo-rollouts/rollout-canary-healthy-all-steps.yaml",
        "shop",
    );
    let _ctl = kube.start_rollouts_controller(0.005);
    let wait = |what: &'static str, pred: fn(&Value) -> bool| {
        let (kube, key) = (kube.clone(), key.clone());
        async move {
            for _ in 0..3000 {
                let ro = kube.get(&key).unwrap();
                if pred(&ro) {
                    return ro;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("waited for {what}: {:#}", kube.get(&key).unwrap()["status"]);
        }
    };
    wait("adoption", |r| r["status"]["phase"] == "Healthy").await;
    let ops = json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/argoprojlabs/argocd-e2e-container:0.2"}]);
    patch(&kube, &kube.path_of(&key), JSON_PATCH, &ops.to_string()).await;
    wait("the indefinite pause", |r| {
        r["status"]["currentStepIndex"] == 3 && r["status"]["phase"] == "Paused"
    })
    .await;
    let abort = Intent::Abort {
        reason: "bad".into(),
    };
    send_intent(&conn, "shop", "guestbook-canary", &abort, NOW)
        .await
        .unwrap();
    wait("abort", |r| r["status"]["phase"] == "Degraded").await;
    let undo = Intent::Undo { to_revision: None };
    send_intent(&conn, "shop", "guestbook-canary", &undo, NOW)
        .await
        .unwrap();
    let back = wait("stable again", |r| r["status"]["phase"] == "Healthy").await;
    assert_eq!(rollout_view(&back).health, Health::Healthy);
    assert_eq!(back["status"]["currentPodHash"], "84ccfddd66");
    assert_eq!(back["status"]["stableRS"], "84ccfddd66");
    assert_eq!(
        back["spec"]["template"]["spec"]["containers"][0]["image"],
        "quay.io/argoprojlabs/argocd-e2e-container:0.1"
    );
    let rs = kube
        .get(&ObjKey::new(
            "apps/v1",
            "replicasets",
            "shop",
            "guestbook-canary-84ccfddd66",
        ))
        .unwrap();
    assert_eq!(rs["spec"]["replicas"], 5);
}
