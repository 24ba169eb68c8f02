//! Every intent's exact patches, against the fixtures and hand-made Rollouts.
#![cfg(test)] // test code only

use serde_json::{json, Value};

use super::*;
use crate::kubernetes::fixture::fixture;

const NOW: &str = "2026-12-06T21:30:00Z";

fn paused_at_step() -> Value {
    fixture("argo-rollouts/rollout-canary-paused-at-step.yaml")
}

fn patches(intent: Intent, ro: &Value) -> Vec<RolloutPatch> {
    rollout_patches(&intent, ro, NOW).unwrap()
}

fn refused(intent: Intent, ro: &Value) -> String {
    rollout_patches(&intent, ro, NOW).unwrap_err().reason
}

fn on_object(body: Value) -> RolloutPatch {
    RolloutPatch {
        subresource: None,
        kind: PatchKind::Merge,
        body,
        object_fallback: None,
    }
}

fn on_status(body: Value, fallback: Value) -> RolloutPatch {
    RolloutPatch {
        subresource: Some("status"),
        kind: PatchKind::Merge,
        body,
        object_fallback: Some(fallback),
    }
}

#[test]
fn merge_patches_say_so() {
    assert_eq!(
        PatchKind::Merge.content_type(),
        "application/merge-patch+json"
    );
}

#[test]
fn promote_at_a_pause_step_clears_the_pause_conditions() {
    // Paused by the controller at step 1 with a pause condition; spec not paused.
    let got = patches(Intent::Promote { full: false }, &paused_at_step());
    assert_eq!(
        got,
        vec![on_status(
            json!({"status": {"pauseConditions": null}}),
            json!({"spec": {"paused": false}, "status": {"pauseConditions": null}}),
        )]
    );
}

#[test]
fn promote_of_a_paused_spec_also_unpauses_it_after_the_status() {
    let mut ro = paused_at_step();
    ro["spec"]["paused"] = json!(true);
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].subresource, Some("status"));
    assert_eq!(got[1], on_object(json!({"spec": {"paused": false}})));
}

#[test]
fn promote_without_pause_conditions_skips_to_the_next_step() {
    let mut ro = paused_at_step();
    ro["status"]["pauseConditions"] = json!(null);
    ro["status"]["currentStepIndex"] = json!(2);
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(
        got,
        vec![on_status(
            json!({"status": {"pauseConditions": null, "currentStepIndex": 3}}),
            json!({"spec": {"paused": false}, "status": {"pauseConditions": null, "currentStepIndex": 3}}),
        )]
    );
}

#[test]
fn promote_past_the_last_step_keeps_the_index() {
    let mut ro = paused_at_step();
    ro["status"]["pauseConditions"] = json!([]);
    ro["status"]["currentStepIndex"] = json!(8); // 8 steps: already past the end
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(
        got[0].body,
        json!({"status": {"pauseConditions": null, "currentStepIndex": 8}})
    );
    // No status index at all counts as step 0.
    ro["status"]
        .as_object_mut()
        .unwrap()
        .remove("currentStepIndex");
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(
        got[0].body,
        json!({"status": {"pauseConditions": null, "currentStepIndex": 1}})
    );
}

#[test]
fn promote_after_an_inconclusive_analysis_leaves_the_controller_pause() {
    let mut ro = fixture("argo-rollouts/rollout-canary-paused-inconclusive-analysis.yaml");
    // The fixture predates `status.canary.currentStepAnalysisRunStatus`:
    // the plugin then only clears the pause conditions.
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(got[0].body, json!({"status": {"pauseConditions": null}}));
    ro["status"]["canary"] = json!({"currentStepAnalysisRunStatus": {"status": "Inconclusive"}});
    let got = patches(Intent::Promote { full: false }, &ro);
    let index = ro["status"]["currentStepIndex"].as_u64().unwrap();
    let steps = ro["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .unwrap()
        .len() as u64;
    let next = if index < steps { index + 1 } else { index };
    assert_eq!(
        got[0],
        on_status(
            json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": next}}),
            json!({"spec": {"paused": false}, "status": {"pauseConditions": null}}),
        )
    );
}

#[test]
fn promote_of_a_paused_blue_green_preview_clears_its_pause() {
    let ro = fixture("argo-rollouts/rollout-bluegreen-paused-preview.yaml");
    let got = patches(Intent::Promote { full: false }, &ro);
    assert_eq!(got[0].body, json!({"status": {"pauseConditions": null}}));
    // Switching to the new version is that same promote.
    assert_eq!(patches(Intent::Switch { to_canary: true }, &ro), got);
}

#[test]
fn promote_of_a_running_blue_green_sends_nothing() {
    let mut ro = fixture("argo-rollouts/rollout-bluegreen-paused-preview.yaml");
    ro["status"]["pauseConditions"] = json!(null);
    ro["spec"]["paused"] = json!(false);
    assert!(patches(Intent::Promote { full: false }, &ro).is_empty());
}

#[test]
fn promote_full_sets_promote_full_on_the_status() {
    let got = patches(Intent::Promote { full: true }, &paused_at_step());
    assert_eq!(
        got,
        vec![on_status(
            json!({"status": {"promoteFull": true}}),
            json!({"spec": {"paused": false}, "status": {"promoteFull": true}}),
        )]
    );
    let mut ro = paused_at_step();
    ro["spec"]["paused"] = json!(true);
    let got = patches(Intent::Promote { full: true }, &ro);
    assert_eq!(got[1], on_object(json!({"spec": {"paused": false}})));
}

#[test]
fn promote_full_of_a_stable_rollout_only_unpauses() {
    let mut ro = paused_at_step();
    ro["status"]["currentPodHash"] = ro["status"]["stableRS"].clone();
    assert!(patches(Intent::Promote { full: true }, &ro).is_empty());
    ro["spec"]["paused"] = json!(true);
    assert_eq!(
        patches(Intent::Promote { full: true }, &ro),
        vec![on_object(json!({"spec": {"paused": false}}))]
    );
}

#[test]
fn pause_and_resume_toggle_spec_paused() {
    let ro = paused_at_step();
    assert_eq!(
        patches(Intent::Pause, &ro),
        vec![on_object(json!({"spec": {"paused": true}}))]
    );
    assert_eq!(
        patches(Intent::Resume, &ro),
        vec![on_object(json!({"spec": {"paused": false}}))]
    );
}

#[test]
fn abort_sets_status_abort_whatever_the_reason() {
    let body = json!({"status": {"abort": true}});
    let got = patches(
        Intent::Abort {
            reason: "error rate".into(),
        },
        &paused_at_step(),
    );
    assert_eq!(got, vec![on_status(body.clone(), body)]);
}

#[test]
fn retry_clears_abort_only_on_an_aborted_rollout() {
    let ro = fixture("argo-rollouts/rollout-canary-aborted.yaml");
    let body = json!({"status": {"abort": false}});
    assert_eq!(
        patches(Intent::Retry, &ro),
        vec![on_status(body.clone(), body)]
    );
    assert!(refused(Intent::Retry, &paused_at_step()).contains("not aborted"));
}

#[test]
fn restart_stamps_restart_at() {
    assert_eq!(
        patches(Intent::Restart, &paused_at_step()),
        vec![on_object(json!({"spec": {"restartAt": NOW}}))]
    );
    let err = rollout_patches(&Intent::Restart, &paused_at_step(), " ").unwrap_err();
    assert!(err.reason.contains("timestamp"));
}

#[test]
fn refusals_say_why() {
    let canary = paused_at_step();
    let deploy = Intent::Deploy {
        version: crate::domain::environment::Version::new("v2"),
    };
    assert!(refused(deploy, &canary).contains("GitOps"));
    assert!(refused(Intent::Switch { to_canary: true }, &canary).contains("canary"));
    let bg = fixture("argo-rollouts/rollout-bluegreen-paused-preview.yaml");
    assert!(refused(Intent::Switch { to_canary: false }, &bg).contains("undo"));
    assert!(refused(Intent::Undo { to_revision: None }, &canary).contains("previous revision"));
    assert!(refused(
        Intent::Undo {
            to_revision: Some(3)
        },
        &canary
    )
    .contains("revision 3"));
}
