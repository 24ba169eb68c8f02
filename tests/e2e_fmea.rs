//! End to end in tmux: the real console on a project's embedded sandbox;
//! `5` focuses Chaos, `j` selects network-latency, `m` and `y` start its
//! FMEA. The pane shows the steps as they happen and then the verdict
//! (300 ms of latency breaks the 250 ms p99 SLO: a measured fail), and the
//! report files are in the project's `reports/chaos/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

const CONFIG: &str = "
project: fmea
environments:
  - { name: staging, replicas: 2, router_port: 0, metrics_port: 0 }
traffic:
  rate_per_sec: 20
  paths: [/hello]
chaos:
  slo: { max_error_rate: 0.05, max_p99_ms: 250, max_recovery_secs: 20 }
  defaults: { latency_ms: 300 }
  default_duration: 3s
  baseline_secs: 2
";

#[test]
fn m_runs_the_fmea_of_the_selected_scenario_and_shows_its_steps_and_verdict() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blissful-infra.yaml"), CONFIG).unwrap();
    let script = dir.path().join("console.sh");
    std::fs::write(
        &script,
        format!(
            "cd {d}\nexport BLISSFUL_INFRA_STATE_DIR={d}/state TERM=xterm-256color\n{BIN}\necho CONSOLE-EXITED\nsleep 60\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let t = TmuxSession::start(160, 45, &format!("sh {}", script.display()));
    t.wait_for("the sandbox to be healthy", Duration::from_secs(60), |s| {
        s.contains("Healthy")
    });
    t.keys(&["5", "j", "m"]);
    t.wait_for("the FMEA confirmation", Duration::from_secs(10), |s| {
        s.contains("FMEA of network-latency on staging")
    });
    t.keys(&["y"]);
    let steps = t.wait_for("a baseline step", Duration::from_secs(30), |s| {
        s.contains("[1/8 baseline] network-latency")
    });
    assert!(
        steps.contains("FMEA · network-latency on staging · running"),
        "{steps}"
    );
    let done = t.wait_for("the verdict", Duration::from_secs(90), |s| {
        s.contains("score 0/100")
    });
    assert!(done.contains("✗ network-latency fail Medium"), "{done}");
    // The newest steps fit beside the verdict and the scorecard's checklist
    // (every step is in the report file, checked below).
    assert!(done.contains("[8/8 learn]"), "{done}");
    assert!(done.contains("checklist: circuit breakers"), "{done}");
    let reports: Vec<String> = std::fs::read_dir(dir.path().join("reports").join("chaos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        reports.iter().filter(|f| f.ends_with(".md")).count(),
        1,
        "{reports:?}"
    );
    assert_eq!(
        reports.iter().filter(|f| f.ends_with(".json")).count(),
        1,
        "{reports:?}"
    );
    let md_name = reports.iter().find(|f| f.ends_with(".md")).unwrap();
    let md =
        std::fs::read_to_string(dir.path().join("reports").join("chaos").join(md_name)).unwrap();
    assert!(md.contains("[6/8 verify recovery] network-latency"), "{md}");
    t.keys(&["q"]);
    t.wait_for("the console to exit", Duration::from_secs(30), |s| {
        s.contains("CONSOLE-EXITED")
    });
}
