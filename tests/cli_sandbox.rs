//! The command line against a real sandbox daemon: `up`, the operations with
//! their tables, JSON and exit codes, and `down`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod support;

use support::daemon::{text, Daemon, BIN};

const CONFIG: &str = r#"
project: cli-test
environments:
  - { name: staging, replicas: 1, router_port: 0, metrics_port: 0 }
  - { name: production, replicas: 1, router_port: 0, metrics_port: 0, protected: true }
traffic:
  rate_per_sec: 40
rollout:
  steps:
    - { weight: 50, pause_secs: 1 }
    - { weight: 100, pause_secs: 1 }
  analysis:
    min_samples: 5
    latency_slack_ms: 100
  max_extensions: 6
chaos:
  defaults: { duration_secs: 2 }
"#;

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn stable_of(d: &Daemon, env: &str) -> String {
    let status = json(&d.run(&["status", "--output", "json"]));
    status
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == env))
        .and_then(|e| e["traffic"]["stable"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn operations_from_the_command_line() {
    let d = Daemon::up(CONFIG);
    d.wait_ready();

    // A second `up` finds the running daemon.
    let again = d.run(&["up"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already running"));

    // status: a table by default.
    let table = d.run(&["status"]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table));
    let t = String::from_utf8_lossy(&table.stdout);
    assert!(
        t.lines()
            .next()
            .is_some_and(|h| h.contains("ENV") && h.contains("STABLE") && h.contains("HEALTH")),
        "{t}"
    );
    // Under the table: what the runtime offers (from its capabilities).
    assert!(t.contains("· offers: deploy"), "{t}");
    assert!(t.contains("staging") && t.contains("production"), "{t}");
    // `metrics_port: 0`: the picked port is shown in the METRICS column.
    assert!(
        t.lines().next().is_some_and(|h| h.contains("METRICS")),
        "{t}"
    );
    for row in t
        .lines()
        .filter(|l| l.starts_with("staging") || l.starts_with("production"))
    {
        let addrs: Vec<&str> = row
            .split_whitespace()
            .filter(|c| c.starts_with("127.0.0.1:"))
            .collect();
        assert_eq!(addrs.len(), 2, "router and metrics address in {row:?}");
        assert!(!addrs[1].ends_with(":0"), "{row:?}");
    }

    // A failing canary: exit 1, and the failed metric is named.
    let bad = d.run(&["deploy", "--env", "staging", "--version", "v4-buggy"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("v4-buggy rolled back in staging") && out.contains("error rate"),
        "{}",
        text(&bad)
    );
    assert_eq!(stable_of(&d, "staging"), "v1");
    // Each verdict says where its numbers came from.
    let progress = String::from_utf8_lossy(&bad.stderr);
    assert!(progress.contains("    source: router"), "{}", text(&bad));

    // A healthy canary: exit 0 and it becomes stable.
    let good = d.run(&["deploy", "--env", "staging", "--version", "v2"]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert_eq!(stable_of(&d, "staging"), "v2");

    // Promote to production, then roll production back.
    let promote = d.run(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--output",
        "json",
    ]);
    assert_eq!(promote.status.code(), Some(0), "{}", text(&promote));
    assert_eq!(stable_of(&d, "production"), "v2");
    let rollback = d.run(&["rollback", "--env", "production"]);
    assert_eq!(rollback.status.code(), Some(0), "{}", text(&rollback));
    assert_eq!(stable_of(&d, "production"), "v1");

    // Chaos waits for the result.
    let chaos = d.run(&[
        "chaos",
        "--env",
        "staging",
        "--scenario",
        "error-injection",
        "--rate",
        "0.5",
    ]);
    // Half the requests failing breaks the 5% error-rate SLO: the verdict
    // says so, each figure beside its limit, and the exit code fails.
    assert_eq!(chaos.status.code(), Some(1), "{}", text(&chaos));
    let out = String::from_utf8_lossy(&chaos.stdout);
    assert!(
        out.contains("error-injection") && out.contains("SLO breached"),
        "{}",
        text(&chaos)
    );
    assert!(
        String::from_utf8_lossy(&chaos.stderr).contains("(limit 5.0%) ✗"),
        "{}",
        text(&chaos)
    );

    // logs: recent lines, filtered, as one JSON document.
    let logs = d.run(&[
        "logs", "--env", "staging", "--tail", "5", "--grep", "request", "--output", "json",
    ]);
    assert_eq!(logs.status.code(), Some(0), "{}", text(&logs));
    let lines: Vec<serde_json::Value> = json(&logs).as_array().cloned().unwrap_or_default();
    assert!(!lines.is_empty() && lines.len() <= 5, "{}", text(&logs));
    assert!(lines.iter().all(
        |l| l["env"] == "staging" && l["text"].as_str().is_some_and(|t| t.contains("request"))
    ));

    // Refusals: unknown environment, nothing to roll back to, read-only, bad scenario.
    assert_eq!(
        d.run(&["rollback", "--env", "nowhere"]).status.code(),
        Some(2)
    );
    assert_eq!(
        d.run(&["--read-only", "rollback", "--env", "staging"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        d.run(&["chaos", "--env", "staging", "--scenario", "meteor"])
            .status
            .code(),
        Some(64)
    );

    // Every destructive action is in the audit journal.
    let audit = std::fs::read_to_string(d.state().join("audit.jsonl")).expect("audit journal");
    for action in [
        "\"deploy\"",
        "\"promote\"",
        "\"rollback\"",
        "\"chaos error-injection\"",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from audit journal:\n{audit}"
        );
    }

    // down stops it; afterwards commands say no sandbox runs (exit 3).
    let down = d.run(&["down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert!(!Path::new(&d.state().join("sandbox.sock")).exists());
    let after = d.run(&["status"]);
    assert_eq!(after.status.code(), Some(3), "{}", text(&after));
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("blissful-infra up"),
        "{}",
        text(&after)
    );
}

#[test]
fn invalid_config_is_refused_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("blissful-infra.yaml"),
        "project: x\nrollout:\n  analysis:\n    max_error_rate: high\n",
    )
    .expect("config");
    let out = Command::new(BIN)
        .args(["up"])
        .current_dir(dir.path())
        .env("BLISSFUL_INFRA_STATE_DIR", dir.path().join("state"))
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("state/daemon.log")).unwrap_or_default();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stderr), log);
    assert!(all.contains("blissful-infra.yaml:4:"), "{all}");
    assert!(all.contains("rollout.analysis.max_error_rate"), "{all}");
    assert!(!dir.path().join("state/sandbox.sock").exists());
}

/// What the running daemon's runtime says it can do (over its socket).
fn capabilities(d: &Daemon) -> blissful_infra::runtime::Capabilities {
    use blissful_infra::runtime::Runtime;
    let socket = blissful_infra::paths::StatePaths::at(d.state()).control_socket();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let remote = blissful_infra::daemon::client::RemoteRuntime::connect(&socket)
            .await
            .expect("connect to the daemon");
        remote.capabilities()
    })
}

fn health_of(d: &Daemon, env: &str) -> serde_json::Value {
    let status = json(&d.run(&["status", "--output", "json"]));
    status
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == env))
        .map(|e| e["health"].clone())
        .unwrap_or_default()
}

fn wait_stable(d: &Daemon, env: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while stable_of(d, env) != version {
        assert!(
            Instant::now() < deadline,
            "{env} never became stable on {version}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Run a rollout verb and check it against the runtime's capabilities:
/// accepted (exit 0, a table naming the intent) when supported, else
/// refused (exit 2) with the runtime's own reason.
fn verb(
    d: &Daemon,
    caps: &blissful_infra::runtime::Capabilities,
    kind: IntentKind,
    args: &[&str],
) -> bool {
    let out = d.run(args);
    match caps.check(kind) {
        Ok(()) => {
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.starts_with("ENV"), "{args:?}: {}", text(&out));
            assert!(stdout.contains(kind.name()), "{args:?}: {}", text(&out));
            true
        }
        Err(reason) => {
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&reason),
                "{args:?} should say `{reason}`: {}",
                text(&out)
            );
            false
        }
    }
}

use blissful_infra::runtime::IntentKind;

#[test]
fn rollout_verbs_follow_the_runtime_capabilities() {
    let d = Daemon::up(CONFIG);
    d.wait_ready();
    let caps = capabilities(&d);
    assert!(caps.supports(IntentKind::Deploy), "{caps:?}");

    // A script without --yes is refused before anything is sent.
    if caps.supports(IntentKind::Restart) {
        let out = d.run(&["restart", "--env", "staging"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    }
    // Read-only refuses every verb, supported or not.
    let ro = d.run(&["--read-only", "pause", "--env", "staging", "--yes"]);
    assert_eq!(ro.status.code(), Some(2), "{}", text(&ro));

    // A rollout in flight: pause, resume, promote --full.
    let dep = d.run(&["deploy", "--env", "staging", "--version", "v2", "--no-wait"]);
    assert_eq!(dep.status.code(), Some(0), "{}", text(&dep));
    if verb(
        &d,
        &caps,
        IntentKind::Pause,
        &["pause", "--env", "staging", "--yes"],
    ) {
        assert_eq!(health_of(&d, "staging")["state"], "paused");
    }
    verb(
        &d,
        &caps,
        IntentKind::Resume,
        &["resume", "--env", "staging", "--yes"],
    );
    verb(
        &d,
        &caps,
        IntentKind::PromoteFull,
        &["promote", "--env", "staging", "--full", "--yes"],
    );
    wait_stable(&d, "staging", "v2");

    // Abort with a reason, shown apart from Degraded; then retry.
    let dep = d.run(&["deploy", "--env", "staging", "--version", "v3", "--no-wait"]);
    assert_eq!(dep.status.code(), Some(0), "{}", text(&dep));
    let abort = [
        "abort",
        "--env",
        "staging",
        "--reason",
        "p99 looks wrong",
        "--yes",
    ];
    if verb(&d, &caps, IntentKind::Abort, &abort) {
        let h = health_of(&d, "staging");
        assert_eq!(h["state"], "aborted", "{h}");
        assert_eq!(h["reason"], "p99 looks wrong", "{h}");
        verb(
            &d,
            &caps,
            IntentKind::Retry,
            &["retry", "--env", "staging", "--yes"],
        );
    } else {
        verb(
            &d,
            &caps,
            IntentKind::Retry,
            &["retry", "--env", "staging", "--yes"],
        );
    }
    wait_stable(&d, "staging", "v3");

    // Undo to the previous revision (JSON names the intent), then restart.
    let undo = d.run(&["undo", "--env", "staging", "--yes", "--output", "json"]);
    if caps.supports(IntentKind::Undo) {
        assert_eq!(undo.status.code(), Some(0), "{}", text(&undo));
        let doc = json(&undo);
        assert_eq!(doc["intent"]["intent"], "undo", "{doc}");
        assert_eq!(doc["accepted"]["env"], "staging", "{doc}");
        wait_stable(&d, "staging", "v2");
    } else {
        assert_eq!(undo.status.code(), Some(2), "{}", text(&undo));
    }
    verb(
        &d,
        &caps,
        IntentKind::Restart,
        &["restart", "--env", "staging", "--yes"],
    );

    // An unknown environment is refused whatever the runtime supports.
    let unknown = d.run(&["undo", "--env", "qa", "--yes"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));

    // Verbs that reached the runtime are in the audit journal.
    let audit = std::fs::read_to_string(d.state().join("audit.jsonl")).expect("audit journal");
    assert!(audit.contains("\"rollback\""), "{audit}");
    assert!(audit.contains("undo via cli"), "{audit}");
}
