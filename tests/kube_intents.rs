//! Intents sent to a Rollout (`kubernetes::send`) over a real `kube`
//! client, against the FAKE API server in `tests/support/fake_kube/`:
//! the exact requests, and the object they leave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use blissful_infra::kubernetes::connect::{connect, Connection, Target};
use blissful_infra::kubernetes::send::{send_intent, SendError};
use blissful_infra::runtime::intent::Intent;
use serde_json::{json, Value};
use support::fake_kube::{FakeKube, ObjKey, Received, Rule};

const PAUSED: &str = "argo-rollouts/rollout-canary-paused-at-step.yaml";
const NS: &str = "shop";
const NAME: &str = "rollouts-demo";
const NOW: &str = "2026-12-06T21:30:00Z";
const MERGE: &str = "application/merge-patch+json";

async fn setup() -> (FakeKube, ObjKey, Connection) {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture_in(PAUSED, NS);
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    (kube, key, conn)
}

async fn send(conn: &Connection, intent: Intent) -> Result<Value, SendError> {
    send_intent(conn, NS, NAME, &intent, NOW).await
}

fn patches(kube: &FakeKube) -> Vec<Received> {
    kube.received()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

/// One PATCH, to the object or its `/status`, as a merge patch with our
/// field manager.
fn assert_patch(r: &Received, kube: &FakeKube, key: &ObjKey, status: bool, body: Value) {
    let path = if status {
        format!("{}/status", kube.path_of(key))
    } else {
        kube.path_of(key)
    };
    assert_eq!(r.path, path);
    assert_eq!(r.content_type.as_deref(), Some(MERGE));
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("blissful-infra")
    );
    assert_eq!(r.body_json(), body);
}

#[tokio::test]
async fn promote_clears_the_pause_conditions_on_the_status() {
    let (kube, key, conn) = setup().await;
    let after = send(&conn, Intent::Promote { full: false }).await.unwrap();
    let sent = patches(&kube);
    assert_eq!(sent.len(), 1);
    assert_patch(
        &sent[0],
        &kube,
        &key,
        true,
        json!({"status": {"pauseConditions": null}}),
    );
    let stored = kube.get(&key).unwrap();
    assert!(stored["status"].get("pauseConditions").is_none());
    assert_eq!(stored["status"]["currentStepIndex"], json!(1));
    assert_eq!(after["status"], stored["status"]);
}

#[tokio::test]
async fn promote_of_a_paused_spec_patches_status_then_spec() {
    let (kube, key, conn) = setup().await;
    send(&conn, Intent::Pause).await.unwrap();
    send(&conn, Intent::Promote { full: false }).await.unwrap();
    let sent = patches(&kube);
    assert_eq!(sent.len(), 3);
    assert_patch(
        &sent[1],
        &kube,
        &key,
        true,
        json!({"status": {"pauseConditions": null}}),
    );
    assert_patch(
        &sent[2],
        &kube,
        &key,
        false,
        json!({"spec": {"paused": false}}),
    );
    assert_eq!(kube.get(&key).unwrap()["spec"]["paused"], json!(false));
}

#[tokio::test]
async fn promote_full_sets_promote_full() {
    let (kube, key, conn) = setup().await;
    send(&conn, Intent::Promote { full: true }).await.unwrap();
    let sent = patches(&kube);
    assert_eq!(sent.len(), 1);
    assert_patch(
        &sent[0],
        &kube,
        &key,
        true,
        json!({"status": {"promoteFull": true}}),
    );
    assert_eq!(
        kube.get(&key).unwrap()["status"]["promoteFull"],
        json!(true)
    );
}

#[tokio::test]
async fn pause_and_resume_toggle_the_spec() {
    let (kube, key, conn) = setup().await;
    send(&conn, Intent::Pause).await.unwrap();
    assert_eq!(kube.get(&key).unwrap()["spec"]["paused"], json!(true));
    send(&conn, Intent::Resume).await.unwrap();
    assert_eq!(kube.get(&key).unwrap()["spec"]["paused"], json!(false));
    let sent = patches(&kube);
    assert_eq!(sent.len(), 2);
    assert_patch(
        &sent[0],
        &kube,
        &key,
        false,
        json!({"spec": {"paused": true}}),
    );
    assert_patch(
        &sent[1],
        &kube,
        &key,
        false,
        json!({"spec": {"paused": false}}),
    );
}

#[tokio::test]
async fn abort_then_retry_toggle_status_abort() {
    let (kube, key, conn) = setup().await;
    let refused = send(&conn, Intent::Retry).await.unwrap_err();
    assert!(matches!(refused, SendError::Refused(_)), "{refused:?}");
    assert!(patches(&kube).is_empty());

    let abort = Intent::Abort {
        reason: "errors".into(),
    };
    let after = send(&conn, abort).await.unwrap();
    assert_eq!(after["status"]["abort"], json!(true));
    assert_eq!(kube.get(&key).unwrap()["status"]["abort"], json!(true));
    send(&conn, Intent::Retry).await.unwrap();
    assert_eq!(kube.get(&key).unwrap()["status"]["abort"], json!(false));
    let sent = patches(&kube);
    assert_eq!(sent.len(), 2);
    assert_patch(
        &sent[0],
        &kube,
        &key,
        true,
        json!({"status": {"abort": true}}),
    );
    assert_patch(
        &sent[1],
        &kube,
        &key,
        true,
        json!({"status": {"abort": false}}),
    );
}

#[tokio::test]
async fn restart_sets_restart_at() {
    let (kube, key, conn) = setup().await;
    send(&conn, Intent::Restart).await.unwrap();
    let sent = patches(&kube);
    assert_eq!(sent.len(), 1);
    assert_patch(
        &sent[0],
        &kube,
        &key,
        false,
        json!({"spec": {"restartAt": NOW}}),
    );
    assert_eq!(kube.get(&key).unwrap()["spec"]["restartAt"], json!(NOW));
}

#[tokio::test]
async fn a_forbidden_patch_is_one_sentence() {
    let (kube, key, conn) = setup().await;
    kube.add_rule(Rule::forbid("dev", "patch", "rollouts", Some(NS)));
    kube.add_rule(Rule::forbid("dev", "patch", "rollouts/status", Some(NS)));
    let before = kube.get(&key).unwrap();
    for intent in [Intent::Pause, Intent::Abort { reason: "x".into() }] {
        let err = send(&conn, intent).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("forbidden: cannot patch rollouts.argoproj.io in {NS}")
        );
    }
    assert_eq!(kube.get(&key).unwrap(), before);
}

#[tokio::test]
async fn refusals_send_nothing() {
    let (kube, _key, conn) = setup().await;
    let err = send(&conn, Intent::Switch { to_canary: true })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("blue-green"), "{err}");
    assert!(patches(&kube).is_empty());
}
