//! Reading k6's end-of-test JSON summary (either shape) into a [`Summary`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::sanitize::strip_all;
use crate::perf::report::{check, Latency, Summary, ThresholdFailure, Thresholds};

/// A metric's statistics: flat (`--summary-export`) or under `values`
/// (`handleSummary`).
fn stats<'a>(metrics: &'a Value, name: &str) -> Option<&'a Value> {
    let m = metrics.get(name)?;
    Some(m.get("values").unwrap_or(m))
}

fn num(v: Option<&Value>, key: &str) -> Option<f64> {
    v?.get(key)?.as_f64()
}

/// Turn k6's JSON summary into a [`Summary`]; `limits` are this project's
/// thresholds, and the script's own failed thresholds are added as failures.
pub fn parse_summary(text: &str, target: &str, limits: Thresholds) -> Result<Summary, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let metrics = doc
        .get("metrics")
        .ok_or_else(|| "no `metrics` object".to_string())?;
    let reqs = stats(metrics, "http_reqs").ok_or_else(|| "no `http_reqs` metric".to_string())?;
    let count = num(Some(reqs), "count").ok_or_else(|| "`http_reqs` has no count".to_string())?;
    let rate = num(Some(reqs), "rate").unwrap_or(0.0);
    let dur = stats(metrics, "http_req_duration");
    let q = |k: &str| num(dur, k).unwrap_or(0.0);
    let latency = Latency {
        p50: num(dur, "med").or_else(|| num(dur, "p(50)")).unwrap_or(0.0),
        p90: q("p(90)"),
        p95: q("p(95)"),
        p99: q("p(99)"),
        max: q("max"),
        mean: q("avg"),
    };
    // `http_req_failed` is a rate: `passes` counts the failed requests
    // (the rate's "true" values), `value`/`rate` is their share.
    let failed = stats(metrics, "http_req_failed");
    let error_rate = num(failed, "value")
        .or_else(|| num(failed, "rate"))
        .unwrap_or(0.0);
    let errors = num(failed, "passes").unwrap_or((error_rate * count).round());
    let vus = stats(metrics, "vus_max")
        .and_then(|v| num(Some(v), "max").or_else(|| num(Some(v), "value")))
        .unwrap_or(0.0);
    let mut thresholds = check(limits, latency.p95, error_rate);
    for (metric, m) in metrics.as_object().into_iter().flatten() {
        let Some(ts) = m.get("thresholds").and_then(Value::as_object) else {
            continue;
        };
        for (expr, result) in ts {
            // summary-export: `true` means the threshold failed;
            // handleSummary: `{"ok": false}` does.
            let failed = match result {
                Value::Bool(b) => *b,
                Value::Object(o) => o.get("ok").and_then(Value::as_bool) == Some(false),
                _ => false,
            };
            if failed {
                thresholds.failures.push(ThresholdFailure {
                    threshold: "k6",
                    limit: 0.0,
                    actual: 0.0,
                    over_by: 0.0,
                    message: format!(
                        "k6 threshold `{}` on {} failed",
                        strip_all(expr),
                        strip_all(metric)
                    ),
                });
            }
        }
    }
    thresholds.passed = thresholds.failures.is_empty();
    let requests = count.max(0.0) as u64;
    Ok(Summary {
        target: strip_all(target),
        mode: "k6",
        concurrency: vus.max(0.0) as usize,
        rate: None,
        endpoints: Vec::new(),
        requests,
        responses: requests,
        duration_secs: if rate > 0.0 { count / rate } else { 0.0 },
        rps: rate,
        latency_ms: latency.clone(),
        uncorrected_latency_ms: latency,
        errors: errors.max(0.0) as u64,
        error_rate,
        status_counts: BTreeMap::new(),
        error_kinds: BTreeMap::new(),
        thresholds,
    })
}

#[cfg(test)]
mod tests {
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
}
