//! `blissful-infra chaos` with `runtime: kubernetes`: the real binary
//! against the FAKE API server (`tests/support/fake_kube/`), faults made as
//! Chaos Mesh resources; the test plays the Chaos Mesh controller.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

#[path = "kube_chaos_cli/load.rs"]
mod load;
#[path = "kube_chaos_cli/prometheus.rs"]
mod prometheus;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::fake_kube::chaos_mesh::report_injected;
use support::fake_kube::FakeKube;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const NS: &str = "shop-staging";
const CONFIG: &str = "project: shop
runtime: kubernetes
environments:
  - name: staging
kubernetes:
  namespaces:
    staging: shop-staging
  rollout: guestbook-canary
chaos:
  baseline_secs: 1
";

fn write_project(dir: &Path, url: &str, config: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: '{url}'}}}}]\n\
         users: [{{name: dev, user: {{}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: dev}}}}]\n"
    );
    std::fs::write(dir.join("kubeconfig"), text).unwrap();
    std::fs::write(dir.join("blissful-infra.yaml"), config).unwrap();
}

async fn run(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(["--config", "blissful-infra.yaml"])
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn project(kube: &FakeKube) -> tempfile::TempDir {
    kube.seed_fixture_in("argo-rollouts/rollout-canary-healthy-all-steps.yaml", NS);
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), &kube.url(), CONFIG);
    dir
}

#[tokio::test]
async fn chaos_pod_kill_makes_a_podchaos_and_reports_the_suite() {
    let kube = FakeKube::start().await;
    let dir = project(&kube);
    let controller = report_injected(&kube, "podchaos");

    let out = run(
        dir.path(),
        &["chaos", "--env", "staging", "--scenario", "pod-kill"],
    )
    .await;
    let s = text(&out);
    // No Prometheus here: pods are counted, requests are not, so the
    // verdict is inconclusive (never a pass on zeros) and the exit code 1.
    assert_eq!(out.status.code(), Some(1), "{s}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("SCENARIO"), "{s}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("pod-kill  inconclusive")),
        "{s}"
    );
    assert!(stdout.contains("set prometheus.url"), "{s}");
    assert!(stdout.contains("resilience score:"), "{s}");
    assert!(s.contains("journaled, then applied"), "{s}");
    let posts = kube.received_matching("POST", &format!("/namespaces/{NS}/podchaos"));
    assert_eq!(posts.len(), 1, "{s}");
    let body = posts[0].body_json();
    assert_eq!(body["spec"]["action"], "pod-kill");
    assert_eq!(
        body["spec"]["selector"]["labelSelectors"]["app"],
        "guestbook-canary"
    );
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("blissful-pod-kill-"), "{name}");
    // One-shot: deleted once Chaos Mesh reported the kill.
    assert_eq!(
        kube.received_matching("DELETE", &format!("/podchaos/{name}"))
            .len(),
        1
    );
    let journal = std::fs::read_to_string(dir.path().join("state/kube-faults.json")).unwrap();
    assert!(!journal.contains(&name[9..]), "{journal}");

    // JSON: the suite's report.
    let out = run(
        dir.path(),
        &[
            "-o",
            "json",
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "pod-kill",
        ],
    )
    .await;
    controller.abort();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdicts"][0]["result"], "inconclusive");
    assert_eq!(report["runtime"], "kubernetes");
    assert_eq!(report["env"], "staging");
    assert_eq!(report["verdicts"][0]["scenario"], "pod-kill");
    assert_eq!(report["refused"], serde_json::json!([]));
    assert_eq!(
        kube.received_matching("POST", &format!("/namespaces/{NS}/podchaos"))
            .len(),
        2
    );
}

#[tokio::test]
async fn the_catalogue_lists_kubernetes_and_refusals_are_plain() {
    let kube = FakeKube::start_hiding(&["chaos-mesh.org"]).await;
    let dir = project(&kube);

    let out = run(dir.path(), &["-o", "json", "chaos", "--list"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pod_kill = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["scenario"] == "pod-kill")
        .unwrap();
    assert_eq!(
        pod_kill["support"]["kubernetes"]["support"], "yes",
        "{pod_kill}"
    );

    // Chaos Mesh missing: refused, nothing made.
    let out = run(
        dir.path(),
        &["chaos", "--env", "staging", "--scenario", "network-latency"],
    )
    .await;
    let s = text(&out);
    assert!(s.contains("Chaos Mesh is not installed"), "{s}");
    assert!(kube.received_matching("POST", "").is_empty());

    // --no-wait would leave no process to end the fault.
    let out = run(
        dir.path(),
        &[
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "pod-kill",
            "--no-wait",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--no-wait is refused on Kubernetes"));

    // chaos.tool: builtin is not for Kubernetes.
    write_project(
        dir.path(),
        &kube.url(),
        &format!("{CONFIG}  tool: builtin\n"),
    );
    let out = run(
        dir.path(),
        &["chaos", "--env", "staging", "--scenario", "pod-kill"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("chaos.tool: builtin"), "{}", text(&out));
}
