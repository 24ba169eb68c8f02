//! Names, labels, ownership, the status view and Deployment readiness.

use serde_json::json;

use super::ready::{readiness, summary};
use super::view::{view, EphemeralState};
use super::*;

fn spec() -> Spec {
    Spec {
        name: "pr-42".into(),
        namespace: "orders-pr-42".into(),
        project: "orders".into(),
        owner: "alice".into(),
        ttl: "4h".into(),
        created_at: "2026-03-01T10:00:00Z".into(),
    }
}

#[test]
fn names_are_dns_labels_and_the_namespace_fits_in_63() {
    assert_eq!(namespace_for("orders", "pr-42"), Ok("orders-pr-42".into()));
    assert_eq!(namespace_for("orders", "7"), Ok("orders-7".into()));
    for bad in [
        "",
        "PR-42",
        "pr_42",
        "-pr",
        "pr-",
        "pr 42",
        "pr.42",
        "\u{1b}[2Jx",
    ] {
        let e = namespace_for("orders", bad).unwrap_err();
        assert!(matches!(e, NameError::NotALabel(_)), "{bad:?}: {e}");
        assert!(e.to_string().contains("DNS-1123"), "{e}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
    let long = "a".repeat(57);
    let e = namespace_for("orders", &long).unwrap_err();
    assert_eq!(
        e,
        NameError::TooLong {
            namespace: format!("orders-{long}"),
            len: 64
        }
    );
    assert!(namespace_for("orders", &"a".repeat(56)).is_ok());
    let e = namespace_for("My_Shop", "pr-1").unwrap_err();
    assert!(matches!(e, NameError::BadProject(_)), "{e}");
    assert!(e.to_string().contains("project name"), "{e}");
}

#[test]
fn owners_become_label_values() {
    assert_eq!(label_value("alice"), "alice");
    assert_eq!(label_value("Alice.Smith_2"), "Alice.Smith_2");
    assert_eq!(label_value("DOMAIN\\bob"), "DOMAIN-bob");
    assert_eq!(label_value("-_.x y@z._-"), "x-y-z");
    assert_eq!(label_value("uid 1000"), "uid-1000");
    assert_eq!(label_value(""), "unknown");
    assert_eq!(label_value("ünïcødé"), "n-c-d");
    assert_eq!(label_value("\u{1b}[31m"), "31m");
    let long = label_value(&format!("{}-{}", "a".repeat(62), "b".repeat(10)));
    assert_eq!(long, "a".repeat(62));
    assert!(long.len() <= 63);
}

#[test]
fn the_namespace_carries_its_owner_ttl_and_project() {
    let ns = namespace_object(&spec());
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "orders-pr-42");
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "blissful-infra");
    assert_eq!(labels["blissful-infra/ephemeral"], "true");
    assert_eq!(labels["blissful-infra/owner"], "alice");
    assert_eq!(labels["blissful-infra/project"], "orders");
    let notes = &ns["metadata"]["annotations"];
    assert_eq!(notes["blissful-infra/ttl"], "4h");
    assert_eq!(notes["blissful-infra/created-at"], "2026-03-01T10:00:00Z");
    assert_eq!(ownership(&ns, "orders"), Ownership::Ours);
    assert_eq!(
        selector("orders"),
        "app.kubernetes.io/managed-by=blissful-infra,blissful-infra/ephemeral=true,blissful-infra/project=orders"
    );
}

#[test]
fn a_namespace_without_our_labels_is_not_ours() {
    let plain = json!({"metadata": {"name": "orders-pr-42"}});
    assert_eq!(ownership(&plain, "orders"), Ownership::NotOurs);
    let managed =
        json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "blissful-infra"}}});
    assert_eq!(ownership(&managed, "orders"), Ownership::NotOurs);
    let mut other = namespace_object(&spec());
    other["metadata"]["labels"]["blissful-infra/project"] = json!("orders-pr");
    assert_eq!(
        ownership(&other, "orders"),
        Ownership::OtherProject("orders-pr".into())
    );
    assert!(!is_terminating(&other));
    other["status"] = json!({"phase": "Terminating"});
    assert!(is_terminating(&other));
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn status_marks_a_namespace_older_than_its_ttl_expired() {
    let ns = namespace_object(&spec());
    let young = view(&ns, "orders", ms("2026-03-01T12:30:00Z"));
    assert_eq!(young.name, "pr-42");
    assert_eq!(young.owner, "alice");
    assert_eq!(young.age_secs, Some(2 * 3600 + 1800));
    assert_eq!(young.ttl.as_deref(), Some("4h"));
    assert_eq!(young.state, EphemeralState::Active);
    assert_eq!(young.remove, "blissful-infra down --ephemeral pr-42");
    let old = view(&ns, "orders", ms("2026-03-01T14:00:01Z"));
    assert_eq!(old.state, EphemeralState::Expired);
    // A creation time in the future is age 0, not a wrap-around.
    let early = view(&ns, "orders", ms("2026-03-01T09:00:00Z"));
    assert_eq!(
        (early.age_secs, early.state),
        (Some(0), EphemeralState::Active)
    );
}

#[test]
fn status_reads_hostile_or_missing_annotations_safely() {
    let ns = json!({"metadata": {
        "name": "orders-pr-1",
        "creationTimestamp": "2026-03-01T10:00:00Z",
        "labels": {"blissful-infra/owner": "m\u{1b}[2Jallory"},
        "annotations": {"blissful-infra/ttl": "a while\u{1b}[31m", "blissful-infra/created-at": "yesterday"},
    }});
    let v = view(&ns, "orders", ms("2026-03-01T11:00:00Z"));
    assert_eq!(v.age_secs, Some(3600), "creationTimestamp is the fallback");
    assert_eq!(v.state, EphemeralState::Unknown);
    assert!(!v.owner.contains('\u{1b}') && !v.ttl.unwrap().contains('\u{1b}'));
    let gone =
        json!({"metadata": {"name": "orders-pr-2", "deletionTimestamp": "2026-03-01T10:00:00Z"}});
    assert_eq!(view(&gone, "orders", 0).state, EphemeralState::Terminating);
}

#[test]
fn a_deployment_is_ready_when_every_replica_is_new_and_available() {
    let d = |spec: serde_json::Value, status: serde_json::Value| json!({"metadata": {"name": "orders", "generation": 2}, "spec": spec, "status": status});
    let ready = d(
        json!({"replicas": 2}),
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    let r = readiness(&ready);
    assert!(r.ready && r.why.is_none(), "{r:?}");
    assert_eq!(summary(&[r]), "orders 2/2 available");

    let starting = d(
        json!({}),
        json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}),
    );
    let r = readiness(&starting);
    assert!(!r.ready);
    assert_eq!((r.available, r.want), (0, 1));

    let unseen = d(
        json!({"replicas": 1}),
        json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
    );
    let r = readiness(&unseen);
    assert!(!r.ready);
    assert!(r.why.unwrap().contains("not seen"));

    let old_pods = d(
        json!({"replicas": 1}),
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}),
    );
    assert!(!readiness(&old_pods).ready);

    let stuck = d(
        json!({"replicas": 1}),
        json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"orders-1\" has timed out progressing."}]}),
    );
    let r = readiness(&stuck);
    assert!(!r.ready);
    assert!(r
        .why
        .unwrap()
        .starts_with("ProgressDeadlineExceeded: ReplicaSet"));

    let none = d(json!({"replicas": 0}), json!({"observedGeneration": 2}));
    assert!(readiness(&none).ready, "zero replicas asked, zero needed");
}
