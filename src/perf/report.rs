//! The summary of a run: figures, threshold checks, table and JSON.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::generator::{Endpoint, Pacing, RunStats};

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency {
                p50: 0.0,
                p90: 0.0,
                p95: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Pass/fail limits for a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    pub p95_ms: f64,
    pub max_error_rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdFailure {
    /// `p95_ms` or `error_rate`.
    pub threshold: &'static str,
    pub limit: f64,
    pub actual: f64,
    pub over_by: f64,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdReport {
    pub p95_ms: f64,
    pub max_error_rate: f64,
    pub passed: bool,
    pub failures: Vec<ThresholdFailure>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub target: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    pub concurrency: usize,
    /// Target rate in requests per second (open loop only).
    pub rate: Option<f64>,
    pub endpoints: Vec<Endpoint>,
    /// Attempts finished: responses plus transport errors.
    pub requests: u64,
    pub responses: u64,
    pub duration_secs: f64,
    pub rps: f64,
    /// From the due time in open loop (coordinated-omission corrected).
    pub latency_ms: Latency,
    /// From the actual send (equal to `latency_ms` in closed loop).
    pub uncorrected_latency_ms: Latency,
    /// Transport errors plus 5xx responses.
    pub errors: u64,
    pub error_rate: f64,
    pub status_counts: BTreeMap<String, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    pub thresholds: ThresholdReport,
}

impl Summary {
    pub fn build(
        target: &str,
        pacing: Pacing,
        concurrency: usize,
        endpoints: &[Endpoint],
        stats: &RunStats,
        limits: Thresholds,
    ) -> Summary {
        let secs = stats.elapsed.as_secs_f64();
        let server_errors: u64 = stats
            .statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| *n)
            .sum();
        let errors = stats.transport_errors() + server_errors;
        let error_rate = if stats.requests == 0 {
            0.0
        } else {
            errors as f64 / stats.requests as f64
        };
        let latency = Latency::from_histogram(&stats.corrected);
        let thresholds = check(limits, latency.p95, error_rate);
        Summary {
            target: target.to_string(),
            mode: match pacing {
                Pacing::Closed => "closed",
                Pacing::Open { .. } => "open",
            },
            concurrency,
            rate: match pacing {
                Pacing::Closed => None,
                Pacing::Open { rate } => Some(rate),
            },
            endpoints: endpoints.to_vec(),
            requests: stats.requests,
            responses: stats.responses(),
            duration_secs: secs,
            rps: if secs > 0.0 {
                stats.requests as f64 / secs
            } else {
                0.0
            },
            latency_ms: latency,
            uncorrected_latency_ms: Latency::from_histogram(&stats.uncorrected),
            errors,
            error_rate,
            status_counts: stats
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            error_kinds: stats
                .errors
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            thresholds,
        }
    }

    /// 4xx answers: not errors of the target, but worth a note.
    pub fn client_errors(&self) -> u64 {
        self.status_counts
            .iter()
            .filter(|(k, _)| k.starts_with('4'))
            .map(|(_, v)| *v)
            .sum()
    }

    /// A two-column table, one fact per row.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let load = match self.rate {
            Some(r) => format!(
                "open loop, {} req/s target, {} connections",
                num(r),
                self.concurrency
            ),
            None => format!("closed loop, {} connections", self.concurrency),
        };
        rows.push(("target".into(), format!("{} ({load})", self.target)));
        let eps: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| format!("{}={}", e.path, e.weight))
            .collect();
        rows.push(("endpoints".into(), eps.join(" ")));
        rows.push(("requests".into(), self.requests.to_string()));
        rows.push(("duration".into(), format!("{:.3}s", self.duration_secs)));
        rows.push(("rps".into(), num(self.rps)));
        let l = &self.latency_ms;
        for (name, v) in [
            ("p50", l.p50),
            ("p90", l.p90),
            ("p95", l.p95),
            ("p99", l.p99),
            ("max", l.max),
        ] {
            rows.push((format!("latency {name}"), ms(v)));
        }
        if self.rate.is_some() {
            rows.push((
                "uncorrected p99".into(),
                ms(self.uncorrected_latency_ms.p99),
            ));
        }
        rows.push((
            "error rate".into(),
            format!(
                "{:.2}% ({} of {})",
                self.error_rate * 100.0,
                self.errors,
                self.requests
            ),
        ));
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        rows.push((
            "status codes".into(),
            if statuses.is_empty() {
                "-".into()
            } else {
                statuses.join(", ")
            },
        ));
        if !self.error_kinds.is_empty() {
            let kinds: Vec<String> = self
                .error_kinds
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            rows.push(("errors by kind".into(), kinds.join(", ")));
        }
        let t = &self.thresholds;
        rows.push((
            "thresholds".into(),
            format!(
                "p95 <= {}, error rate <= {:.2}%: {}",
                ms(t.p95_ms),
                t.max_error_rate * 100.0,
                if t.passed { "passed" } else { "FAILED" }
            ),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:<width$}  {v}\n"));
        }
        out
    }
}

/// Compare a run against its limits; each failure says by how much.
pub fn check(limits: Thresholds, p95_ms: f64, error_rate: f64) -> ThresholdReport {
    let mut failures = Vec::new();
    if p95_ms > limits.p95_ms {
        let over = p95_ms - limits.p95_ms;
        failures.push(ThresholdFailure {
            threshold: "p95_ms",
            limit: limits.p95_ms,
            actual: p95_ms,
            over_by: over,
            message: format!(
                "p95 latency {} is above the limit {} by {}",
                ms(p95_ms),
                ms(limits.p95_ms),
                ms(over)
            ),
        });
    }
    if error_rate > limits.max_error_rate {
        let over = error_rate - limits.max_error_rate;
        failures.push(ThresholdFailure {
            threshold: "error_rate",
            limit: limits.max_error_rate,
            actual: error_rate,
            over_by: over,
            message: format!(
                "error rate {:.2}% is above the limit {:.2}% by {:.2} percentage points",
                error_rate * 100.0,
                limits.max_error_rate * 100.0,
                over * 100.0
            ),
        });
    }
    ThresholdReport {
        p95_ms: limits.p95_ms,
        max_error_rate: limits.max_error_rate,
        passed: failures.is_empty(),
        failures,
    }
}

/// Milliseconds with a precision that suits the size.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::generator::{new_histogram, ErrorKind};
    use std::time::Duration;

    fn stats() -> RunStats {
        let mut h = new_histogram().unwrap();
        for v in 1..=100u64 {
            h.record(v * 1000).unwrap();
        }
        let mut statuses = BTreeMap::new();
        statuses.insert(200, 95);
        statuses.insert(500, 3);
        statuses.insert(404, 2);
        let mut errors = BTreeMap::new();
        errors.insert(ErrorKind::Timeout, 2);
        RunStats {
            elapsed: Duration::from_secs(2),
            requests: 102,
            corrected: h.clone(),
            uncorrected: h,
            statuses,
            errors,
        }
    }

    fn eps() -> Vec<Endpoint> {
        vec![Endpoint {
            path: "/".into(),
            weight: 1,
        }]
    }

    #[test]
    fn figures_and_thresholds() {
        let s = Summary::build(
            "http://127.0.0.1:1",
            Pacing::Closed,
            4,
            &eps(),
            &stats(),
            Thresholds {
                p95_ms: 50.0,
                max_error_rate: 0.01,
            },
        );
        assert_eq!(s.requests, 102);
        assert_eq!(s.responses, 100);
        assert_eq!(s.errors, 5);
        assert!((s.rps - 51.0).abs() < 1e-9);
        assert!((s.latency_ms.p50 - 50.0).abs() < 0.1);
        assert!((s.latency_ms.p95 - 95.0).abs() < 0.1);
        assert!((s.latency_ms.max - 100.0).abs() < 0.1);
        assert_eq!(s.client_errors(), 2);
        assert!(!s.thresholds.passed);
        let names: Vec<_> = s.thresholds.failures.iter().map(|f| f.threshold).collect();
        assert_eq!(names, vec!["p95_ms", "error_rate"]);
        assert!((s.thresholds.failures[0].over_by - 45.0).abs() < 0.1);
        assert!(s.thresholds.failures[0].message.contains("by 45.0ms"));
        let table = s.table();
        assert!(table.contains("status codes"), "{table}");
        assert!(table.contains("200: 95, 404: 2, 500: 3"), "{table}");
        assert!(table.contains("timeout: 2"), "{table}");
        assert!(table.contains("FAILED"), "{table}");
    }

    #[test]
    fn passing_run_has_no_failures() {
        let r = check(
            Thresholds {
                p95_ms: 200.0,
                max_error_rate: 0.01,
            },
            200.0,
            0.01,
        );
        assert!(r.passed);
        assert!(r.failures.is_empty());
    }

    #[test]
    fn empty_histogram_gives_zeros() {
        let l = Latency::from_histogram(&new_histogram().unwrap());
        assert_eq!(l.p99, 0.0);
        assert_eq!(l.max, 0.0);
    }

    #[test]
    fn ms_formatting() {
        assert_eq!(ms(0.42), "0.42ms");
        assert_eq!(ms(12.34), "12.3ms");
        assert_eq!(ms(1500.0), "1.50s");
    }
}
