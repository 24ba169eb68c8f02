//! Absolute limits and critical metrics: the rules of `comparison.thresholds`
//! and `comparison.critical_metrics` beside the relative ones.
//!
//! The rule: every failed rule belongs to one [`Metric`]. When
//! `critical_metrics` is empty every metric is critical (a failure fails the
//! comparison, as the relative thresholds always did). When it names metrics,
//! a failure of a named one fails the comparison (the old version wins,
//! exit code 1) and a failure of any other is a **warning**: it is reported, it leaves
//! the verdict and the exit code alone, and it keeps the new version from
//! being promoted automatically. A limit whose figure was not measured (no
//! CPU point, no resilience score) is a warning too, never a pass.

use serde::{Deserialize, Serialize};

use super::ComparisonThresholds;

/// A metric `comparison.critical_metrics` can name; each owns rows' rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    #[serde(alias = "p95_ms")]
    P95Latency,
    #[serde(alias = "p99_ms")]
    P99Latency,
    #[serde(alias = "throughput_rps")]
    Throughput,
    ErrorRate,
    #[serde(alias = "cpu_pct")]
    Cpu,
    #[serde(alias = "mem_mib")]
    Memory,
    ResilienceScore,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::P95Latency,
        Metric::P99Latency,
        Metric::Throughput,
        Metric::ErrorRate,
        Metric::Cpu,
        Metric::Memory,
        Metric::ResilienceScore,
    ];

    /// The name as written in `critical_metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P95Latency => "p95_latency",
            Metric::P99Latency => "p99_latency",
            Metric::Throughput => "throughput",
            Metric::ErrorRate => "error_rate",
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::ResilienceScore => "resilience_score",
        }
    }

    /// The report row that shows it.
    pub fn row(self) -> &'static str {
        match self {
            Metric::P95Latency => "p95_ms",
            Metric::P99Latency => "p99_ms",
            Metric::Throughput => "throughput_rps",
            Metric::ErrorRate => "error_rate",
            Metric::Cpu => "cpu_pct",
            Metric::Memory => "mem_mib",
            Metric::ResilienceScore => "resilience_score",
        }
    }

    /// The metric a report row belongs to.
    pub fn of_row(row: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.row() == row)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Absolute limits on the new version (`comparison.thresholds`); `None` is
/// no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Limits {
    pub p95_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
    pub min_throughput_rps: Option<f64>,
    pub max_error_rate_percent: Option<f64>,
    pub max_cpu_percent: Option<f64>,
    /// Megabytes (10^6 bytes); the runtime measures MiB, converted.
    pub max_memory_mb: Option<f64>,
    /// Only when the comparison scored resilience (`include_chaos`).
    pub min_resilience_score: Option<f64>,
}

/// Bytes per MiB over bytes per MB.
pub const MB_PER_MIB: f64 = 1.048_576;

/// Everything a verdict is judged by.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub relative: ComparisonThresholds,
    pub limits: Limits,
    /// Empty: every metric is critical.
    pub critical: Vec<Metric>,
}

impl Rules {
    /// Only the relative thresholds, every metric critical.
    pub fn relative(relative: ComparisonThresholds) -> Rules {
        Rules {
            relative,
            limits: Limits::default(),
            critical: Vec::new(),
        }
    }

    pub fn is_critical(&self, m: Metric) -> bool {
        self.critical.is_empty() || self.critical.contains(&m)
    }

    /// The critical metrics spelled out (every one when none is named).
    pub fn critical_list(&self) -> Vec<Metric> {
        if self.critical.is_empty() {
            Metric::ALL.to_vec()
        } else {
            let mut v = self.critical.clone();
            v.sort();
            v.dedup();
            v
        }
    }
}

/// One failed rule, for whoever reads the JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breach {
    pub metric: Metric,
    /// The config key of the rule, e.g. `comparison.thresholds.p99_latency_ms`.
    pub key: &'static str,
    /// The limit in the key's own unit.
    pub limit: f64,
    /// The new version's figure in the same unit.
    pub value: f64,
    /// A critical breach fails the comparison; another is a warning.
    pub critical: bool,
}

/// An absolute rule on the new version's figure `value` (in the key's unit).
pub(super) struct Absolute {
    pub metric: Metric,
    pub key: &'static str,
    pub limit: f64,
    /// `true`: the figure must be at most the limit; `false`: at least.
    pub at_most: bool,
    pub unit: &'static str,
    pub value: Option<f64>,
}

impl Absolute {
    /// `<= 250 ms`.
    pub fn rule(&self) -> String {
        format!(
            "{} {}{}",
            if self.at_most { "<=" } else { ">=" },
            self.limit,
            self.unit
        )
    }

    /// `Some(true)` when it holds, `None` when the figure is missing.
    pub fn holds(&self) -> Option<bool> {
        self.value.map(|v| {
            if self.at_most {
                v <= self.limit
            } else {
                v >= self.limit
            }
        })
    }
}

/// The absolute rules that apply to the new version, row by row.
pub(super) fn absolutes(l: &Limits, new: &super::SideStats) -> Vec<Absolute> {
    let rule = |metric, key, limit: Option<f64>, at_most, unit, value| {
        limit.map(|limit| Absolute {
            metric,
            key,
            limit,
            at_most,
            unit,
            value,
        })
    };
    [
        rule(
            Metric::P95Latency,
            "comparison.thresholds.p95_latency_ms",
            l.p95_latency_ms,
            true,
            " ms",
            Some(new.p95_ms),
        ),
        rule(
            Metric::P99Latency,
            "comparison.thresholds.p99_latency_ms",
            l.p99_latency_ms,
            true,
            " ms",
            Some(new.p99_ms),
        ),
        rule(
            Metric::Throughput,
            "comparison.thresholds.min_throughput_rps",
            l.min_throughput_rps,
            false,
            " req/s",
            Some(new.rps),
        ),
        rule(
            Metric::ErrorRate,
            "comparison.thresholds.max_error_rate_percent",
            l.max_error_rate_percent,
            true,
            "%",
            Some(new.error_rate * 100.0),
        ),
        rule(
            Metric::Cpu,
            "comparison.thresholds.max_cpu_percent",
            l.max_cpu_percent,
            true,
            "% cpu",
            new.cpu_pct,
        ),
        rule(
            Metric::Memory,
            "comparison.thresholds.max_memory_mb",
            l.max_memory_mb,
            true,
            " MB",
            new.mem_mib.map(|m| m * MB_PER_MIB),
        ),
        rule(
            Metric::ResilienceScore,
            "comparison.thresholds.min_resilience_score",
            l.min_resilience_score,
            false,
            "/100",
            new.resilience_score,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
