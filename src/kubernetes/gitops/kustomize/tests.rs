//! Surgical edits of `images:`: only the tag's text changes.

use super::*;

const STAGING: &str = "\
# Staging: canary rollouts.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: orders-staging
resources:
  - ../../base
images:
  # the service itself
  - name: ghcr.io/acme/orders   # built by CI
    newTag: v1.4.2  # bumped by blissful-infra
  - name: redis
    newName: docker.io/library/redis
labels:
  - pairs:
      environment: staging
";

#[test]
fn replaces_only_the_tag_keeping_comments() {
    let (out, old) = set_image_tag(STAGING, "ghcr.io/acme/orders", "v1.5.0").unwrap();
    assert_eq!(old.as_deref(), Some("v1.4.2"));
    assert_eq!(
        out,
        STAGING.replace("newTag: v1.4.2  # bumped", "newTag: v1.5.0  # bumped")
    );
    assert_eq!(
        image_tag(&out, "ghcr.io/acme/orders").unwrap().as_deref(),
        Some("v1.5.0")
    );
}

#[test]
fn inserts_a_tag_under_the_name() {
    let (out, old) = set_image_tag(STAGING, "redis", "7.2").unwrap();
    assert_eq!(old, None);
    assert_eq!(
        out,
        STAGING.replace(
            "  - name: redis\n",
            "  - name: redis\n    newTag: \"7.2\"\n"
        )
    );
}

#[test]
fn keeps_quotes_and_crlf() {
    let text = "images:\r\n- name: web\r\n  newTag: 'v1'\r\nresources: []\r\n";
    let (out, _) = set_image_tag(text, "web", "v2").unwrap();
    assert_eq!(
        out,
        "images:\r\n- name: web\r\n  newTag: 'v2'\r\nresources: []\r\n"
    );
    let text = "images:\n  - newTag: \"v1\" # pinned\n    name: web\n";
    let (out, old) = set_image_tag(text, "web", "v3").unwrap();
    assert_eq!(old.as_deref(), Some("v1"));
    assert_eq!(out, "images:\n  - newTag: \"v3\" # pinned\n    name: web\n");
}

#[test]
fn refusals_name_the_problem() {
    assert_eq!(
        set_image_tag("kind: Kustomization\n", "web", "v2").unwrap_err(),
        KustomizeError::NoImages
    );
    assert_eq!(
        set_image_tag("images: [{name: web, newTag: v1}]\n", "web", "v2").unwrap_err(),
        KustomizeError::FlowStyle
    );
    let err = set_image_tag(STAGING, "nginx", "v2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "its `images:` has no entry named nginx (entries: ghcr.io/acme/orders, redis)"
    );
    let digest = "images:\n- name: web\n  digest: sha256:abc\n";
    assert!(matches!(
        set_image_tag(digest, "web", "v2"),
        Err(KustomizeError::Digest { .. })
    ));
    for bad in [
        "",
        "-x",
        "v1\nkind: Secret",
        "a b",
        "v1#x",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(
                set_image_tag(STAGING, "redis", bad),
                Err(KustomizeError::BadTag(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_tag_that_might_read_as_another_type_is_quoted() {
    for (tag, want) in [
        ("1.10", "\"1.10\""),
        ("true", "\"true\""),
        ("v2", "v2"),
        ("2024-01-02", "\"2024-01-02\""),
        ("ON", "\"ON\""),
    ] {
        let (out, _) = set_image_tag(STAGING, "ghcr.io/acme/orders", tag).unwrap();
        assert!(out.contains(&format!("newTag: {want}  #")), "{tag}: {out}");
    }
}
