//! Metric points and bounded series for sparklines.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::EpochMillis;

/// One sample of one version in one environment (normally one per second).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub ts: EpochMillis,
    pub rps: f64,
    /// Fraction 0..1 of requests that failed.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// CPU of the version's instances, percent of one core.
    pub cpu_pct: f64,
    /// Resident memory of the version's instances, MiB.
    pub mem_mib: f64,
}

/// Separates a version from the source of its points in a series name
/// (`v2@prometheus`): the same version seen by the runtime and by Prometheus
/// keeps two series instead of interleaving their points.
pub const SOURCE_SEPARATOR: char = '@';

/// The source name of what a load generator's clients saw (`all@load`).
pub const LOAD_SOURCE: &str = "load";

/// The series name of `version`'s points from `source`.
pub fn series_name(version: &str, source: &str) -> String {
    format!("{version}{SOURCE_SEPARATOR}{source}")
}

/// `(version, Some(source))` for `v2@prometheus`, `(version, None)` for the
/// runtime's own series.
pub fn split_series(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(SOURCE_SEPARATOR) {
        Some((v, s)) if !v.is_empty() && !s.is_empty() => (v, Some(s)),
        _ => (name, None),
    }
}

/// A bounded series: the oldest point leaves when a new one arrives at capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSeries {
    capacity: usize,
    points: VecDeque<MetricPoint>,
}

impl MetricSeries {
    pub fn new(capacity: usize) -> Self {
        MetricSeries {
            capacity: capacity.max(1),
            points: VecDeque::with_capacity(capacity.max(1)),
        }
    }
    pub fn push(&mut self, p: MetricPoint) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(p);
    }
    pub fn last(&self) -> Option<&MetricPoint> {
        self.points.back()
    }
    pub fn len(&self) -> usize {
        self.points.len()
    }
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &MetricPoint> + ExactSizeIterator {
        self.points.iter()
    }
    /// The last `n` values of one field, oldest first (for a sparkline).
    pub fn tail(&self, n: usize, field: impl Fn(&MetricPoint) -> f64) -> Vec<f64> {
        let skip = self.points.len().saturating_sub(n);
        self.points.iter().skip(skip).map(field).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_keep_the_source_apart() {
        assert_eq!(series_name("v2", "prometheus"), "v2@prometheus");
        assert_eq!(split_series("v2@prometheus"), ("v2", Some("prometheus")));
        assert_eq!(split_series("v2"), ("v2", None));
        assert_eq!(split_series("@x"), ("@x", None));
        assert_eq!(split_series("v2@"), ("v2@", None));
    }

    fn point(ts: EpochMillis) -> MetricPoint {
        MetricPoint {
            ts,
            rps: ts as f64 * 10.0,
            ..Default::default()
        }
    }

    #[test]
    fn series_is_bounded() {
        let mut s = MetricSeries::new(3);
        assert!(s.is_empty());
        assert!(s.last().is_none());
        for ts in 0..5 {
            s.push(point(ts));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().map(|p| p.ts).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(s.last().map(|p| p.ts), Some(4));
    }

    #[test]
    fn tail_returns_last_values_oldest_first() {
        let mut s = MetricSeries::new(10);
        for ts in 0..4 {
            s.push(point(ts));
        }
        assert_eq!(s.tail(2, |p| p.rps), vec![20.0, 30.0]);
        assert_eq!(s.tail(100, |p| p.ts as f64), vec![0.0, 1.0, 2.0, 3.0]);
        assert!(s.tail(0, |p| p.rps).is_empty());
        let mut one = MetricSeries::new(0);
        one.push(point(1));
        one.push(point(2));
        assert_eq!(one.len(), 1);
    }
}
