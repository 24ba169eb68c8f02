//! FMEA judgement of one chaos scenario: the baseline it is compared with,
//! the behaviour the scenario expects, the severity rule, and the verdict.
//! Every pass rests on a measurement; what was not measured says so.

use serde::{Deserialize, Serialize};

use super::{
    ChaosSlo, Experiment, ExperimentResult, ExperimentState, ScenarioKind, SloCheck, SloMetric,
};
use crate::domain::metrics::MetricPoint;

/// Environment-wide figures over a window (the mean of per-second samples).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub rps: f64,
    /// Fraction 0..1.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub cpu_pct: f64,
    pub mem_mib: f64,
    /// How many samples the means are taken over.
    pub samples: u32,
}

impl Figures {
    /// The mean of `points` (each one environment-wide sample).
    pub fn mean_of(points: &[MetricPoint]) -> Figures {
        let n = points.len();
        if n == 0 {
            return Figures::default();
        }
        let mean = |f: fn(&MetricPoint) -> f64| points.iter().map(f).sum::<f64>() / n as f64;
        Figures {
            rps: mean(|p| p.rps),
            error_rate: mean(|p| p.error_rate),
            p50_ms: mean(|p| p.p50_ms),
            p95_ms: mean(|p| p.p95_ms),
            p99_ms: mean(|p| p.p99_ms),
            cpu_pct: mean(|p| p.cpu_pct),
            mem_mib: mean(|p| p.mem_mib),
            samples: u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

/// One environment-wide sample from the latest point of each version:
/// rates and resources add up, the error rate is weighted by traffic and
/// each latency quantile is the worst version's.
pub fn combine_versions<'a>(
    points: impl IntoIterator<Item = &'a MetricPoint>,
) -> Option<MetricPoint> {
    let mut out: Option<MetricPoint> = None;
    let mut errors = 0.0;
    for p in points {
        errors += p.error_rate * p.rps;
        let o = out.get_or_insert(MetricPoint {
            ts: p.ts,
            ..MetricPoint::default()
        });
        o.ts = o.ts.max(p.ts);
        o.rps += p.rps;
        o.p50_ms = o.p50_ms.max(p.p50_ms);
        o.p95_ms = o.p95_ms.max(p.p95_ms);
        o.p99_ms = o.p99_ms.max(p.p99_ms);
        o.cpu_pct += p.cpu_pct;
        o.mem_mib += p.mem_mib;
        o.error_rate = o.error_rate.max(p.error_rate);
    }
    if let Some(o) = out.as_mut() {
        if o.rps > 0.0 {
            o.error_rate = errors / o.rps;
        }
    }
    out
}

/// How close to the baseline counts as recovered.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// p99 may be this much above the baseline, as a fraction (0.2 = +20%)…
    pub p99_ratio: f64,
    /// …or this many ms, whichever allows more (a fast service's p99 jitters).
    pub p99_slack_ms: f64,
    /// The error rate may be this far above the baseline (a fraction).
    pub error_rate_slack: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            p99_ratio: 0.2,
            p99_slack_ms: 20.0,
            error_rate_slack: 0.01,
        }
    }
}

impl Tolerance {
    /// Whether `now` is back within tolerance of `baseline`.
    pub fn recovered(&self, baseline: &Figures, now: &MetricPoint) -> bool {
        let p99_limit =
            (baseline.p99_ms * (1.0 + self.p99_ratio)).max(baseline.p99_ms + self.p99_slack_ms);
        now.p99_ms <= p99_limit && now.error_rate <= baseline.error_rate + self.error_rate_slack
    }
}

/// Severity of a failure mode, from its impact and its recovery time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// The rule (also in the README):
    /// - Critical: half or more of the requests failed at the peak, or the
    ///   service never came back within the recovery SLO;
    /// - High: the error-rate SLO was broken, or recovery took longer than
    ///   the recovery SLO;
    /// - Medium: only latency broke its SLO, or the expected behaviour failed;
    /// - Low: every SLO held.
    pub fn rule(peak_error_rate: f64, checks: &[SloCheck], expected_failed: bool) -> Severity {
        let failed = |m: SloMetric| checks.iter().any(|c| c.metric == m && !c.passed);
        let never_recovered = checks
            .iter()
            .any(|c| c.metric == SloMetric::Recovery && c.observed.is_none());
        if peak_error_rate >= 0.5 || never_recovered {
            Severity::Critical
        } else if failed(SloMetric::ErrorRate) || failed(SloMetric::Recovery) {
            Severity::High
        } else if failed(SloMetric::P99) || expected_failed {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

/// What a scenario expects of a resilient service, and whether it was seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedCheck {
    pub behaviour: String,
    pub outcome: CheckOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum CheckOutcome {
    Passed(String),
    Failed(String),
    /// No measurement could decide it; never counted as a pass.
    NotMeasured(String),
}

/// What was seen while the fault was active, beyond the experiment's peaks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Lowest ready/desired seen, e.g. (1, 2) when an instance was down.
    pub fewest_ready: Option<(u32, u32)>,
    /// A circuit-breaker state metric, if the service exposes one: whether
    /// it was seen open.
    pub breaker_opened: Option<bool>,
    /// Request figures the suite sampled itself (from Prometheus, say),
    /// used when the runtime's experiment had none.
    #[serde(default)]
    pub requests: Option<RequestFigures>,
}

/// Request figures sampled once a second while the fault was on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestFigures {
    pub peak_error_rate: f64,
    pub peak_p99_ms: f64,
    /// Σ rate × error rate over the one-second samples.
    pub failed_requests: u64,
}

impl RequestFigures {
    /// Fold one second's figures in.
    pub fn add(&mut self, error_rate: f64, p99_ms: f64, rps: f64) {
        self.peak_error_rate = self.peak_error_rate.max(error_rate);
        self.peak_p99_ms = self.peak_p99_ms.max(p99_ms);
        let failed = (rps * error_rate).round();
        if failed.is_finite() && failed > 0.0 {
            self.failed_requests = self.failed_requests.saturating_add(failed as u64);
        }
    }
}

/// The experiment as the verdict reads it: when its runtime saw no
/// requests but the suite sampled some, their figures stand in (and the
/// SLO checks are taken again from them).
pub fn with_suite_figures(x: &Experiment, seen: &Observed) -> Experiment {
    let mut x = x.clone();
    if let (true, Some(r)) = (x.requests_unmeasured, seen.requests) {
        x.peak_error_rate = r.peak_error_rate;
        x.peak_p99_ms = r.peak_p99_ms;
        x.failed_requests = r.failed_requests;
        x.requests_unmeasured = false;
        x.slo_checks.clear();
    }
    x
}

/// Why a request-based expectation could not be judged.
const NO_REQUEST_FIGURES: &str = "no request figures: the runtime reports none (Kubernetes), and neither Prometheus nor the load gave any during the fault (set prometheus.url, or run with --load)";

/// The behaviour `scenario` expects, judged from the experiment and what was observed.
pub fn expected_behaviour(
    scenario: ScenarioKind,
    x: &Experiment,
    seen: &Observed,
    slo: &ChaosSlo,
) -> ExpectedCheck {
    let mut check = expected_from_figures(scenario, x, seen, slo);
    let reads_requests = !matches!(
        scenario,
        ScenarioKind::MemoryPressure | ScenarioKind::DependencyTimeout
    );
    if x.requests_unmeasured && reads_requests {
        check.outcome = CheckOutcome::NotMeasured(NO_REQUEST_FIGURES.to_string());
    }
    check
}

fn expected_from_figures(
    scenario: ScenarioKind,
    x: &Experiment,
    seen: &Observed,
    slo: &ChaosSlo,
) -> ExpectedCheck {
    let errors_within = |what: &str| {
        let rate = x.peak_error_rate;
        let text = format!(
            "peak error rate {:.1}% (limit {:.1}%)",
            rate * 100.0,
            slo.max_error_rate * 100.0
        );
        ExpectedCheck {
            behaviour: what.to_string(),
            outcome: if rate <= slo.max_error_rate {
                CheckOutcome::Passed(text)
            } else {
                CheckOutcome::Failed(text)
            },
        }
    };
    let latency_within = |what: &str| {
        let text = format!(
            "peak p99 {:.0}ms (limit {:.0}ms)",
            x.peak_p99_ms, slo.max_p99_ms
        );
        ExpectedCheck {
            behaviour: what.to_string(),
            outcome: if x.peak_p99_ms <= slo.max_p99_ms {
                CheckOutcome::Passed(text)
            } else {
                CheckOutcome::Failed(text)
            },
        }
    };
    match scenario {
        ScenarioKind::PodKill => {
            let text = format!("{} failed requests", x.failed_requests);
            ExpectedCheck {
                behaviour: "no user-facing errors".into(),
                outcome: if x.failed_requests == 0 {
                    CheckOutcome::Passed(text)
                } else {
                    CheckOutcome::Failed(text)
                },
            }
        }
        ScenarioKind::MemoryPressure => ExpectedCheck {
            behaviour: "no instance is lost (no OOM kill)".into(),
            outcome: match seen.fewest_ready {
                Some((ready, desired)) if ready >= desired => {
                    CheckOutcome::Passed(format!("{ready}/{desired} ready throughout"))
                }
                Some((ready, desired)) => {
                    CheckOutcome::Failed(format!("only {ready}/{desired} ready at worst"))
                }
                None => CheckOutcome::NotMeasured("no instance counts were reported".into()),
            },
        },
        ScenarioKind::DependencyTimeout => ExpectedCheck {
            behaviour: "the circuit breaker opens".into(),
            outcome: match seen.breaker_opened {
                Some(true) => CheckOutcome::Passed("circuit-breaker metric showed open".into()),
                Some(false) => {
                    CheckOutcome::Failed("circuit-breaker metric never showed open".into())
                }
                None => CheckOutcome::NotMeasured(
                    "the service exposes no circuit-breaker metric".into(),
                ),
            },
        },
        ScenarioKind::NetworkLatency | ScenarioKind::DbLatency | ScenarioKind::CpuStress => {
            latency_within("p99 stays within its SLO")
        }
        ScenarioKind::KafkaDown => {
            errors_within("requests keep succeeding while the broker is away")
        }
        ScenarioKind::DbDown => {
            errors_within("the service degrades gracefully without its database")
        }
        ScenarioKind::DnsFailure => errors_within("requests keep succeeding without name lookups"),
        ScenarioKind::NetworkPartition | ScenarioKind::PacketLoss => {
            errors_within("retries hide the lost traffic")
        }
        ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop => {
            errors_within("clients retry around the failures")
        }
    }
}

/// Pass, fail, or not decided by any measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioResult {
    Pass,
    Fail,
    Inconclusive,
}

impl ScenarioResult {
    pub fn label(self) -> &'static str {
        match self {
            ScenarioResult::Pass => "pass",
            ScenarioResult::Fail => "fail",
            ScenarioResult::Inconclusive => "inconclusive",
        }
    }
}

/// One row of the FMEA table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioVerdict {
    pub scenario: ScenarioKind,
    pub experiment_id: String,
    pub baseline: Figures,
    pub slo_checks: Vec<SloCheck>,
    pub expected: ExpectedCheck,
    /// From the injection until the first SLO breach or health change.
    pub detection_ms: Option<i64>,
    /// From the fault's removal until the metrics were back within
    /// tolerance of the baseline; `None` if they never were.
    pub recovery_ms: Option<i64>,
    pub impact: String,
    pub severity: Severity,
    pub result: ScenarioResult,
    /// The fault engine's own verdict of the experiment (SLOs only).
    pub engine_result: Option<ExperimentResult>,
    /// Set when the suite stopped here (a critical breach with
    /// `abort_on_critical_failure`), or the experiment was aborted.
    pub aborted: Option<String>,
    /// The practices that mitigate this failure mode, as the suite found
    /// them (filled in once the suite has read its evidence).
    #[serde(default)]
    pub mitigations: Vec<super::PracticeCheck>,
}

impl ScenarioVerdict {
    /// Judge a finished experiment. `recovery_ms` is the time back to the
    /// baseline measured by the caller (the experiment's own is to the SLO).
    pub fn judge(
        x: &Experiment,
        baseline: Figures,
        seen: &Observed,
        slo: &ChaosSlo,
        recovery_ms: Option<i64>,
    ) -> ScenarioVerdict {
        let x = &with_suite_figures(x, seen);
        let slo_checks = if x.slo_checks.is_empty() {
            slo.checks(x.peak_error_rate, x.peak_p99_ms, x.recovery_ms)
        } else {
            x.slo_checks.clone()
        };
        let mut slo_checks = slo_checks;
        if x.requests_unmeasured {
            slo_checks.retain(|c| c.metric == SloMetric::Recovery);
        }
        let expected = expected_behaviour(x.scenario, x, seen, slo);
        let expected_failed = matches!(expected.outcome, CheckOutcome::Failed(_));
        let severity = Severity::rule(x.peak_error_rate, &slo_checks, expected_failed);
        let aborted = (x.state == ExperimentState::Aborted)
            .then(|| "the experiment was aborted before it finished".to_string());
        let result = if aborted.is_some() || expected_failed || slo_checks.iter().any(|c| !c.passed)
        {
            ScenarioResult::Fail
        } else if matches!(expected.outcome, CheckOutcome::NotMeasured(_)) {
            ScenarioResult::Inconclusive
        } else {
            ScenarioResult::Pass
        };
        ScenarioVerdict {
            scenario: x.scenario,
            experiment_id: x.id.clone(),
            baseline,
            impact: x.impact_summary(),
            slo_checks,
            expected,
            detection_ms: x.detection_ms,
            recovery_ms,
            severity,
            result,
            engine_result: x.result,
            aborted,
            mitigations: Vec::new(),
        }
    }
}

impl ScenarioVerdict {
    /// `circuit breakers yes, retry logic no, bulkheads ?` for a table cell.
    pub fn mitigation_marks(&self) -> String {
        if self.mitigations.is_empty() {
            return "not checked".to_string();
        }
        self.mitigations
            .iter()
            .map(|c| format!("{} {}", c.practice.label(), c.mark()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The weight of a scenario in the resilience score: losing an instance or
/// a dependency outright counts double.
pub fn weight(scenario: ScenarioKind) -> f64 {
    match scenario {
        ScenarioKind::PodKill | ScenarioKind::DbDown | ScenarioKind::DependencyTimeout => 2.0,
        _ => 1.0,
    }
}

/// The weighted pass rate, 0..=100, over the scenarios a measurement decided;
/// `None` when none was decided (never a score without a measurement).
pub fn resilience_score(verdicts: &[ScenarioVerdict]) -> Option<f64> {
    let decided = verdicts
        .iter()
        .filter(|v| v.result != ScenarioResult::Inconclusive);
    let (passed, total) = decided.fold((0.0, 0.0), |(p, t), v| {
        let w = weight(v.scenario);
        (
            p + if v.result == ScenarioResult::Pass {
                w
            } else {
                0.0
            },
            t + w,
        )
    });
    (total > 0.0).then(|| (100.0 * passed / total).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests;
