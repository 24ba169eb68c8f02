//! Every Argo CD Application fixture, mapped and checked by hand.

use serde_json::json;

use super::application::application_view;
use super::fixture::{all, fixture};
use crate::domain::environment::Health;

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn every_application_fixture_is_checked_here() {
    assert_eq!(
        all("argo-cd", "application-"),
        vec![
            "argo-cd/application-synced-degraded.yaml",
            "argo-cd/application-synced-healthy-sync-succeeded.yaml",
            "argo-cd/application-synced-healthy.yaml",
        ]
    );
}

#[test]
fn synced_but_degraded_helm_app() {
    let v = application_view(&fixture("argo-cd/application-synced-degraded.yaml"));
    assert_eq!(
        (v.name.clone(), v.namespace.clone()),
        (s("snipe-it-helm"), s("argo-apps"))
    );
    assert_eq!(
        (v.sync_status.clone(), v.health_status.clone()),
        (s("Synced"), s("Degraded"))
    );
    assert_eq!(v.revision, s("3.4.1"));
    assert_eq!(v.operation_phase, s("Succeeded"));
    assert_eq!(
        v.operation_message,
        s("successfully synced (all tasks run)")
    );
    assert_eq!(v.operation_finished_at, s("2024-10-08T13:50:17Z"));
    assert!(v.is_synced());
    assert_eq!(v.health(), Health::Degraded("degraded".into()));
}

#[test]
fn synced_healthy_plugin_app() {
    let v = application_view(&fixture(
        "argo-cd/application-synced-healthy-sync-succeeded.yaml",
    ));
    assert_eq!(v.name, s("velero-test"));
    assert_eq!(
        (v.sync_status.clone(), v.health_status.clone()),
        (s("Synced"), s("Healthy"))
    );
    assert_eq!(v.revision, s("rev1"));
    assert_eq!(v.operation_phase, s("Succeeded"));
    assert_eq!(v.operation_finished_at, s("2024-03-05T07:33:04Z"));
    assert_eq!(v.health(), Health::Healthy);
}

#[test]
fn synced_healthy_git_app() {
    let v = application_view(&fixture("argo-cd/application-synced-healthy.yaml"));
    assert_eq!(
        (v.name.clone(), v.namespace.clone()),
        (s("sock-shop"), s("argo"))
    );
    assert_eq!(v.revision, s("d7927a27b4533926b7d86b5f249cd9ebe7625e90"));
    assert_eq!(
        (v.operation_phase.clone(), v.operation_message.clone()),
        (s("Succeeded"), s("successfully synced (all tasks run)"))
    );
    assert_eq!(v.health(), Health::Healthy);
}

#[test]
fn other_health_states_and_multi_source_revisions() {
    let app = |health: &str, op: &str| {
        application_view(&json!({"status": {
            "health": {"status": health, "message": "why"},
            "sync": {"status": "OutOfSync", "revisions": ["abc", "def"]},
            "operationState": {"phase": op, "message": "sync failed: boom"}}}))
    };
    let v = app("Healthy", "Failed");
    assert_eq!((v.revision.clone(), v.is_synced()), (s("abc"), false));
    assert_eq!(v.health(), Health::Degraded("sync failed: boom".into()));
    assert_eq!(
        app("Progressing", "Running").health(),
        Health::Progressing("why".into())
    );
    assert_eq!(
        app("Suspended", "Succeeded").health(),
        Health::Paused("why".into())
    );
    assert_eq!(
        app("Missing", "Succeeded").health(),
        Health::Down("why".into())
    );
    assert_eq!(app("Unknown", "Succeeded").health(), Health::Unknown);
}
