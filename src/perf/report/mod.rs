//! The summary of a run: figures, threshold checks, table and JSON.

mod table;
mod thresholds;

pub use table::ms;
pub use thresholds::{check, ThresholdFailure, ThresholdReport, Thresholds};

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
    fn empty_histogram_gives_zeros() {
        let l = Latency::from_histogram(&new_histogram().unwrap());
        assert_eq!(l.p99, 0.0);
        assert_eq!(l.max, 0.0);
    }
}
