//! Namespaces in the fake as the apiserver keeps them: create (201, the
//! `kubernetes` finalizer, phase Active; 409 AlreadyExists), list by label,
//! and a DELETE that leaves the Namespace `Terminating` for a moment, then
//! removes what is in it and the Namespace (404 NotFound after).

use std::time::Duration;

use serde_json::json;

use super::support::fake_kube::client::{assert_status, client, get_json, post_json};
use super::support::fake_kube::{FakeKube, ObjKey};

const NAMESPACES: &str = "/api/v1/namespaces";

#[tokio::test]
async fn a_deleted_namespace_terminates_then_goes_with_its_contents() {
    let kube = FakeKube::start().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "shop-pr-1", "labels": {"team": "a"}}});
    let (code, made) = post_json(&kube, NAMESPACES, &ns).await;
    assert_eq!(code, 201, "{made}");
    assert_eq!(made["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(made["status"]["phase"], "Active");
    let (code, body) = post_json(&kube, NAMESPACES, &ns).await;
    assert_eq!(code, 409);
    assert_status(&body, 409, "AlreadyExists");
    let other = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}});
    assert_eq!(post_json(&kube, NAMESPACES, &other).await.0, 201);
    let (_, list) = get_json(&kube, &format!("{NAMESPACES}?labelSelector=team%3Da")).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["metadata"]["name"], "shop-pr-1");

    let inside = kube.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                 "metadata": {"name": "web", "namespace": "shop-pr-1"}}));
    let resp = client()
        .delete(format!("{}{NAMESPACES}/shop-pr-1", kube.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let marked: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(marked["status"]["phase"], "Terminating");
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    let (code, now) = get_json(&kube, &format!("{NAMESPACES}/shop-pr-1")).await;
    assert_eq!(
        (code, now["status"]["phase"].as_str()),
        (200, Some("Terminating"))
    );
    assert!(kube.get(&inside).is_some(), "contents go after a moment");

    let key = ObjKey::new("v1", "namespaces", "", "shop-pr-1");
    for _ in 0..50 {
        if kube.get(&key).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kube.get(&key).is_none(), "still there");
    assert!(kube.get(&inside).is_none());
    let (code, body) = get_json(&kube, &format!("{NAMESPACES}/shop-pr-1")).await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["details"]["kind"], "namespaces");
}
