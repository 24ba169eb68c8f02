use std::sync::Arc;

use super::*;
use crate::domain::logs::{Level, LogLine};

fn line(ts: i64, text: &str) -> LogLine {
    let s: Arc<str> = Arc::from("staging");
    LogLine::new(ts, s.clone(), Arc::from("v1"), s, Level::Info, text)
}

#[test]
fn breaker_series_are_read_from_both_exposition_styles() {
    let template = "# HELP circuit_breaker_state per dependency\n# TYPE circuit_breaker_state gauge\ncircuit_breaker_state{dependency=\"postgres\"} 0\ncircuit_breaker_state{dependency=\"kafka\"} 2\n";
    assert_eq!(
        breaker_states(template),
        breaker::BreakerReading {
            series: 2,
            open: true
        }
    );
    let closed = "circuit_breaker_state{dependency=\"postgres\"} 1\n";
    assert!(!breaker_states(closed).open, "half-open is not open");
    let r4j = "resilience4j_circuitbreaker_state{name=\"db\",state=\"closed\"} 0.0\nresilience4j_circuitbreaker_state{name=\"db\",state=\"open\"} 1.0\n";
    let r = breaker_states(r4j);
    assert_eq!((r.series, r.open), (1, true));
    let none = "http_requests_total{route=\"/\"} 12\nup 1\ngarbage line\n";
    assert_eq!(breaker_states(none).series, 0);
}

#[test]
fn retries_are_counted_in_the_window_only() {
    let lines = vec![
        line(10, "retrying connection to db in 2s (attempt 2/5)"),
        line(500, "GET / 200"),
        line(600, "backing off for 400ms"),
        line(9_000, "retry 1/3"),
    ];
    let (p, f) = retries_in_logs(&lines, 100, 1_000);
    assert_eq!(p, Practice::RetryLogic);
    match f {
        Finding::Present { basis, evidence } => {
            assert_eq!(basis, Basis::Measured);
            assert!(evidence.starts_with("1 log line(s)"), "{evidence}");
            assert!(evidence.contains("backing off"), "{evidence}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        retries_in_logs(&lines[1..2], 0, 1_000).1,
        Finding::Absent { .. }
    ));
    assert!(matches!(
        retries_in_logs(&lines, 20_000, 30_000).1,
        Finding::NotChecked { .. }
    ));
}

#[test]
fn the_scan_cites_file_and_line_and_skips_build_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
    std::fs::create_dir_all(root.join("k8s/base")).unwrap();
    std::fs::write(
        root.join("app/main.py"),
        "import signal\n\nclass CircuitBreaker:\n    pass\nsignal.signal(signal.SIGTERM, stop)\n",
    )
    .unwrap();
    std::fs::write(
        root.join("k8s/base/deployment.yaml"),
        "spec:\n  containers:\n    - readinessProbe:\n        httpGet: { path: /ready }\n",
    )
    .unwrap();
    // A dependency's rate limiter is not the project's.
    std::fs::write(root.join("node_modules/x/index.js"), "rateLimit()\n").unwrap();
    let found = scan_project(root, ScanLimits::default());
    let get = |p: Practice| {
        found
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, f)| f.clone())
            .unwrap()
    };
    match get(Practice::CircuitBreakers) {
        Finding::Present { basis, evidence } => {
            assert_eq!(basis, Basis::Read);
            assert!(evidence.starts_with("app/main.py:3"), "{evidence}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        get(Practice::GracefulShutdown),
        Finding::Present { .. }
    ));
    match get(Practice::HealthChecks) {
        Finding::Present { evidence, .. } => {
            assert!(
                evidence.starts_with("k8s/base/deployment.yaml:3"),
                "{evidence}"
            )
        }
        other => panic!("{other:?}"),
    }
    match get(Practice::RateLimiting) {
        Finding::Absent { looked } => assert_eq!(looked, "2 code and manifest files"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        get(Practice::DisruptionBudget),
        Finding::Absent { .. }
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(scan_project(empty.path(), ScanLimits::default())
        .iter()
        .all(|(_, f)| matches!(f, Finding::NotChecked { .. })));
}

#[test]
fn the_scan_stops_at_its_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        std::fs::write(dir.path().join(format!("f{i}.py")), "x = 1\n").unwrap();
    }
    let limits = ScanLimits {
        max_files: 3,
        ..ScanLimits::default()
    };
    let found = scan_project(dir.path(), limits);
    assert!(found.iter().all(|(_, f)| match f {
        Finding::Absent { looked } => looked == "3 code and manifest files",
        _ => false,
    }));
}

fn runtime_line(text: &str) -> LogLine {
    let s: Arc<str> = Arc::from("staging");
    LogLine::new(
        1,
        s,
        Arc::from("-"),
        Arc::from("sandbox"),
        Level::Info,
        text,
    )
}

fn stop_text(instance: &str, after_ms: u64, killed: bool) -> String {
    SigtermStop {
        instance: instance.into(),
        after_ms,
        grace_ms: 3000,
        killed,
    }
    .to_string()
}

#[test]
fn sigterm_stops_are_measured_from_the_runtime_lines_only() {
    // A service printing the runtime's sentence is not a measurement.
    let spoofed = vec![line(1, &stop_text("staging-v1-0", 5, false))];
    assert_eq!(sigterm_stops(&spoofed), None);

    let graceful = vec![
        runtime_line(&stop_text("staging-v1-0", 40, false)),
        line(2, "GET / 200"),
        runtime_line(&stop_text("staging-v1-1", 250, false)),
    ];
    match sigterm_stops(&graceful) {
        Some(Finding::Present {
            basis: Basis::Measured,
            evidence,
        }) => {
            assert!(
                evidence.starts_with("2 stop(s) after SIGTERM measured"),
                "{evidence}"
            );
            assert!(
                evidence.contains("staging-v1-1 exited 250 ms"),
                "{evidence}"
            );
        }
        other => panic!("{other:?}"),
    }

    let mut killed = graceful.clone();
    killed.push(runtime_line(&stop_text("staging-v1-2", 3000, true)));
    match sigterm_stops(&killed) {
        Some(Finding::Absent { looked }) => {
            assert!(looked.starts_with("3 stop(s)"), "{looked}");
            assert!(
                looked.contains("staging-v1-2 was still running"),
                "{looked}"
            );
        }
        other => panic!("{other:?}"),
    }
}
