use super::*;
use serde_json::json;

fn with_status(status: serde_json::Value) -> Value {
    json!({"kind": "PodChaos", "status": status})
}

#[test]
fn conditions_give_the_phase() {
    assert_eq!(cr_phase(&json!({"kind": "PodChaos"})), CrPhase::Pending);
    let injected = with_status(json!({
        "conditions": [
            {"type": "Selected", "status": "True"},
            {"type": "AllInjected", "status": "True"},
            {"type": "AllRecovered", "status": "False"}
        ],
        "experiment": {"desiredPhase": "Run"}
    }));
    assert_eq!(cr_phase(&injected), CrPhase::Injected);
    assert_eq!(cr_phase(&injected).label(), "injected");
    let recovered = with_status(json!({
        "conditions": [
            {"type": "AllInjected", "status": "False"},
            {"type": "AllRecovered", "status": "True"}
        ],
        "experiment": {"desiredPhase": "Stop"}
    }));
    assert_eq!(cr_phase(&recovered), CrPhase::Recovered);
}

#[test]
fn a_failed_event_is_surfaced_cleaned() {
    let failed = with_status(json!({
        "conditions": [{"type": "AllInjected", "status": "False"}],
        "experiment": {
            "desiredPhase": "Run",
            "containerRecords": [{
                "id": "shop/web-1\u{1b}[31m",
                "injectedCount": 0, "recoveredCount": 0, "phase": "Not Injected", "selectorKey": ".",
                "events": [
                    {"type": "Failed", "operation": "Apply", "message": "container not found",
                     "timestamp": "2026-01-01T00:00:00Z"}
                ]
            }]
        }
    }));
    let CrPhase::Failed(why) = cr_phase(&failed) else {
        panic!("not failed");
    };
    assert!(why.contains("Apply on shop/web-1"), "{why}");
    assert!(why.contains("container not found"), "{why}");
    assert!(!why.contains('\u{1b}'), "{why}");
    let unselected = with_status(json!({
        "conditions": [{"type": "Selected", "status": "False"}],
        "experiment": {"desiredPhase": "Stop"}
    }));
    assert!(matches!(cr_phase(&unselected), CrPhase::Failed(_)));
}
