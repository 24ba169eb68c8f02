//! Tests of the FAKE Kubernetes API server in `tests/support/fake_kube/`
//! (test infrastructure only), driven with reqwest as a plain HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

#[path = "fake_kube/namespaces.rs"]
mod namespaces;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_kube::client::{assert_status, client, get_json, named, names, patch, Lines};
use support::fake_kube::{read_fixture, FakeKube, ObjKey, Rule};

const CANARY_PAUSED: &str = "argo-rollouts/rollout-canary-paused-at-step.yaml";
const ROLLOUTS: &str = "/apis/argoproj.io/v1alpha1";

#[tokio::test]
async fn discovery_serves_core_and_argo_groups() {
    let kube = FakeKube::start().await;
    let (code, api) = get_json(&kube, "/api").await;
    assert_eq!(code, 200);
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));

    let (_, v1) = get_json(&kube, "/api/v1").await;
    assert_eq!(v1["kind"], "APIResourceList");
    assert_eq!(v1["groupVersion"], "v1");
    let core = names(&v1, "resources");
    for n in [
        "pods",
        "pods/log",
        "pods/status",
        "services",
        "events",
        "namespaces",
    ] {
        assert!(core.contains(&n), "{n} in {core:?}");
    }
    let ns = named(&v1, "resources", "namespaces");
    assert_eq!(ns["namespaced"], false);

    let (_, apis) = get_json(&kube, "/apis").await;
    assert_eq!(apis["kind"], "APIGroupList");
    let argo = named(&apis, "groups", "argoproj.io");
    let gv = json!({"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"});
    assert_eq!(argo["preferredVersion"], gv);
    assert_eq!(argo["versions"], json!([gv]));

    let (code, argo) = get_json(&kube, ROLLOUTS).await;
    assert_eq!(code, 200);
    assert_eq!(argo["groupVersion"], "argoproj.io/v1alpha1");
    let res = names(&argo, "resources");
    for n in [
        "rollouts",
        "rollouts/status",
        "analysisruns",
        "analysisruns/status",
        "applications",
    ] {
        assert!(res.contains(&n), "{n} in {res:?}");
    }
    let ro = named(&argo, "resources", "rollouts");
    assert_eq!(ro["kind"], "Rollout");
    assert_eq!(ro["namespaced"], true);
    assert!(ro["verbs"].as_array().unwrap().contains(&json!("watch")));
    let st = named(&argo, "resources", "rollouts/status");
    assert_eq!(st["verbs"], json!(["get", "patch", "update"]));
}

#[tokio::test]
async fn discovery_without_argo_is_crd_not_installed() {
    let kube = FakeKube::start_hiding(&["argoproj.io"]).await;
    let (_, apis) = get_json(&kube, "/apis").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(!groups.contains(&"argoproj.io"), "{groups:?}");
    assert!(groups.contains(&"apps"));
    let resp = client()
        .get(format!("{}{ROLLOUTS}", kube.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let (code, body) = get_json(&kube, &format!("{ROLLOUTS}/namespaces/default/rollouts")).await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );

    // Installing the CRDs later makes them appear.
    kube.set_group_hidden("argoproj.io", false);
    let (code, _) = get_json(&kube, ROLLOUTS).await;
    assert_eq!(code, 200);
}

#[test]
fn yaml_timestamps_and_string_generations_stay_strings() {
    let legacy = read_fixture("argo-rollouts/rollout-canary-progressing-setweight.yaml");
    assert_eq!(
        legacy["metadata"]["creationTimestamp"],
        json!("2019-04-26T20:17:43Z")
    );
    assert_eq!(
        legacy["status"]["conditions"][0]["lastTransitionTime"],
        json!("2019-04-26T20:18:05Z")
    );
    assert_eq!(legacy["status"]["observedGeneration"], json!("6df79499bc"));
    // `creationTimestamp: null` in the pod template stays null.
    assert_eq!(
        legacy["spec"]["template"]["metadata"]["creationTimestamp"],
        Value::Null
    );
    let pod = read_fixture("core/pod-crashloopbackoff.yaml");
    let started = pod.pointer("/status/startTime").unwrap();
    assert!(started.is_string(), "{started}");
    let text = std::fs::read_to_string(
        support::fake_kube::store::fixtures_dir().join("core/pod-crashloopbackoff.yaml"),
    )
    .unwrap();
    assert!(text.contains(&format!("startTime: {}", started.as_str().unwrap())));
}

#[tokio::test]
async fn fixture_rollout_is_served_unchanged_but_resource_version() {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture(CANARY_PAUSED);
    assert_eq!(
        key,
        ObjKey::new(
            "argoproj.io/v1alpha1",
            "rollouts",
            "rollouts-demo",
            "rollouts-demo"
        )
    );
    let (code, served) = get_json(
        &kube,
        &format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts/rollouts-demo"),
    )
    .await;
    assert_eq!(code, 200);
    let mut expected = read_fixture(CANARY_PAUSED);
    assert_eq!(expected["metadata"]["resourceVersion"], "4838641");
    expected["metadata"]["resourceVersion"] = json!(kube.resource_version());
    assert_eq!(served, expected);
    assert!(served["metadata"]["resourceVersion"].is_string());

    // Every object fixture loads and is listed.
    let kube = FakeKube::start().await;
    let keys = kube.seed_all_fixtures();
    assert!(keys.len() > 40, "{}", keys.len());
    let (_, list) = get_json(&kube, &format!("{ROLLOUTS}/rollouts")).await;
    let want = keys.iter().filter(|k| k.plural == "rollouts").count();
    assert_eq!(list["items"].as_array().unwrap().len(), want);
    assert_eq!(list["kind"], "RolloutList");
}

#[tokio::test]
async fn every_object_fixture_is_served_as_parsed() {
    let kube = FakeKube::start().await;
    let mut served = 0;
    for (i, rel) in support::fake_kube::store::object_fixtures()
        .iter()
        .enumerate()
    {
        let ns = format!("f{i}");
        let Some(key) = kube.try_seed_fixture_in(rel, &ns) else {
            continue;
        };
        let (code, got) = get_json(&kube, &kube.path_of(&key)).await;
        assert_eq!(code, 200, "{rel}");
        let mut want = read_fixture(rel);
        want["metadata"]["resourceVersion"] = got["metadata"]["resourceVersion"].clone();
        if !key.namespace.is_empty() {
            want["metadata"]["namespace"] = json!(ns);
        }
        assert_eq!(got, want, "{rel}");
        served += 1;
    }
    assert!(served > 50, "{served}");
}

#[tokio::test]
async fn list_filters_by_namespace_and_labels() {
    let kube = FakeKube::start().await;
    kube.seed_all_fixtures();
    let (code, list) = get_json(&kube, "/api/v1/namespaces/jesse-test/pods").await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(
        list["metadata"]["resourceVersion"],
        json!(kube.resource_version())
    );
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .all(|p| p["metadata"]["namespace"] == "jesse-test"));

    let (_, all) = get_json(&kube, "/api/v1/pods").await;
    assert!(all["items"].as_array().unwrap().len() > 2);
    let (_, sel) = get_json(
        &kube,
        &format!("{ROLLOUTS}/rollouts?labelSelector=app.kubernetes.io%2Finstance%3Drollouts-demo"),
    )
    .await;
    let items = sel["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["name"], "rollouts-demo");
    let (_, none) = get_json(
        &kube,
        &format!("{ROLLOUTS}/namespaces/default/rollouts?labelSelector=nope%3Dx"),
    )
    .await;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn watch_sees_status_patch_and_main_patch_cannot_change_status() {
    let kube = FakeKube::start().await;
    kube.seed_fixture(CANARY_PAUSED);
    let base = format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts");
    let (_, list) = get_json(&kube, &base).await;
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut watch = Lines::open(
        &kube,
        &format!("{base}?watch=1&resourceVersion={rv}&timeoutSeconds=30"),
    )
    .await;

    let obj = format!("{base}/rollouts-demo");
    let (code, after) = patch(
        &kube,
        &format!("{obj}/status"),
        "application/merge-patch+json",
        r#"{"status":{"phase":"Degraded","message":"boom"}}"#,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(after["status"]["phase"], "Degraded");
    let ev = watch.change().await;
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["status"]["phase"], "Degraded");
    assert_eq!(
        ev["object"]["metadata"]["resourceVersion"],
        json!((rv + 1).to_string())
    );
    assert_eq!(ev["object"]["spec"], read_fixture(CANARY_PAUSED)["spec"]);

    // The main resource: spec changes, status does not.
    let (code, after) = patch(
        &kube,
        &obj,
        "application/merge-patch+json",
        r#"{"spec":{"paused":true},"status":{"phase":"Healthy"}}"#,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(after["spec"]["paused"], true);
    assert_eq!(after["status"]["phase"], "Degraded");
    let ev = watch.change().await;
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["spec"]["paused"], true);
    assert_eq!(ev["object"]["status"]["phase"], "Degraded");

    // A status patch cannot change the spec; JSON patch works on status.
    let (_, after) = patch(&kube, &format!("{obj}/status"), "application/json-patch+json", r#"[{"op":"replace","path":"/status/phase","value":"Paused"},{"op":"remove","path":"/status/message"},{"op":"add","path":"/spec/paused","value":false}]"#).await;
    assert_eq!(after["status"]["phase"], "Paused");
    assert!(after["status"].get("message").is_none());
    assert_eq!(after["spec"]["paused"], true);
    let ev = watch.change().await;
    assert_eq!(ev["object"]["status"]["phase"], "Paused");

    // A status-only main patch is a no-op: no new version, no event.
    let before = kube.resource_version();
    let (_, after) = patch(
        &kube,
        &obj,
        "application/merge-patch+json",
        r#"{"status":{"phase":"Healthy"}}"#,
    )
    .await;
    assert_eq!(after["status"]["phase"], "Paused");
    assert_eq!(kube.resource_version(), before);
}

#[tokio::test]
async fn apply_records_field_manager_and_patch_errors_are_status() {
    let kube = FakeKube::start().await;
    kube.seed_fixture(CANARY_PAUSED);
    let obj = format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts/rollouts-demo");
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: rollouts-demo\nspec:\n  replicas: 3\n";
    let (code, after) = patch(
        &kube,
        &format!("{obj}?fieldManager=blissful&force=true"),
        "application/apply-patch+yaml",
        yaml,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(after["spec"]["replicas"], 3);
    let sent = kube.received_matching("PATCH", "/rollouts-demo");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].query["fieldManager"], "blissful");
    assert_eq!(sent[0].query["force"], "true");
    assert_eq!(sent[0].body, yaml);
    assert_eq!(sent[0].body_json()["spec"]["replicas"], 3);

    let (code, body) = patch(&kube, &obj, "application/apply-patch+yaml", yaml).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    let (code, body) = patch(&kube, &obj, "application/strategic-merge-patch+json", "{}").await;
    assert_eq!(code, 415);
    assert_status(&body, 415, "UnsupportedMediaType");
    let (code, body) = patch(
        &kube,
        &obj,
        "application/merge-patch+json",
        r#"{"metadata":{"resourceVersion":"1"},"spec":{"paused":false}}"#,
    )
    .await;
    assert_eq!(code, 409);
    assert_status(&body, 409, "Conflict");
}

#[tokio::test]
async fn recorded_patch_is_exactly_what_was_sent() {
    let kube = FakeKube::start().await;
    kube.seed_fixture(CANARY_PAUSED);
    let body = r#"[{"op":"add","path":"/metadata/annotations","value":{"rollout.argoproj.io/restartedAt":"2026-12-06T20:00:00Z"}}]"#;
    let path = format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts/rollouts-demo");
    let (code, after) = patch(&kube, &path, "application/json-patch+json", body).await;
    assert_eq!(code, 200);
    assert_eq!(
        after["metadata"]["annotations"]["rollout.argoproj.io/restartedAt"],
        "2026-12-06T20:00:00Z"
    );
    let got = kube.received_matching("PATCH", "/rollouts/rollouts-demo");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "PATCH");
    assert_eq!(got[0].path, path);
    assert_eq!(
        got[0].content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(got[0].body, body);
}

#[tokio::test]
async fn bookmarks_arrive_when_allowed() {
    let kube = FakeKube::start().await;
    kube.seed_fixture(CANARY_PAUSED);
    kube.set_bookmark_interval(Duration::from_millis(50));
    let rv = kube.resource_version();
    let mut watch = Lines::open(&kube, &format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5")).await;
    for _ in 0..2 {
        let ev = watch.event().await;
        assert_eq!(ev["type"], "BOOKMARK");
        assert_eq!(ev["object"]["kind"], "Rollout");
        assert_eq!(ev["object"]["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(ev["object"]["metadata"], json!({"resourceVersion": rv}));
    }
    // A watch without resourceVersion starts with the current state.
    let mut fresh = Lines::open(
        &kube,
        &format!("{ROLLOUTS}/rollouts?watch=1&timeoutSeconds=1"),
    )
    .await;
    let ev = fresh.event().await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "rollouts-demo");
    // timeoutSeconds ends the stream; no bookmarks were asked for.
    assert_eq!(fresh.next().await, None);
}

#[tokio::test]
async fn watch_from_compacted_version_gets_410_expired() {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture(CANARY_PAUSED);
    let old = kube.resource_version();
    kube.set_status(&key, json!({"phase": "Healthy"}));
    kube.compact();
    let now = kube.resource_version();
    let base = format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts");
    let mut watch = Lines::open(
        &kube,
        &format!("{base}?watch=1&resourceVersion={old}&allowWatchBookmarks=true"),
    )
    .await;
    let ev = watch.event().await;
    assert_eq!(ev["type"], "ERROR");
    assert_status(&ev["object"], 410, "Expired");
    assert_eq!(
        ev["object"]["message"],
        format!("too old resource version: {old} ({now})")
    );
    assert_eq!(watch.next().await, None);

    // A list with a too-old version that must not be older answers 410.
    let (code, body) = get_json(
        &kube,
        &format!("{base}?resourceVersion={old}&resourceVersionMatch=NotOlderThan"),
    )
    .await;
    assert_eq!(code, 410);
    assert_status(&body, 410, "Expired");

    // History overflow expires old versions too.
    kube.set_history_limit(2);
    let start = kube.resource_version();
    for i in 0..4 {
        kube.set_status(&key, json!({"phase": format!("P{i}")}));
    }
    let mut watch = Lines::open(&kube, &format!("{base}?watch=1&resourceVersion={start}")).await;
    assert_eq!(watch.event().await["type"], "ERROR");
    // A recent one replays what follows it.
    let recent: u64 = kube.resource_version().parse::<u64>().unwrap() - 1;
    let mut watch = Lines::open(&kube, &format!("{base}?watch=1&resourceVersion={recent}")).await;
    let ev = watch.event().await;
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["status"]["phase"], "P3");
}

#[tokio::test]
async fn forbidden_unauthorized_and_not_found_are_status_objects() {
    let kube = FakeKube::start().await;
    let mut web = read_fixture(CANARY_PAUSED);
    web["metadata"]["name"] = json!("web");
    web["metadata"]["namespace"] = json!("staging");
    kube.put(web);
    kube.add_rule(Rule::forbid("dev", "patch", "rollouts", Some("staging")));
    kube.add_rule(Rule::unauthorized("list", "pods", None));
    let obj = format!("{ROLLOUTS}/namespaces/staging/rollouts/web");
    let (code, body) = patch(
        &kube,
        &obj,
        "application/merge-patch+json",
        r#"{"spec":{"paused":true}}"#,
    )
    .await;
    assert_eq!(code, 403);
    assert_status(&body, 403, "Forbidden");
    assert_eq!(
        body["message"],
        r#"rollouts.argoproj.io "web" is forbidden: User "dev" cannot patch resource "rollouts" in API group "argoproj.io" in the namespace "staging""#
    );
    assert_eq!(
        body["details"],
        json!({"name": "web", "group": "argoproj.io", "kind": "rollouts"})
    );
    // Reading is still allowed, and the status subresource is another rule.
    assert_eq!(get_json(&kube, &obj).await.0, 200);
    let (code, _) = patch(
        &kube,
        &format!("{obj}/status"),
        "application/merge-patch+json",
        r#"{"status":{"phase":"Paused"}}"#,
    )
    .await;
    assert_eq!(code, 200);

    let (code, body) = get_json(&kube, "/api/v1/namespaces/staging/pods").await;
    assert_eq!(code, 401);
    assert_status(&body, 401, "Unauthorized");
    assert!(body.get("details").is_none());

    let (code, body) = get_json(
        &kube,
        &format!("{ROLLOUTS}/namespaces/staging/rollouts/nope"),
    )
    .await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["message"], r#"rollouts.argoproj.io "nope" not found"#);
    // Same shape as the upstream 404 fixture.
    let upstream = read_fixture("core/status-404-notfound.json");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&upstream));
    assert_eq!(keys(&body["details"]), keys(&upstream["details"]));
    let (_, body) = get_json(&kube, "/api/v1/namespaces/staging/services/nope").await;
    assert_eq!(body["message"], r#"services "nope" not found"#);
    assert_eq!(body["details"], json!({"name": "nope", "kind": "services"}));
}

#[tokio::test]
async fn down_then_up_on_the_same_port() {
    let kube = FakeKube::start().await;
    kube.seed_fixture(CANARY_PAUSED);
    let url = kube.url();
    let path = format!("{ROLLOUTS}/namespaces/rollouts-demo/rollouts");
    assert_eq!(get_json(&kube, &path).await.0, 200);
    let mut watch = Lines::open(
        &kube,
        &format!("{path}?watch=1&resourceVersion={}", kube.resource_version()),
    )
    .await;
    kube.wait_open_watches(1).await;

    kube.go_down().await;
    assert!(!kube.is_up());
    assert_eq!(watch.next().await, None, "the open watch is cut");
    let err = client()
        .get(format!("{url}{path}"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    kube.come_up().await;
    assert_eq!(kube.url(), url);
    let (code, list) = get_json(&kube, &path).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn followed_log_stream_gets_pushed_lines() {
    let kube = FakeKube::start().await;
    kube.seed_fixture("core/pod-rollout-canary-running.yaml");
    let (ns, pod) = ("jesse-test", "canary-demo-65fb5ffc84-9wf5r");
    kube.push_log(ns, pod, None, "before the stream");
    let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/log?follow=true&timestamps=true&sinceSeconds=60&container=canary-demo");
    let mut logs = Lines::open(&kube, &path).await;
    let first = logs.next().await.unwrap();
    let (ts, text) = first.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    assert_eq!(text, "before the stream");
    kube.push_log(ns, pod, Some("canary-demo"), "level=info msg=one");
    kube.push_log(ns, pod, None, "level=warn msg=two");
    assert!(logs.next().await.unwrap().ends_with(" level=info msg=one"));
    assert!(logs.next().await.unwrap().ends_with(" level=warn msg=two"));
    kube.end_logs(ns, pod, None);
    assert_eq!(logs.next().await, None);

    // Without follow: what is stored, plain; tailLines counts from the end.
    let resp = client()
        .get(format!(
            "{}/api/v1/namespaces/{ns}/pods/{pod}/log?tailLines=1",
            kube.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "level=warn msg=two\n");
    let (code, body) = get_json(
        &kube,
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/log?container=nope"),
    )
    .await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    let (code, _) = get_json(&kube, &format!("/api/v1/namespaces/{ns}/pods/missing/log")).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn all_namespaces_watch_filters_by_label_and_sees_deletes() {
    let kube = FakeKube::start().await;
    let rv = kube.resource_version();
    let path = format!("{ROLLOUTS}/rollouts?watch=1&resourceVersion={rv}&labelSelector=app.kubernetes.io%2Finstance%3Drollouts-demo");
    let mut watch = Lines::open(&kube, &path).await;
    kube.seed_fixture("argo-rollouts/rollout-healthy-completed.yaml");
    let key = kube.seed_fixture_in(CANARY_PAUSED, "other");
    let ev = watch.change().await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["namespace"], "other");

    let resp = client()
        .delete(format!("{}{}", kube.url(), kube.path_of(&key)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ev = watch.change().await;
    assert_eq!(ev["type"], "DELETED");
    assert_eq!(ev["object"]["metadata"]["name"], "rollouts-demo");
    assert_eq!(
        ev["object"]["metadata"]["resourceVersion"],
        json!(kube.resource_version())
    );
    assert_eq!(get_json(&kube, &kube.path_of(&key)).await.0, 404);
}
