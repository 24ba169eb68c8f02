use serde_json::json;

use super::*;
use crate::kubernetes::fixture::fixture;

/// A real terminated pod, now being deleted with a `grace` s period that
/// ends at `deadline`, its container finished at `finished` with `exit`.
fn deleting(grace: u64, deadline: &str, exit: i64, finished: &str) -> Value {
    let mut pod = fixture("core/pod-error-terminated.yaml");
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    pod["metadata"]["deletionTimestamp"] = json!(deadline);
    let t = &mut pod["status"]["containerStatuses"][0]["state"]["terminated"];
    t["exitCode"] = json!(exit);
    t["finishedAt"] = json!(finished);
    pod
}

#[test]
fn a_pod_that_exits_within_its_grace_period_is_measured() {
    // Deletion asked at 09:19:50 with 30 s: the deadline reads 09:20:20.
    let pod = deleting(30, "2018-12-02T09:20:20Z", 0, "2018-12-02T09:19:56Z");
    let (stop, finished) = sigterm_stop(&pod).unwrap();
    assert_eq!(
        (stop.after_ms, stop.grace_ms, stop.killed),
        (6000, 30_000, false)
    );
    assert_eq!(finished, epoch_ms("2018-12-02T09:19:56Z").unwrap());
    let line = stop_line(&stop, finished, "staging");
    // The scorecard reads the line back.
    assert_eq!(SigtermStop::parse(&line.text), Some(stop));
    assert_eq!((&*line.env, &*line.version), ("staging", STOP_SOURCE));
}

#[test]
fn a_pod_killed_when_its_grace_period_ran_out_is_measured_as_killed() {
    let pod = deleting(30, "2018-12-02T09:19:56Z", 137, "2018-12-02T09:19:56Z");
    let (stop, _) = sigterm_stop(&pod).unwrap();
    assert!(stop.killed, "{stop:?}");
    assert_eq!(stop.after_ms, 30_000);
    // Exit 137 well inside the period is a kill of another kind, not the
    // grace period running out.
    let early = deleting(30, "2018-12-02T09:20:20Z", 137, "2018-12-02T09:19:56Z");
    assert!(!sigterm_stop(&early).unwrap().0.killed);
}

#[test]
fn no_measurement_without_a_graceful_deletion_or_a_terminated_container() {
    let running = fixture("core/pod-rollout-stable-running.yaml");
    assert_eq!(sigterm_stop(&running), None);
    // Force delete: no SIGTERM stop.
    let forced = deleting(0, "2018-12-02T09:19:50Z", 137, "2018-12-02T09:19:51Z");
    assert_eq!(sigterm_stop(&forced), None);
    // Deleted, but no container has finished yet.
    let mut waiting = running.clone();
    waiting["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    waiting["metadata"]["deletionTimestamp"] = json!("2018-12-02T09:20:20Z");
    assert_eq!(sigterm_stop(&waiting), None);
}
