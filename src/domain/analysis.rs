//! Canary analysis: compare a canary's measurements with the stable version's
//! and with absolute thresholds, and say which metric failed and by how much.

use serde::{Deserialize, Serialize};

/// Thresholds from `rollout.analysis` in config. Rates are fractions (0.01 = 1%).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    pub max_error_rate: f64,
    pub min_success_rate: f64,
    pub max_p95_ms: f64,
    pub max_p99_ms: f64,
    /// Canary p95 may be at most this multiple of stable p95 (plus `latency_slack_ms`).
    pub max_latency_ratio: f64,
    /// Absolute slack added to ratio comparisons so tiny latencies don't flap.
    pub latency_slack_ms: f64,
    /// Fewer canary requests than this makes the verdict inconclusive.
    pub min_samples: u64,
    /// Largest share of 5xx answers; checked when the source counts them.
    pub max_server_error_rate: f64,
    /// CPU (percent) that, held for all of `saturation_secs`, fails the
    /// canary; checked when the source measures it.
    pub max_cpu_pct: f64,
    /// Memory (percent of the limit) held for all of `saturation_secs`.
    pub max_memory_pct: f64,
    /// How long CPU or memory must stay above its limit to count.
    pub saturation_secs: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_error_rate: 0.01,
            min_success_rate: 0.99,
            max_p95_ms: 200.0,
            max_p99_ms: 500.0,
            max_latency_ratio: 1.5,
            latency_slack_ms: 20.0,
            min_samples: 10,
            max_server_error_rate: 0.005,
            max_cpu_pct: 90.0,
            max_memory_pct: 90.0,
            saturation_secs: 300,
        }
    }
}

/// What was measured for one version over the analysis window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionSample {
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// 5xx answers, when the source tells them apart from other errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_errors: Option<u64>,
    /// Lowest CPU percent over the saturation window (so above the limit
    /// means above it the whole time), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    /// Lowest memory percent of the limit over the saturation window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_pct: Option<f64>,
}

impl VersionSample {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
    /// Computed as a ratio, not as `1 - error_rate`, so that exactly 97 of
    /// 100 requests equals a `0.97` threshold (the subtraction lands below it).
    pub fn success_rate(&self) -> f64 {
        if self.requests == 0 {
            1.0
        } else {
            self.requests.saturating_sub(self.errors) as f64 / self.requests as f64
        }
    }
    /// Share of 5xx answers, when counted.
    pub fn server_error_rate(&self) -> Option<f64> {
        let n = self.server_errors?;
        Some(if self.requests == 0 {
            0.0
        } else {
            n as f64 / self.requests as f64
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ErrorRate,
    SuccessRate,
    P95Latency,
    P99Latency,
    P95VsStable,
    Samples,
    ServerErrorRate,
    CpuSaturation,
    MemorySaturation,
}

impl Metric {
    pub fn label(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error rate",
            Metric::SuccessRate => "success rate",
            Metric::P95Latency => "p95 latency",
            Metric::P99Latency => "p99 latency",
            Metric::P95VsStable => "p95 vs stable",
            Metric::Samples => "samples",
            Metric::ServerErrorRate => "5xx rate",
            Metric::CpuSaturation => "sustained cpu",
            Metric::MemorySaturation => "sustained memory",
        }
    }
}

/// `value` must be at most (`Max`) or at least (`Min`) the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Max,
    Min,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub metric: Metric,
    pub value: f64,
    pub threshold: f64,
    pub bound: Bound,
    pub passed: bool,
}

impl Check {
    fn new(metric: Metric, value: f64, threshold: f64, bound: Bound) -> Self {
        let passed = match bound {
            Bound::Max => value <= threshold,
            Bound::Min => value >= threshold,
        };
        Check {
            metric,
            value,
            threshold,
            bound,
            passed,
        }
    }

    /// Human sentence, e.g. `p99 latency 612ms > 500ms (+112ms)`.
    pub fn describe(&self) -> String {
        let op = match (self.bound, self.passed) {
            (Bound::Max, true) => "<=",
            (Bound::Max, false) => ">",
            (Bound::Min, true) => ">=",
            (Bound::Min, false) => "<",
        };
        let (v, t, d) = (
            fmt_value(self.metric, self.value),
            fmt_value(self.metric, self.threshold),
            fmt_delta(self.metric, self.value - self.threshold),
        );
        if self.passed {
            format!("{} {v} {op} {t}", self.metric.label())
        } else {
            format!("{} {v} {op} {t} ({d})", self.metric.label())
        }
    }
}

fn is_rate(m: Metric) -> bool {
    matches!(
        m,
        Metric::ErrorRate | Metric::SuccessRate | Metric::ServerErrorRate
    )
}

fn is_percent(m: Metric) -> bool {
    matches!(m, Metric::CpuSaturation | Metric::MemorySaturation)
}

pub fn fmt_value(m: Metric, v: f64) -> String {
    match m {
        _ if is_rate(m) => format!("{:.2}%", v * 100.0),
        _ if is_percent(m) => format!("{v:.0}%"),
        Metric::Samples => format!("{v:.0}"),
        Metric::P95VsStable => format!("{v:.0}ms"),
        _ => format!("{v:.0}ms"),
    }
}

fn fmt_delta(m: Metric, d: f64) -> String {
    let sign = if d >= 0.0 { "+" } else { "-" };
    let a = d.abs();
    match m {
        _ if is_rate(m) => format!("{sign}{:.2}pp", a * 100.0),
        _ if is_percent(m) => format!("{sign}{a:.0}pp"),
        Metric::Samples => format!("{sign}{a:.0}"),
        _ => format!("{sign}{a:.0}ms"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    pub canary: VersionSample,
    pub stable: Option<VersionSample>,
    /// Where the samples came from (`router`, `prometheus`); `None` when
    /// the caller did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The query behind each check, when the samples came from a query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<(Metric, String)>,
    /// Metrics judged by an analysis outside blissful-infra (an Argo
    /// AnalysisRun), which the fixed `checks` cannot express.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// One metric of an external analysis: what it concluded, and how, in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub name: String,
    /// `None` while it is still measuring.
    pub outcome: Option<Outcome>,
    /// e.g. `Failed · 2 of 3 failed (failureLimit 1) · last value 0.12`.
    pub detail: String,
    /// What it asked its provider (a query, a URL), when it says.
    pub query: Option<String>,
}

impl Verdict {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The findings that did not pass (failed, inconclusive or pending).
    pub fn open_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.outcome != Some(Outcome::Pass))
    }

    /// One line: what failed and by how much, or that all checks passed.
    pub fn summary(&self) -> String {
        if self.checks.is_empty() && !self.findings.is_empty() {
            let open: Vec<String> = self
                .open_findings()
                .map(|f| format!("{}: {}", f.name, f.detail))
                .collect();
            return match (self.outcome, open.is_empty()) {
                (Outcome::Pass, _) | (_, true) => {
                    format!("passed: {} metrics", self.findings.len())
                }
                (Outcome::Fail, _) => format!("failed: {}", open.join("; ")),
                (Outcome::Inconclusive, _) => format!("inconclusive: {}", open.join("; ")),
            };
        }
        match self.outcome {
            Outcome::Pass => format!(
                "passed: {} checks on {} requests",
                self.checks.len(),
                self.canary.requests
            ),
            Outcome::Inconclusive => format!(
                "inconclusive: {}",
                self.failed_checks()
                    .map(Check::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Outcome::Fail => format!(
                "failed: {}",
                self.failed_checks()
                    .map(Check::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// Judge the canary. With too few samples the verdict is inconclusive and no
/// other check is made; otherwise every check runs so the report is complete.
pub fn analyze(canary: &VersionSample, stable: Option<&VersionSample>, t: &Thresholds) -> Verdict {
    let samples = Check::new(
        Metric::Samples,
        canary.requests as f64,
        t.min_samples as f64,
        Bound::Min,
    );
    if !samples.passed {
        return Verdict {
            outcome: Outcome::Inconclusive,
            checks: vec![samples],
            canary: canary.clone(),
            stable: stable.cloned(),
            source: None,
            queries: Vec::new(),
            findings: Vec::new(),
        };
    }
    let mut checks = vec![
        Check::new(
            Metric::ErrorRate,
            canary.error_rate(),
            t.max_error_rate,
            Bound::Max,
        ),
        Check::new(
            Metric::SuccessRate,
            canary.success_rate(),
            t.min_success_rate,
            Bound::Min,
        ),
        Check::new(Metric::P95Latency, canary.p95_ms, t.max_p95_ms, Bound::Max),
        Check::new(Metric::P99Latency, canary.p99_ms, t.max_p99_ms, Bound::Max),
    ];
    // Checked only where the source measures them.
    if let Some(r) = canary.server_error_rate() {
        checks.push(Check::new(
            Metric::ServerErrorRate,
            r,
            t.max_server_error_rate,
            Bound::Max,
        ));
    }
    if let Some(c) = canary.cpu_pct.filter(|v| v.is_finite()) {
        checks.push(Check::new(
            Metric::CpuSaturation,
            c,
            t.max_cpu_pct,
            Bound::Max,
        ));
    }
    if let Some(m) = canary.memory_pct.filter(|v| v.is_finite()) {
        checks.push(Check::new(
            Metric::MemorySaturation,
            m,
            t.max_memory_pct,
            Bound::Max,
        ));
    }
    if let Some(s) = stable.filter(|s| s.requests >= t.min_samples) {
        let limit = s.p95_ms * t.max_latency_ratio + t.latency_slack_ms;
        checks.push(Check::new(
            Metric::P95VsStable,
            canary.p95_ms,
            limit,
            Bound::Max,
        ));
    }
    let outcome = if checks.iter().all(|c| c.passed) {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    Verdict {
        outcome,
        checks,
        canary: canary.clone(),
        stable: stable.cloned(),
        source: None,
        queries: Vec::new(),
        findings: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
