//! End-to-end: the real binary in tmux, driven with send-keys and read with
//! capture-pane, the way a person uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

mod support;

use support::daemon::processes_with_env;
use support::tmux::TmuxSession;

/// The console on the demo sandbox in a private tmux server.
struct Session {
    tmux: TmuxSession,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Session {
    type Target = TmuxSession;
    fn deref(&self) -> &TmuxSession {
        &self.tmux
    }
}

impl Session {
    fn start(width: u16, height: u16, config: &str, extra: &str) -> Session {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg_path = dir.path().join("blissful-infra.yaml");
        std::fs::write(&cfg_path, config).expect("write config");
        let state = dir.path().join("state");
        let cmd = format!(
            "cd {} && BLISSFUL_INFRA_STATE_DIR={} TERM=xterm-256color {} --config {} {} demo; echo EXITED:$?; sleep 30",
            dir.path().display(),
            state.display(),
            BIN,
            cfg_path.display(),
            extra
        );
        Session {
            tmux: TmuxSession::start(width, height, &cmd),
            dir,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

fn config() -> String {
    r#"
project: e2e
environments:
  - name: staging
    replicas: 1
    router_port: 0
    metrics_port: 0
  - name: production
    replicas: 1
    router_port: 0
    metrics_port: 0
    protected: true
traffic:
  rate_per_sec: 40
rollout:
  steps:
    - { weight: 50, pause_secs: 1 }
    - { weight: 100, pause_secs: 1 }
  analysis:
    min_samples: 5
    # This test drives the console, not the analysis: latency on a busy CI
    # machine must not roll the canary back.
    latency_slack_ms: 250
chaos:
  defaults:
    duration_secs: 3
"#
    .to_string()
}

/// The line of the Environments pane that names `env`.
fn env_row<'a>(screen: &'a str, env: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.contains(env)
                && (l.contains("Healthy")
                    || l.contains("Progressing")
                    || l.contains("Degraded")
                    || l.contains("Down"))
        })
        .unwrap_or("")
}

fn audit_lines(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn console_deploy_promote_rollback_chaos_and_quit() {
    let s = Session::start(120, 40, &config(), "");
    let long = Duration::from_secs(40);

    // The six panes and live data.
    s.wait_for("all six panes with two healthy environments", long, |sc| {
        [
            "Environments",
            "Logs",
            "Pipeline",
            "Metrics",
            "Chaos",
            "Agent",
        ]
        .iter()
        .all(|p| sc.contains(p))
            && env_row(sc, "staging").contains("Healthy")
            && env_row(sc, "production").contains("Healthy")
    });
    s.wait_for("log lines streaming", long, |sc| sc.contains("request"));

    // Deploy v2 to staging (selected first): picker -> confirm -> rollout promotes itself.
    s.keys(&["d"]);
    s.wait_for("the deploy picker", long, |sc| {
        sc.contains("Deploy to staging") && sc.contains("v2")
    });
    s.keys(&["Enter"]);
    s.wait_for("the confirm dialog", long, |sc| {
        sc.contains("Confirm") && sc.contains("v2")
    });
    s.keys(&["y"]);
    let sc = s.wait_for("v2 promoted in staging", Duration::from_secs(60), |sc| {
        let row = env_row(sc, "staging");
        row.contains("v2") && row.contains("Healthy") && !row.contains("v1")
    });
    assert!(sc.contains("Pipeline"), "{sc}");

    // Promote staging -> production: a protected environment asks for its name.
    s.keys(&["p"]);
    s.wait_for("the typed confirmation", long, |sc| {
        sc.contains("production") && sc.contains("Type")
    });
    s.literal("production");
    s.keys(&["Enter"]);
    s.wait_for("v2 promoted in production", Duration::from_secs(60), |sc| {
        let row = env_row(sc, "production");
        row.contains("v2") && row.contains("Healthy") && !row.contains("v1")
    });

    // Roll production back to v1.
    s.keys(&["]"]);
    s.keys(&["r"]);
    s.wait_for("the rollback confirmation", long, |sc| {
        sc.contains("Roll production back")
    });
    s.literal("production");
    s.keys(&["Enter"]);
    s.wait_for("production back on v1", Duration::from_secs(60), |sc| {
        let row = env_row(sc, "production");
        row.contains("v1") && row.contains("Healthy") && !row.contains("v2")
    });

    // Chaos: pod-kill against staging; the Chaos pane shows the experiment.
    s.keys(&["["]);
    s.keys(&["c"]);
    s.wait_for("the chaos picker", long, |sc| {
        sc.contains("Chaos against staging") && sc.contains("pod-kill")
    });
    s.keys(&["Enter"]);
    s.wait_for("the chaos confirmation", long, |sc| {
        sc.contains("Run pod-kill against staging")
    });
    s.keys(&["y"]);
    s.wait_for(
        "a pod-kill result in the Chaos pane",
        Duration::from_secs(60),
        |sc| {
            sc.lines().any(|l| {
                l.contains("pod-kill")
                    && (l.contains("resilient")
                        || l.contains("no impact")
                        || l.contains("not recovered")
                        || l.contains("SLO breached"))
            })
        },
    );

    // Every destructive action is in the audit journal.
    let audit = audit_lines(&s.state_dir());
    for action in ["deploy", "promote", "rollback", "chaos"] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"].as_str().is_some_and(|a| a.contains(action))),
            "no `{action}` entry in the audit journal: {audit:?}"
        );
    }

    // Quit restores the terminal and exits 0.
    s.keys(&["q"]);
    let sc = s.wait_for("the process to exit", long, |sc| sc.contains("EXITED:"));
    assert!(sc.contains("EXITED:0"), "{sc}");
    assert!(
        !sc.contains("Environments"),
        "alternate screen not left: {sc}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let marker = format!("BLISSFUL_INFRA_STATE_DIR={}", s.state_dir().display());
    let survivors = processes_with_env(&marker);
    assert!(
        survivors.is_empty(),
        "processes left after quit: {survivors:?}"
    );
}

#[test]
fn small_terminal_read_only_and_sighup() {
    let s = Session::start(80, 24, &config(), "--read-only");
    let long = Duration::from_secs(40);
    s.wait_for("the narrow layout with a tab bar", long, |sc| {
        sc.contains("1 Environments") && sc.contains("READ-ONLY") && sc.contains("staging")
    });
    // Destructive keys are refused, with a reason.
    s.keys(&["d"]);
    s.wait_for("the read-only refusal", long, |sc| sc.contains("read-only"));
    // Help is generated from the action table.
    s.keys(&["?"]);
    s.wait_for("the help overlay", long, |sc| {
        sc.contains("Help") && sc.contains("READ-ONLY mode")
    });
    s.keys(&["PageDown", "PageDown"]);
    s.wait_for("the delivery keys in help", long, |sc| {
        sc.contains("roll the selected environment back")
    });
    s.keys(&["Escape"]);
    // SIGHUP (an SSH connection dropping) ends the process cleanly.
    let shell_pid = s.pane_pid();
    let child = Command::new("pgrep")
        .args(["-P", &shell_pid, "-f", "blissful-infra"])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&child.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    assert!(
        !pid.is_empty(),
        "console process not found under pane pid {shell_pid}"
    );
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let sc = s.wait_for("exit after SIGHUP", long, |sc| sc.contains("EXITED:"));
    assert!(sc.contains("EXITED:0"), "{sc}");
    // No instance process is left behind: nothing still carries our state dir in its environment.
    std::thread::sleep(Duration::from_millis(1500));
    let marker = format!("BLISSFUL_INFRA_STATE_DIR={}", s.state_dir().display());
    let survivors = processes_with_env(&marker);
    assert!(
        survivors.is_empty(),
        "processes left after SIGHUP: {survivors:?}"
    );
}

/// `L` load-tests the selected environment (Pipeline pane, a `load test`
/// column in Metrics); `C` compares a slow candidate with the stable version
/// in a separate sandbox and shows the comparison view with the verdict.
#[test]
fn console_load_test_and_comparison_view() {
    let cfg = format!(
        "{}service:\n  versions:\n    slow:\n      latency_ms: 60\ncomparison:\n  auto_promote: false\n",
        config()
    );
    let s = Session::start(120, 40, &cfg, "");
    let long = Duration::from_secs(40);
    s.wait_for("staging healthy", long, |sc| {
        env_row(sc, "staging").contains("Healthy")
    });

    s.keys(&["L"]);
    s.wait_for("the load test in the Pipeline pane", long, |sc| {
        sc.contains("perf staging")
    });
    s.keys(&["4"]);
    s.wait_for("the load test column in Metrics", long, |sc| {
        sc.contains("load test")
    });
    s.wait_for("the load test's result", Duration::from_secs(30), |sc| {
        sc.contains("load test of staging:")
    });

    s.keys(&["C"]);
    s.wait_for("the comparison picker", long, |sc| {
        sc.contains("Compare with v1") && sc.contains("slow")
    });
    // Move the selection to `slow`, then start.
    for _ in 0..10 {
        if s.screen().lines().any(|l| l.contains("▸ slow")) {
            break;
        }
        s.keys(&["j"]);
    }
    assert!(s.screen().contains("▸ slow"), "{}", s.screen());
    s.keys(&["Enter"]);
    s.wait_for("the comparison view", long, |sc| {
        sc.contains("Compare v1 → slow") && sc.contains("start both")
    });
    let sc = s.wait_for("the verdict", Duration::from_secs(60), |sc| {
        sc.contains("verdict old wins")
    });
    assert!(sc.contains("p95 (ms)"), "{sc}");
    assert!(sc.contains("FAIL"), "{sc}");
    assert!(sc.contains("Mann-Whitney"), "{sc}");
    // Esc closes it; v brings it back.
    s.keys(&["Escape"]);
    s.wait_for("the view closed", long, |sc| !sc.contains("Mann-Whitney"));
    s.keys(&["v"]);
    s.wait_for("the view again", long, |sc| sc.contains("verdict old wins"));
    s.keys(&["Escape", "q"]);
    s.wait_for("exit", long, |sc| sc.contains("EXITED:0"));
}
