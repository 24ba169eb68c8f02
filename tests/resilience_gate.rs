//! The resilience gate on the command line, against a real daemon: with no
//! FMEA yet it says so and lets the promotion through; after a suite that
//! scored below `comparison.thresholds.min_resilience_score` it refuses
//! (exit 2) and says how to override; `--accept-low-resilience --yes`
//! promotes anyway, and without a terminal the override is refused, never
//! assumed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::daemon::{text, Daemon};

const CONFIG: &str = r#"
project: gate-test
environments:
  - { name: staging, replicas: 1, router_port: 0, metrics_port: 0 }
  - { name: production, replicas: 1, router_port: 0, metrics_port: 0 }
traffic:
  rate_per_sec: 20
rollout:
  steps:
    - { weight: 100, pause_secs: 1 }
  analysis:
    min_samples: 5
    latency_slack_ms: 100
  max_extensions: 6
comparison:
  thresholds: { min_resilience_score: 80 }
"#;

/// A finished suite on `env` with `score`, as `chaos` appends it.
fn record_suite(d: &Daemon, env: &str, score: f64) {
    let dir = d.state().join("knowledge");
    std::fs::create_dir_all(&dir).unwrap();
    let line = serde_json::json!({ "env": env, "started_at": 1, "score": score });
    let mut text = std::fs::read_to_string(dir.join("chaos.jsonl")).unwrap_or_default();
    text.push_str(&format!("{line}\n"));
    std::fs::write(dir.join("chaos.jsonl"), text).unwrap();
}

#[test]
fn promote_is_gated_on_the_source_environments_last_fmea_score() {
    let d = Daemon::up(CONFIG);
    d.wait_ready();
    let deploy = d.run(&["deploy", "--env", "staging", "--version", "v2"]);
    assert_eq!(deploy.status.code(), Some(0), "{}", text(&deploy));

    // No FMEA yet: said, and not a reason to refuse (the runtime then
    // refuses the unknown target, after the gate let it through).
    record_suite(&d, "production", 10.0); // another environment's score does not count
    let out = d.run(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "nowhere",
        "--no-wait",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no FMEA score for staging"), "{}", text(&out));
    assert!(
        err.contains("nowhere") && !err.contains("gate closed"),
        "{}",
        text(&out)
    );
    let dry = [
        "promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--no-wait",
    ];

    // Scored 50 < 80: refused, with the way out named.
    record_suite(&d, "staging", 50.0);
    let out = d.run(&dry);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scored 50/100") && err.contains("--accept-low-resilience"),
        "{err}"
    );

    // The override needs a confirmation; a script without --yes is refused.
    let out = d.run(&[&dry[..], &["--accept-low-resilience"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs confirmation"),
        "{}",
        text(&out)
    );
    let out = d.run(&[&dry[..], &["--accept-low-resilience", "--yes"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The override is in the audit journal, with the score it overrode.
    let journal = std::fs::read_to_string(d.state().join("audit.jsonl")).unwrap();
    let overrides: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("override resilience gate"))
        .collect();
    assert_eq!(overrides.len(), 1, "{journal}");
    assert!(
        overrides[0].contains("promote staging → production")
            && overrides[0].contains("scored 50/100"),
        "{journal}"
    );

    // A newer suite that scored 90 opens the gate.
    record_suite(&d, "staging", 90.0);
    let out = d.run(&dry);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gate open"),
        "{}",
        text(&out)
    );
}
