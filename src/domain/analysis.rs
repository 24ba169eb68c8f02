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
}

impl Verdict {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// One line: what failed and by how much, or that all checks passed.
    pub fn summary(&self) -> String {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_saturation_are_checked_when_measured() {
        let mut canary = VersionSample {
            requests: 1000,
            errors: 8,
            p50_ms: 5.0,
            p95_ms: 10.0,
            p99_ms: 20.0,
            ..Default::default()
        };
        let t = Thresholds::default();
        // Not measured: no such checks, and 0.8% errors fail only the error-free ones.
        let v = analyze(&canary, None, &t);
        assert!(v.checks.iter().all(|c| !matches!(
            c.metric,
            Metric::ServerErrorRate | Metric::CpuSaturation | Metric::MemorySaturation
        )));
        assert_eq!(v.outcome, Outcome::Pass, "{v:?}");
        // 6 of the 8 were 5xx: 0.6% > 0.5%.
        canary.server_errors = Some(6);
        canary.cpu_pct = Some(95.0);
        canary.memory_pct = Some(40.0);
        let v = analyze(&canary, None, &t);
        assert_eq!(v.outcome, Outcome::Fail);
        let failed: Vec<String> = v.failed_checks().map(|c| c.describe()).collect();
        assert_eq!(
            failed,
            vec![
                "5xx rate 0.60% > 0.50% (+0.10pp)".to_string(),
                "sustained cpu 95% > 90% (+5pp)".to_string()
            ]
        );
        assert!(v
            .checks
            .iter()
            .any(|c| c.metric == Metric::MemorySaturation && c.passed));
    }

    fn sample(requests: u64, errors: u64, p95: f64, p99: f64) -> VersionSample {
        VersionSample {
            requests,
            errors,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p99,
            ..Default::default()
        }
    }

    fn t() -> Thresholds {
        Thresholds::default()
    }

    fn check(v: &Verdict, m: Metric) -> &Check {
        v.checks
            .iter()
            .find(|c| c.metric == m)
            .unwrap_or_else(|| panic!("no {m:?} check in {v:?}"))
    }

    #[test]
    fn healthy_canary_passes_every_check() {
        let v = analyze(
            &sample(1000, 2, 80.0, 150.0),
            Some(&sample(1000, 1, 70.0, 140.0)),
            &t(),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.checks.len(), 5);
        assert!(v.checks.iter().all(|c| c.passed));
        assert_eq!(v.summary(), "passed: 5 checks on 1000 requests");
    }

    #[test]
    fn error_rate_at_threshold_passes_and_just_above_fails() {
        // 10 errors in 1000 is exactly 1%.
        let v = analyze(&sample(1000, 10, 50.0, 100.0), None, &t());
        assert!(check(&v, Metric::ErrorRate).passed);
        assert_eq!(v.outcome, Outcome::Pass);
        let v = analyze(&sample(1000, 11, 50.0, 100.0), None, &t());
        assert!(!check(&v, Metric::ErrorRate).passed);
        assert_eq!(v.outcome, Outcome::Fail);
        let mut th = t();
        th.max_error_rate = 0.01 + 1e-9;
        assert!(
            check(
                &analyze(&sample(1000, 10, 50.0, 100.0), None, &th),
                Metric::ErrorRate
            )
            .passed
        );
        th.max_error_rate = 0.01 - 1e-9;
        assert!(
            !check(
                &analyze(&sample(1000, 10, 50.0, 100.0), None, &th),
                Metric::ErrorRate
            )
            .passed
        );
    }

    #[test]
    fn success_rate_at_threshold_passes() {
        // Regression: 1 - 0.03 < 0.97 in f64, so 97/100 used to fail a 0.97 minimum.
        let th = Thresholds {
            max_error_rate: 0.03,
            min_success_rate: 0.97,
            ..t()
        };
        let v = analyze(&sample(100, 3, 50.0, 100.0), None, &th);
        assert!(
            check(&v, Metric::SuccessRate).passed,
            "{}",
            check(&v, Metric::SuccessRate).describe()
        );
        assert_eq!(v.outcome, Outcome::Pass);
        let v = analyze(&sample(100, 4, 50.0, 100.0), None, &th);
        assert!(!check(&v, Metric::SuccessRate).passed);
        assert!(!check(&v, Metric::ErrorRate).passed);
        // Every exact ratio meets a threshold written as that ratio.
        for n in 1..=200u64 {
            for e in 0..=n {
                let s = sample(n, e, 0.0, 0.0);
                assert!(s.success_rate() >= (n - e) as f64 / n as f64);
                assert!(s.error_rate() <= e as f64 / n as f64);
            }
        }
        assert_eq!(VersionSample::default().success_rate(), 1.0);
        assert_eq!(sample(5, 9, 0.0, 0.0).success_rate(), 0.0);
    }

    #[test]
    fn min_success_rate_edge_with_lenient_error_rate() {
        let th = Thresholds {
            max_error_rate: 1.0,
            min_success_rate: 0.9,
            ..t()
        };
        assert!(analyze(&sample(10, 1, 1.0, 1.0), None, &th)
            .checks
            .iter()
            .all(|c| c.passed));
        let v = analyze(&sample(10, 2, 1.0, 1.0), None, &th);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.failed_checks().map(|c| c.metric).collect::<Vec<_>>(),
            vec![Metric::SuccessRate]
        );
        assert_eq!(
            v.summary(),
            "failed: success rate 80.00% < 90.00% (-10.00pp)"
        );
    }

    #[test]
    fn latency_thresholds_at_and_above() {
        let v = analyze(&sample(100, 0, 200.0, 500.0), None, &t());
        assert_eq!(v.outcome, Outcome::Pass);
        let v = analyze(&sample(100, 0, 200.000_001, 500.0), None, &t());
        assert_eq!(
            v.failed_checks().map(|c| c.metric).collect::<Vec<_>>(),
            vec![Metric::P95Latency]
        );
        let v = analyze(&sample(100, 0, 100.0, 612.0), None, &t());
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            check(&v, Metric::P99Latency).describe(),
            "p99 latency 612ms > 500ms (+112ms)"
        );
        assert_eq!(
            check(&v, Metric::P95Latency).describe(),
            "p95 latency 100ms <= 200ms"
        );
    }

    #[test]
    fn too_few_samples_is_inconclusive_and_skips_other_checks() {
        let v = analyze(&sample(9, 9, 9999.0, 9999.0), None, &t());
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(v.checks.len(), 1);
        assert_eq!(v.checks[0].metric, Metric::Samples);
        assert_eq!(v.summary(), "inconclusive: samples 9 < 10 (-1)");
        // Exactly min_samples is enough.
        let v = analyze(&sample(10, 0, 10.0, 10.0), None, &t());
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.checks.len(), 4, "a met sample minimum is not listed");
    }

    #[test]
    fn latency_ratio_against_stable_with_slack() {
        // limit = 100 * 1.5 + 20 = 170
        let stable = sample(500, 0, 100.0, 150.0);
        let v = analyze(&sample(100, 0, 170.0, 200.0), Some(&stable), &t());
        let c = check(&v, Metric::P95VsStable);
        assert!(c.passed);
        assert_eq!(c.threshold, 170.0);
        let v = analyze(&sample(100, 0, 171.0, 200.0), Some(&stable), &t());
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.failed_checks().map(Check::describe).collect::<Vec<_>>(),
            vec!["p95 vs stable 171ms > 170ms (+1ms)"]
        );
        // Tiny latencies: slack keeps 3ms vs 1ms from failing.
        let v = analyze(
            &sample(100, 0, 3.0, 5.0),
            Some(&sample(100, 0, 1.0, 2.0)),
            &t(),
        );
        assert!(check(&v, Metric::P95VsStable).passed);
        // A stable version with too few samples is not compared.
        let v = analyze(
            &sample(100, 0, 190.0, 200.0),
            Some(&sample(9, 0, 1.0, 1.0)),
            &t(),
        );
        assert_eq!(v.checks.len(), 4);
        assert_eq!(v.outcome, Outcome::Pass);
    }

    #[test]
    fn failure_summary_names_metric_value_threshold_and_delta() {
        let v = analyze(&sample(200, 50, 350.0, 800.0), None, &t());
        assert_eq!(v.outcome, Outcome::Fail);
        let s = v.summary();
        assert!(s.starts_with("failed: "), "{s}");
        for part in [
            "error rate 25.00% > 1.00% (+24.00pp)",
            "success rate 75.00% < 99.00% (-24.00pp)",
            "p95 latency 350ms > 200ms (+150ms)",
            "p99 latency 800ms > 500ms (+300ms)",
        ] {
            assert!(s.contains(part), "{part} missing in {s}");
        }
        assert_eq!(s.matches("; ").count(), 3, "{s}");
    }

    #[test]
    fn fmt_helpers() {
        assert_eq!(fmt_value(Metric::ErrorRate, 0.0123), "1.23%");
        assert_eq!(fmt_value(Metric::Samples, 42.0), "42");
        assert_eq!(fmt_value(Metric::P99Latency, 12.6), "13ms");
        assert_eq!(Metric::P95VsStable.label(), "p95 vs stable");
    }
}
