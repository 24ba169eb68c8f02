//! The CLI with `runtime: kubernetes`: the real binary against the FAKE API
//! server (`tests/support/fake_kube/`) through a kubeconfig. No daemon: each
//! command opens the cluster itself, decorated like every runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::json;
use support::fake_kube::{FakeKube, Rule};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const NS: &str = "shop-staging";
const CONFIG: &str = "project: shop
runtime: kubernetes
environments:
  - name: staging
kubernetes:
  namespaces:
    staging: shop-staging
  rollout: rollouts-demo
";

fn write_kubeconfig(dir: &Path, url: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: '{url}'}}}}, {{name: gone, cluster: {{server: 'http://127.0.0.1:9'}}}}]\n\
         users: [{{name: dev, user: {{}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: dev}}}}, {{name: gone, context: {{cluster: gone, user: dev}}}}]\n"
    );
    std::fs::write(dir.join("kubeconfig"), text).unwrap();
    std::fs::write(dir.join("blissful-infra.yaml"), CONFIG).unwrap();
}

/// Run the binary in `dir` (its config and kubeconfig) with `args`.
async fn run(dir: &Path, args: &[&str]) -> Output {
    let out = tokio::process::Command::new(BIN)
        .args(["--config", "blissful-infra.yaml"])
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn status_and_the_rollout_verbs_work_without_a_daemon() {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let dir = tempfile::tempdir().unwrap();
    write_kubeconfig(dir.path(), &kube.url());

    let out = run(dir.path(), &["status"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(
        s.contains("staging") && s.contains("Paused") && s.contains("2/8"),
        "{s}"
    );
    assert!(s.contains("21%"), "{s}");
    assert!(s.contains("runtime kubernetes (observed)"), "{s}");
    assert!(s.contains("not offered: deploy"), "{s}");

    let out = run(dir.path(), &["pause", "--env", "staging", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sent = kube.received_matching("PATCH", &kube.path_of(&key));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body_json(), json!({"spec": {"paused": true}}));

    // Read-only: refused, nothing sent.
    let out = run(
        dir.path(),
        &["--read-only", "resume", "--env", "staging", "--yes"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(kube.received_matching("PATCH", "").len(), 1);

    // Not offered: refused with the reason, before anything is sent.
    let out = run(
        dir.path(),
        &["deploy", "--env", "staging", "--version", "v2"],
    )
    .await;
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("GitOps"), "{}", text(&out));

    // A 403 is one plain sentence.
    kube.add_rule(Rule::forbid("dev", "patch", "rollouts/status", Some(NS)));
    let out = run(dir.path(), &["promote", "--env", "staging", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("forbidden: cannot patch rollouts.argoproj.io in shop-staging"),
        "{}",
        text(&out)
    );

    // The journal has every intent, accepted or refused.
    let journal = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"pause\"") && l.contains("accepted")),
        "{journal}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"promote\"") && l.contains("forbidden")),
        "{journal}"
    );
}

#[tokio::test]
async fn no_daemon_other_contexts_and_missing_kubeconfigs_are_explained() {
    let kube = FakeKube::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_kubeconfig(dir.path(), &kube.url());

    let out = run(dir.path(), &["up"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs no daemon"), "{}", text(&out));

    let out = run(dir.path(), &["--context", "gone", "status"]).await;
    assert!(text(&out).contains("unreachable"), "{}", text(&out));

    let out = run(dir.path(), &["--context", "nope", "status"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("known contexts are fake, gone"),
        "{}",
        text(&out)
    );

    std::fs::remove_file(dir.path().join("kubeconfig")).unwrap();
    let out = run(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("no kubeconfig found"), "{}", text(&out));
}
