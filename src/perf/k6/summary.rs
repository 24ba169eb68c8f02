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
    // The file is written by a script's own `handleSummary`: a negative
    // count or rate counts as none.
    let count = count.max(0.0);
    let rate = num(Some(reqs), "rate").unwrap_or(0.0).max(0.0);
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
    let requests = count as u64;
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
mod tests;
