//! Every Rollout fixture, mapped and checked against values read by hand.

use super::fixture::{all, fixture};
use super::rollout::{rollout_view, RolloutView, Strategy};
use crate::domain::environment::{Health, TrafficSplit, Version};

const COVERED: &[&str] = &[
    "rollout-bluegreen-degraded-timeout.yaml",
    "rollout-bluegreen-healthy-active.yaml",
    "rollout-bluegreen-paused-preview.yaml",
    "rollout-canary-aborted.yaml",
    "rollout-canary-degraded-progress-deadline.yaml",
    "rollout-canary-healthy-all-steps.yaml",
    "rollout-canary-paused-at-step.yaml",
    "rollout-canary-paused-inconclusive-analysis.yaml",
    "rollout-canary-progressing-scaling.yaml",
    "rollout-canary-progressing-setweight.yaml",
    "rollout-canary-traffic-weights.yaml",
    "rollout-healthy-completed.yaml",
    "rollout-invalid-spec.yaml",
];

pub(super) fn view(name: &str) -> RolloutView {
    rollout_view(&fixture(&format!("argo-rollouts/{name}")))
}

pub(super) fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

pub(super) fn split(stable: Option<&str>, canary: Option<&str>, weight: u8) -> TrafficSplit {
    TrafficSplit {
        stable: stable.map(Version::new),
        canary: canary.map(Version::new),
        canary_weight: weight,
    }
}

#[test]
fn every_rollout_fixture_is_checked_here() {
    let names: Vec<String> = all("argo-rollouts", "rollout-");
    let covered: Vec<String> = COVERED
        .iter()
        .map(|n| format!("argo-rollouts/{n}"))
        .collect();
    assert_eq!(names, covered);
}

#[test]
fn canary_paused_at_step_one_of_eight() {
    let v = view("rollout-canary-paused-at-step.yaml");
    assert_eq!(v.strategy, Strategy::Canary);
    assert_eq!(v.health, Health::Paused("CanaryPauseStep".into()));
    assert_eq!(
        (v.step, v.set_weight, v.actual_weight),
        (Some((1, 8)), Some(21), None)
    );
    assert_eq!(
        (v.stable_hash, v.canary_hash.clone()),
        (s("77f4f8ff97"), s("8566c77b97"))
    );
    assert_eq!(v.canary_image, s("argoproj/rollouts-demo:yellow"));
    assert_eq!(
        v.stable_image, None,
        "the stable image is on its ReplicaSet"
    );
    assert_eq!(
        (v.ready_replicas, v.available_replicas, v.desired_replicas),
        (6, 6, Some(5))
    );
    let v = view("rollout-canary-paused-at-step.yaml");
    assert_eq!(v.traffic(), split(Some("77f4f8ff97"), Some("yellow"), 21));
    let mut env = crate::domain::environment::fixtures::staging_stable();
    v.apply_to(&mut env);
    assert_eq!(
        (env.step, env.replicas, env.health.label()),
        (Some((1, 8)), 5, "Paused")
    );
    assert_eq!(env.traffic, v.traffic());
}

#[test]
fn canary_aborted_keeps_the_analysis_message_apart_from_degraded() {
    let v = view("rollout-canary-aborted.yaml");
    let msg = r#"metric "web" assessed Failed due to failed (1) > failureLimit (0)"#;
    assert_eq!(v.health, Health::Aborted(msg.into()));
    assert_eq!((v.step, v.set_weight), (Some((0, 2)), Some(0)));
    assert_eq!(
        (v.stable_hash.clone(), v.canary_hash.clone()),
        (s("7d84d44bb8"), s("db976bc44"))
    );
    assert_eq!((v.ready_replicas, v.desired_replicas), (1, Some(1)));
    assert_eq!(v.traffic(), split(Some("7d84d44bb8"), Some("yellow"), 0));
}

#[test]
fn canary_progress_deadline_is_degraded() {
    let v = view("rollout-canary-degraded-progress-deadline.yaml");
    let msg = r#"ProgressDeadlineExceeded: ReplicaSet "canary-demo-65fb5ffc84" has timed out progressing."#;
    assert_eq!(v.health, Health::Degraded(msg.into()));
    assert_eq!(
        (v.step, v.set_weight, v.actual_weight),
        (Some((0, 8)), Some(20), None)
    );
    assert_eq!(
        (v.stable_hash, v.canary_hash),
        (s("877894d5b"), s("65fb5ffc84"))
    );
    assert_eq!(v.canary_image, s("argoproj/rollouts-demo:does-not-exist"));
    assert_eq!(
        (v.ready_replicas, v.updated_replicas, v.desired_replicas),
        (5, 1, Some(5))
    );
}

#[test]
fn canary_traffic_weights_give_the_actual_weight() {
    let v = view("rollout-canary-traffic-weights.yaml");
    assert!(
        matches!(&v.health, Health::Degraded(m) if m.starts_with("ProgressDeadlineExceeded: "))
    );
    assert_eq!(
        (v.step, v.set_weight, v.actual_weight),
        (Some((0, 8)), Some(20), Some(20))
    );
    assert_eq!(
        v.traffic(),
        split(Some("877894d5b"), Some("does-not-exist"), 20)
    );
}

#[test]
fn canary_healthy_after_all_steps_is_promoted() {
    let v = view("rollout-canary-healthy-all-steps.yaml");
    assert_eq!(v.health, Health::Healthy);
    assert_eq!(
        (v.step, v.set_weight, v.actual_weight),
        (Some((4, 4)), Some(100), Some(100))
    );
    assert!(v.is_promoted());
    assert_eq!(
        v.stable_image,
        s("quay.io/argoprojlabs/argocd-e2e-container:0.1")
    );
    assert_eq!(v.traffic(), split(Some("0.1"), None, 0));
    assert_eq!((v.ready_replicas, v.desired_replicas), (5, Some(5)));
}

#[test]
fn canary_progressing_old_objects_derive_their_reason() {
    let v = view("rollout-canary-progressing-setweight.yaml");
    assert_eq!(
        v.health,
        Health::Progressing("more replicas need to be updated".into())
    );
    assert_eq!((v.step, v.set_weight), (Some((3, 4)), Some(40)));
    // Before v0.6 the stable hash sat under status.canary.
    assert_eq!(
        (v.stable_hash.clone(), v.canary_hash.clone()),
        (s("df986d68"), s("6b566f47b7"))
    );
    assert_eq!(v.traffic(), split(Some("df986d68"), Some("0.2"), 40));

    let v = view("rollout-canary-progressing-scaling.yaml");
    assert_eq!(
        v.health,
        Health::Progressing("old replicas are pending termination".into())
    );
    assert_eq!(
        (v.step, v.set_weight),
        (None, Some(100)),
        "no steps: straight to 100%"
    );
    assert_eq!(
        (v.stable_hash, v.canary_hash),
        (s("74d6dc8544"), s("694fb7759c"))
    );
    assert_eq!(
        (v.ready_replicas, v.updated_replicas, v.desired_replicas),
        (6, 5, Some(5))
    );
}

#[test]
fn pause_on_inconclusive_analysis_wins_over_a_stale_deadline() {
    let v = view("rollout-canary-paused-inconclusive-analysis.yaml");
    assert_eq!(v.health, Health::Paused("InconclusiveAnalysisRun".into()));
    // Step 1 is the experiment; the weight is the setWeight before it.
    assert_eq!((v.step, v.set_weight), (Some((1, 2)), Some(25)));
    assert_eq!(
        (v.stable_hash, v.canary_hash),
        (s("f6db98dff"), s("6f646bf7b7"))
    );
}

#[test]
fn healthy_v1_rollout_with_a_workload_ref() {
    let v = view("rollout-healthy-completed.yaml");
    assert_eq!(v.health, Health::Healthy);
    assert_eq!((v.step, v.set_weight), (Some((2, 2)), Some(100)));
    assert_eq!(
        v.canary_image, None,
        "the template lives in the referenced Deployment"
    );
    assert_eq!(v.traffic(), split(Some("75bbd56864"), None, 0));
    assert_eq!((v.ready_replicas, v.desired_replicas), (5, Some(5)));
}

#[test]
fn invalid_spec_is_degraded_with_the_condition_message() {
    let v = view("rollout-invalid-spec.yaml");
    let Health::Degraded(msg) = &v.health else {
        panic!("{:?}", v.health)
    };
    assert!(msg.starts_with(r#"InvalidSpec: The Rollout "rollout-invalid" is invalid: spec.template.metadata.labels:"#), "{msg}");
    assert!(
        msg.ends_with("`selector` does not match template `labels`"),
        "{msg}"
    );
    assert_eq!(
        (v.step, v.stable_hash.clone(), v.canary_hash.clone()),
        (None, None, None)
    );
    assert_eq!(v.canary_version(), Some(Version::new("blue")));
}
