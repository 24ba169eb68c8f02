//! Both shapes of k6's summary, and broken ones.

use super::*;

const LIMITS: Thresholds = Thresholds {
    p95_ms: 200.0,
    max_error_rate: 0.01,
};

/// The shape `k6 run --summary-export` writes.
const EXPORT: &str = r#"{
  "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": {}, "checks": {}},
  "metrics": {
    "http_reqs": {"count": 1587, "rate": 528.2},
    "http_req_duration": {"avg": 3.7, "min": 1.4, "med": 3.4, "max": 20.9, "p(90)": 5.1, "p(95)": 7.3, "p(99)": 12.0,
                          "thresholds": {"p(95)<200": false}},
    "http_req_failed": {"passes": 0, "fails": 1587, "value": 0,
                        "thresholds": {"rate<0.01": false}},
    "vus_max": {"value": 15, "min": 10, "max": 15}
  }
}"#;

#[test]
fn summary_export_maps_to_the_report() {
    let s = parse_summary(EXPORT, "http://127.0.0.1:8180", LIMITS).unwrap();
    assert_eq!(s.mode, "k6");
    assert_eq!(s.requests, 1587);
    assert_eq!(s.concurrency, 15);
    assert!((s.rps - 528.2).abs() < 1e-9);
    assert_eq!(s.latency_ms.p50, 3.4);
    assert_eq!(s.latency_ms.p95, 7.3);
    assert_eq!(s.latency_ms.p99, 12.0);
    assert_eq!(s.errors, 0);
    assert!(s.thresholds.passed, "{:?}", s.thresholds);
}

#[test]
fn handle_summary_shape_and_failed_thresholds() {
    let doc = r#"{"metrics": {
        "http_reqs": {"values": {"count": 1000, "rate": 100.0}},
        "http_req_duration": {"values": {"avg": 150, "med": 120, "p(90)": 230, "p(95)": 260, "p(99)": 400, "max": 900},
                              "thresholds": {"p(95)<200": {"ok": false}}},
        "http_req_failed": {"values": {"rate": 0.02, "passes": 20, "fails": 980}}
    }}"#;
    let s = parse_summary(doc, "http://x", LIMITS).unwrap();
    assert_eq!(s.requests, 1000);
    assert_eq!(s.errors, 20);
    assert!(!s.thresholds.passed);
    let msgs: Vec<&str> = s
        .thresholds
        .failures
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        msgs.iter().any(|m| m.starts_with("p95 latency")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.starts_with("error rate")), "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("`p(95)<200` on http_req_duration")),
        "{msgs:?}"
    );
}

#[test]
fn broken_summaries_say_what_is_missing() {
    assert!(parse_summary("{", "t", LIMITS)
        .unwrap_err()
        .contains("not JSON"));
    assert!(parse_summary("{}", "t", LIMITS)
        .unwrap_err()
        .contains("metrics"));
    assert!(parse_summary(r#"{"metrics":{}}"#, "t", LIMITS)
        .unwrap_err()
        .contains("http_reqs"));
}

#[test]
fn negative_counts_and_rates_read_as_none() {
    // Found by fuzz/k6_summary: a negative count (or rate) gave a negative
    // duration next to zero requests.
    let doc = r#"{"metrics": {"http_reqs": {"values": {"count": -1000, "rate": 100.0}}}}"#;
    let s = parse_summary(doc, "t", LIMITS).unwrap();
    assert_eq!((s.requests, s.duration_secs, s.rps), (0, 0.0, 100.0));
    let doc = r#"{"metrics": {"http_reqs": {"count": 1000, "rate": -5}}}"#;
    let s = parse_summary(doc, "t", LIMITS).unwrap();
    assert_eq!((s.requests, s.duration_secs, s.rps), (1000, 0.0, 0.0));
}
