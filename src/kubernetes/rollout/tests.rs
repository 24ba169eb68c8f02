//! Reading a Rollout's image into a version.

use super::*;

#[test]
fn an_image_tag_is_trimmed_and_never_blank() {
    // Found by fuzz/kubernetes: a YAML image written over two lines left
    // a space before the tag, and the version began with it.
    assert_eq!(image_tag("argoproj/rollouts-demo: yellow"), "yellow");
    assert_eq!(image_tag("argoproj/rollouts-demo:  "), "latest");
    assert_eq!(image_tag("app@ sha256:0123 "), "sha256:0123");
    assert_eq!(image_tag("app@"), "latest");
    // Unchanged for references as registries write them.
    assert_eq!(image_tag("localhost:5000/app:v2"), "v2");
    assert_eq!(image_tag("localhost:5000/app"), "latest");
    assert_eq!(image_tag("app@sha256:abcd"), "sha256:abcd");
}

#[test]
fn a_canary_version_from_a_spaced_image_has_no_space() {
    let obj = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "argoproj/rollouts-demo:   yellow"}]}}}});
    let v = rollout_view(&obj).canary_version().unwrap();
    assert_eq!(v.0, "yellow");
}
