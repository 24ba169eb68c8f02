//! End-to-end: the real binary with `runtime: kubernetes`, in tmux, against
//! the FAKE API server (`tests/support/fake_kube/`, run by this test) through
//! a kubeconfig with two contexts. The console shows the Rollout's phase,
//! step and weights; the promote key sends the plugin's exact patch; `:ctx`
//! lists the contexts; a Kubernetes Event carrying the hostile corpus shows
//! cleaned, and no escape reaches the terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support::fake_kube::{read_fixture, FakeKube};
use support::hostile::{assert_terminal_state_untouched, corpus_strings};
use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const NS: &str = "shop-staging";
const LONG: Duration = Duration::from_secs(40);

fn kubeconfig(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters:\n- name: fake\n  cluster: {{server: '{url}'}}\n\
         - name: nowhere\n  cluster: {{server: 'http://127.0.0.1:9'}}\n\
         users:\n- name: dev\n  user: {{}}\n\
         contexts:\n- name: fake\n  context: {{cluster: fake, user: dev}}\n\
         - name: nowhere\n  context: {{cluster: nowhere, user: dev}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

const CONFIG: &str = "project: shop
runtime: kubernetes
environments:
  - name: staging
traffic:
  rate_per_sec: 0
kubernetes:
  namespaces:
    staging: shop-staging
  rollout: rollouts-demo
";

/// Poll `pred` until it holds.
fn eventually(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + LONG;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_console_watches_promotes_switches_context_and_cleans_hostile_events() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kube = tokio.block_on(FakeKube::start());
    let key = kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blissful-infra.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let kc = kubeconfig(dir.path(), &kube.url());
    let cmd = format!(
        "cd {d} && KUBECONFIG={kc} BLISSFUL_INFRA_STATE_DIR={d}/state TERM=xterm-256color {BIN} --config {cfg}; echo EXITED:$?; sleep 30",
        d = dir.path().display(),
        kc = kc.display(),
        cfg = cfg.display(),
    );
    let t = TmuxSession::start(170, 48, &cmd);
    let title = t.pane_title();

    // Phase, step i/n, the canary's version and weight, set vs actual.
    let screen = t.wait_for("the rollout", LONG, |s| {
        s.contains("Paused")
            && s.contains("2/8")
            && s.contains("yellow 21%")
            && s.contains("kubernetes ● ok")
    });
    assert!(screen.contains("runtime kubernetes (fake)"), "{screen}");
    assert!(
        screen.contains("rollout rollouts-demo in shop-staging"),
        "{screen}"
    );
    assert!(screen.contains("weight set 21%"), "{screen}");

    // Promote one step: confirm, then exactly the plugin's status patch.
    t.keys(&["N"]);
    t.wait_for("the confirm dialog", LONG, |s| {
        s.contains("Confirm: promote step")
    });
    t.keys(&["y"]);
    let status_path = format!("{}/status", kube.path_of(&key));
    eventually("the promote patch", || {
        !kube.received_matching("PATCH", &status_path).is_empty()
    });
    let sent = kube.received_matching("PATCH", "");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].path, status_path);
    assert_eq!(
        sent[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        sent[0].body_json(),
        json!({"status": {"pauseConditions": null}})
    );
    t.wait_for("the answer", LONG, |s| {
        s.contains("promote sent to rollout")
    });

    // `:ctx` lists the kubeconfig's contexts.
    t.keys(&[":"]);
    t.literal("ctx");
    t.keys(&["Enter"]);
    t.wait_for("the contexts", LONG, |s| {
        s.contains("fake (current), nowhere")
    });

    // `:ctx <name>` switches live: every watch reconnects to that cluster.
    t.keys(&[":"]);
    t.literal("ctx nowhere");
    t.keys(&["Enter"]);
    t.wait_for("the other cluster, unreachable", LONG, |s| {
        s.contains("runtime kubernetes (nowhere)") && s.contains("unreachable")
    });
    t.keys(&[":"]);
    t.literal("ctx fake");
    t.keys(&["Enter"]);
    t.wait_for("the fake again", LONG, |s| {
        s.contains("runtime kubernetes (fake)")
            && s.contains("2/8")
            && s.contains("kubernetes ● ok")
    });

    // Events carrying the hostile corpus, shown in the zoomed Logs pane.
    for (i, line) in corpus_strings(64 * 1024).iter().enumerate() {
        let mut ev = read_fixture("core/event-pod-pulled.json");
        ev["metadata"]["name"] = json!(format!("hostile.{i}"));
        ev["metadata"]["namespace"] = json!(NS);
        ev["involvedObject"]["namespace"] = json!(NS);
        ev["type"] = json!("Warning");
        ev["reason"] = json!("Hostile");
        ev["message"] = json!(line);
        kube.put(ev);
    }
    t.keys(&["2", "Enter"]);
    let markers = [
        "h-osc ", "h-c1", "h-bidi", "h-json ", "h-osc8", "h-dsr", "h-alt", "h-bs",
    ];
    let screen = t.wait_for("the hostile events", LONG, |s| {
        markers.iter().all(|m| s.contains(m))
    });
    assert!(screen.contains("k8s-eve"), "{screen}"); // the version column, cut
    assert!(screen.contains("HIDDEN-CR"), "{screen}");
    assert_terminal_state_untouched(&t, &title);

    t.keys(&["Enter", "q"]);
    t.wait_for("exit", LONG, |s| s.contains("EXITED:0"));
    assert_terminal_state_untouched(&t, &title);
    // The promote went to the audit journal.
    let journal = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let promote: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("\"promote\""))
        .collect();
    // Written ahead as `requested`, then its outcome.
    assert_eq!(promote.len(), 2, "{journal}");
    assert!(promote[0].contains("\"requested\""), "{journal}");
    assert!(promote[1].contains("\"accepted\""), "{journal}");
    drop(tokio);
}
