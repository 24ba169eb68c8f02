//! Hostile strings come out clean; garbage maps to Unknown and empty views.
#![cfg(test)] // test code only

use serde_json::{json, Value};

use super::fixture::fixture;
use super::{analysis_run_view, application_view, rollout_view};
use crate::domain::environment::Health;

const EVIL: &str = "ok\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\u{7}\u{202e}gnp.exe\u{1b}[31m!";

fn assert_clean(s: &str) {
    assert!(
        !s.chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{s:?}"
    );
}

#[test]
fn hostile_rollout_strings_come_out_clean() {
    let mut obj = fixture("argo-rollouts/rollout-canary-aborted.yaml");
    obj["status"]["conditions"][1]["message"] = json!(EVIL);
    obj["status"]["currentPodHash"] = json!(EVIL);
    obj["metadata"]["name"] = json!(EVIL);
    let v = rollout_view(&obj);
    let Health::Aborted(msg) = &v.health else {
        panic!("{:?}", v.health)
    };
    assert_clean(msg);
    assert!(msg.starts_with("ok") && msg.ends_with('!'), "{msg}");
    assert_clean(v.canary_hash.as_deref().expect("a canary hash"));
    assert_clean(v.name.as_deref().expect("a rollout name"));

    let mut obj = fixture("argo-rollouts/rollout-canary-paused-at-step.yaml");
    obj["status"]["message"] = json!(EVIL);
    let Health::Paused(msg) = rollout_view(&obj).health else {
        panic!()
    };
    assert_clean(&msg);

    let mut obj = fixture("argo-rollouts/rollout-invalid-spec.yaml");
    obj["status"]["conditions"][0]["message"] = json!("x".repeat(100_000) + EVIL);
    let Health::Degraded(msg) = rollout_view(&obj).health else {
        panic!()
    };
    assert!(msg.chars().count() <= super::fields::MAX_TEXT_CHARS + 1);
}

#[test]
fn hostile_analysis_and_application_strings_come_out_clean() {
    let mut run = fixture("argo-rollouts/analysisrun-failed.yaml");
    run["status"]["metricResults"][0]["measurements"][0]["value"] = json!(EVIL);
    run["spec"]["analysisSpec"]["metrics"][0]["provider"]["prometheus"]["query"] = json!(EVIL);
    run["status"]["message"] = json!(EVIL);
    let v = analysis_run_view(&run);
    assert_clean(v.message.as_deref().expect("an analysis message"));
    assert_clean(
        v.metrics[0].measurements[0]
            .value
            .as_deref()
            .expect("a measurement value"),
    );
    assert_clean(&v.metrics[0].provider.describe());

    let mut app = fixture("argo-cd/application-synced-degraded.yaml");
    app["status"]["operationState"]["message"] = json!(EVIL);
    app["status"]["health"]["message"] = json!(EVIL);
    let v = application_view(&app);
    assert_clean(
        v.operation_message
            .as_deref()
            .expect("an operation message"),
    );
    assert_clean(v.health().reason().expect("a health reason"));
}

#[test]
fn garbage_maps_to_unknown_and_empty_without_panicking() {
    let garbage: Vec<Value> = vec![
        Value::Null,
        json!([]),
        json!("Rollout"),
        json!({}),
        json!({"spec": {"strategy": {"canary": {"steps": "many"}}}}),
        json!({"status": "Healthy"}),
        json!({"status": {}}),
        json!({"status": {"phase": 7, "conditions": {"type": "InvalidSpec"}, "currentStepIndex": -1,
                          "readyReplicas": "3", "canary": {"weights": {"canary": {"weight": 250}}}},
               "spec": {"replicas": "five", "strategy": {"canary": {"steps": [1, null, {"setWeight": "x"}]}}}}),
        json!({"status": {"phase": "Exploded"}, "spec": {"strategy": {"blueGreen": []}}}),
    ];
    for g in &garbage {
        let r = rollout_view(g);
        assert_eq!(r.health, Health::Unknown, "{g}");
        assert_eq!(
            (r.stable_hash, r.canary_hash, r.canary_image),
            (None, None, None),
            "{g}"
        );
        assert_eq!(
            (r.ready_replicas, r.desired_replicas, r.actual_weight),
            (0, None, None),
            "{g}"
        );
        let a = analysis_run_view(g);
        assert!(a.metrics.is_empty() && a.outcome().is_none(), "{g}");
        let app = application_view(g);
        assert_eq!(app.health(), Health::Unknown, "{g}");
        assert_eq!((app.sync_status, app.revision), (None, None), "{g}");
    }
}
