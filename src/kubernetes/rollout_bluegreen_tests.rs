//! Blue-green Rollout fixtures, and image tags.
#![cfg(test)] // test code only

use super::rollout::{image_tag, Strategy};
use super::rollout_tests::{s, split, view};
use crate::domain::environment::Health;

#[test]
fn blue_green_paused_awaiting_promotion() {
    let v = view("rollout-bluegreen-paused-preview.yaml");
    assert_eq!(v.strategy, Strategy::BlueGreen);
    assert_eq!(v.health, Health::Paused("BlueGreenPause".into()));
    let bg = v.blue_green.clone().expect("a blue-green strategy");
    assert_eq!(
        (bg.active_service, bg.preview_service),
        (s("bluegreen-demo"), s("bluegreen-demo-preview"))
    );
    assert_eq!(
        (bg.active_selector, bg.preview_selector),
        (s("6cbccd9f99"), s("74b948fccb"))
    );
    assert_eq!((v.step, v.set_weight), (None, None));
    assert_eq!(v.traffic(), split(Some("6cbccd9f99"), Some("green"), 0));
    assert_eq!(
        (v.ready_replicas, v.available_replicas, v.desired_replicas),
        (6, 3, Some(3))
    );
}

#[test]
fn blue_green_healthy_serving_the_active_service() {
    let v = view("rollout-bluegreen-healthy-active.yaml");
    assert_eq!(v.health, Health::Healthy, "2019 objects have no stableRS");
    let bg = v.blue_green.clone().expect("a blue-green strategy");
    assert_eq!(
        (bg.active_service, bg.preview_service),
        (s("ks-guestbook-ui-active"), s("ks-guestbook-ui-preview"))
    );
    assert_eq!(
        (bg.active_selector, bg.preview_selector),
        (s("dc689d967"), None)
    );
    assert_eq!(v.traffic(), split(Some("0.2"), None, 0));
}

#[test]
fn blue_green_timeout_is_degraded() {
    let v = view("rollout-bluegreen-degraded-timeout.yaml");
    let msg = r#"ProgressDeadlineExceeded: ReplicaSet "guestbook-bluegreen-helm-guestbook-6b8cf6f7db" has timed out progressing."#;
    assert_eq!(v.health, Health::Degraded(msg.into()));
    let bg = v.blue_green.clone().expect("a blue-green strategy");
    assert_eq!(
        (bg.active_selector, bg.preview_selector),
        (s("8464d8564d"), None)
    );
    assert_eq!(
        bg.preview_service,
        s("guestbook-bluegreen-helm-guestbook-preview")
    );
    assert_eq!(v.canary_hash, s("6b8cf6f7db"));
    assert_eq!((v.ready_replicas, v.desired_replicas), (3, Some(3)));
}

#[test]
fn image_tags() {
    assert_eq!(image_tag("argoproj/rollouts-demo:yellow"), "yellow");
    assert_eq!(image_tag("localhost:5000/app"), "latest");
    assert_eq!(image_tag("nginx"), "latest");
    assert_eq!(image_tag("nginx@sha256:abc"), "sha256:abc");
}
