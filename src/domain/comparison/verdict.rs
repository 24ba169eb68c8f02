//! What a comparison reports: each side's numbers, the evidence, the verdict.

use serde::Serialize;

use super::{Interval, MannWhitney, ALPHA};

/// What one side of the comparison measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SideStats {
    pub version: String,
    pub requests: u64,
    pub errors: u64,
    pub duration_secs: f64,
    pub rps: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Mean over the runtime's metric points in the measured window.
    pub cpu_pct: Option<f64>,
    pub mem_mib: Option<f64>,
    /// The FMEA suite's score (0..=100) of this version, when the
    /// comparison ran it (`comparison.include_chaos`).
    pub resilience_score: Option<f64>,
    /// Latency samples kept for the tests (a uniform sample of all responses).
    pub samples: usize,
}

/// Thresholds from `comparison:` in config.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ComparisonThresholds {
    pub max_p95_regression_pct: f64,
    pub max_p99_regression_pct: f64,
    pub max_error_rate: f64,
    pub min_throughput_ratio: f64,
}

/// The statistical evidence about the difference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// `None` when a side had no latency samples.
    pub mann_whitney: Option<MannWhitney>,
    /// 95 % bootstrap interval of `new p95 - old p95`, ms.
    pub p95_diff_ci_ms: Option<Interval>,
    /// Two-proportion z-test on the error rates.
    pub error_rate_p_value: f64,
}

impl Evidence {
    /// Latency distributions differ (Mann-Whitney p < ALPHA).
    pub fn latency_differs(&self) -> bool {
        self.mann_whitney.is_some_and(|m| m.p_value < ALPHA)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NewWins,
    OldWins,
    NoSignificantDifference,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NewWins => "new wins",
            Verdict::OldWins => "old wins",
            Verdict::NoSignificantDifference => "no significant difference",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricRow {
    /// `p95_ms`, `p99_ms`, `throughput_rps`, `error_rate`, `cpu_pct`, `mem_mib`.
    pub metric: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
    /// `new - old`.
    pub diff: Option<f64>,
    /// `(new - old) / old` in percent; `None` when old is 0 or missing.
    pub diff_pct: Option<f64>,
    /// The rule, e.g. `<= +10% (and > 5 ms, significant)`; `None` for report-only metrics.
    pub threshold: Option<String>,
    /// `Some(false)` when the threshold fails.
    pub passed: Option<bool>,
    /// The absolute limit on the new version, e.g. `<= 250 ms`; `None` when
    /// `comparison.thresholds` sets none for this metric.
    pub limit: Option<String>,
    /// A failure of this metric fails the comparison (see `critical_metrics`).
    pub critical: bool,
    /// What the row adds up to.
    pub status: RowStatus,
}

/// A row's outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Every rule holds.
    Ok,
    /// A rule of a critical metric failed: the comparison fails.
    Fail,
    /// A rule of a non-critical metric failed, or a limit could not be
    /// checked: reported, no effect on the verdict, no automatic promotion.
    Warning,
    /// No rule applies.
    #[default]
    ReportOnly,
}

impl RowStatus {
    pub fn label(self) -> &'static str {
        match self {
            RowStatus::Ok => "ok",
            RowStatus::Fail => "FAIL",
            RowStatus::Warning => "warn",
            RowStatus::ReportOnly => "",
        }
    }
}

/// Everything decided from the two sides' numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub rows: Vec<MetricRow>,
    pub verdict: Verdict,
    /// Every threshold holds (new is not worse beyond tolerance).
    pub thresholds_passed: bool,
    /// Human-readable reasons behind the verdict.
    pub reasons: Vec<String>,
    /// Failures of non-critical metrics and limits that could not be
    /// checked: no effect on the verdict, but no automatic promotion.
    pub warnings: Vec<String>,
    /// Every failed rule, critical or not.
    pub breaches: Vec<super::Breach>,
    /// The metrics whose failure decides (every one unless
    /// `comparison.critical_metrics` names some).
    pub critical_metrics: Vec<super::Metric>,
}
