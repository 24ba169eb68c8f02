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
