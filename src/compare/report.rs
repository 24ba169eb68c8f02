//! The comparison report: a serialisable document and its table rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::comparison::{
    Assessment, ComparisonThresholds, Evidence, Limits, MetricRow, SideStats, ALPHA,
    BOOTSTRAP_RESAMPLES,
};
use crate::domain::sanitize::strip_all;

/// The load both sides got.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadDescription {
    /// `closed` or `open`.
    pub pacing: &'static str,
    pub rate_per_side: Option<f64>,
    pub concurrency_per_side: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub endpoints: Vec<String>,
}

/// Whether the new version was deployed to `--env`, and why (not).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Promotion {
    pub attempted: bool,
    pub promoted: bool,
    pub env: Option<String>,
    pub message: String,
}

/// One side's chaos experiment, as last seen during the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChaosLine {
    pub env: String,
    pub scenario: ScenarioKind,
    pub experiment_id: Option<String>,
    /// `running`, `recovering`, `completed`, `aborted`, or `not_started`.
    pub state: String,
    pub detection_ms: Option<i64>,
    pub recovery_ms: Option<i64>,
    /// `resilient`, `no impact`, `not recovered` once the experiment ended.
    pub result: Option<String>,
    pub error: Option<String>,
}

impl ChaosLine {
    pub fn from_run(
        env: &str,
        scenario: ScenarioKind,
        injected: Result<String, String>,
        seen: &BTreeMap<String, Experiment>,
    ) -> ChaosLine {
        match injected {
            Err(e) => ChaosLine {
                env: env.to_string(),
                scenario,
                experiment_id: None,
                state: "not_started".into(),
                detection_ms: None,
                recovery_ms: None,
                result: None,
                error: Some(strip_all(&e)),
            },
            Ok(id) => {
                let exp = seen.get(&id);
                ChaosLine {
                    env: env.to_string(),
                    scenario,
                    state: exp
                        .map(|e| {
                            serde_json::to_value(&e.state)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_else(|| "unknown".into())
                        })
                        .unwrap_or_else(|| "running".into()),
                    detection_ms: exp.and_then(|e| e.detection_ms),
                    recovery_ms: exp.and_then(|e| e.recovery_ms),
                    result: exp.and_then(|e| e.result).map(|r| r.label().to_string()),
                    experiment_id: Some(strip_all(&id)),
                    error: None,
                }
            }
        }
    }
}

/// One scenario of a version's FMEA suite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioLine {
    pub scenario: ScenarioKind,
    /// `pass`, `fail`, `inconclusive`, or `refused` (never run).
    pub result: &'static str,
    /// The impact seen, or why the runtime refused it.
    pub detail: String,
}

/// One version's resilience, from the FMEA suite run against its
/// environment of the comparison sandbox (`comparison.include_chaos`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResilienceLine {
    pub env: String,
    pub version: String,
    /// The suite's score, 0..=100; `None` when no scenario was decided.
    pub score: Option<f64>,
    pub scenarios: Vec<ScenarioLine>,
    pub stopped_early: Option<String>,
    /// Why the suite did not run or did not finish.
    pub error: Option<String>,
    pub took_ms: i64,
}

/// Everything `blissful-infra compare` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparisonReport {
    pub old: SideStats,
    pub new: SideStats,
    pub load: LoadDescription,
    pub thresholds: ComparisonThresholds,
    /// The absolute limits on the new version (`comparison.thresholds`).
    pub limits: Limits,
    pub evidence: Evidence,
    pub assessment: Assessment,
    /// One line per side when `--chaos` was given.
    pub chaos: Option<Vec<ChaosLine>>,
    /// One line per version when `comparison.include_chaos` is on.
    pub resilience: Option<Vec<ResilienceLine>>,
    /// Runtime events lost while measuring (CPU/memory means may be thinner).
    pub events_lost: u64,
    pub promotion: Promotion,
    /// One client-side point a second per side, warm-up included.
    pub series: SideSeries,
}

/// Per-second load numbers of both sides, for sparklines.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SideSeries {
    pub old: Vec<crate::domain::metrics::MetricPoint>,
    pub new: Vec<crate::domain::metrics::MetricPoint>,
}

fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

fn signed(v: Option<f64>, decimals: usize, suffix: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:+.decimals$}{suffix}"),
        _ => "-".into(),
    }
}

fn decimals(metric: &str) -> usize {
    match metric {
        "error_rate" => 4,
        "throughput_rps" | "cpu_pct" | "mem_mib" | "resilience_score" => 1,
        _ => 2,
    }
}

fn metric_label(metric: &str) -> &str {
    match metric {
        "p95_ms" => "p95 (ms)",
        "p99_ms" => "p99 (ms)",
        "throughput_rps" => "throughput (req/s)",
        "error_rate" => "error rate",
        "cpu_pct" => "cpu (%)",
        "mem_mib" => "memory (MiB)",
        "resilience_score" => "resilience (/100)",
        other => other,
    }
}

fn row_line(r: &MetricRow) -> String {
    let d = decimals(r.metric);
    let status = r.status.label();
    let rule = match (&r.threshold, &r.limit) {
        (Some(t), Some(l)) => format!("{t}; {l}"),
        (Some(t), None) => t.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => "(report only)".into(),
    };
    format!(
        "{:<20} {:>11} {:>11} {:>11} {:>10}  {:<40} {}",
        metric_label(r.metric),
        num(r.old, d),
        num(r.new, d),
        signed(r.diff, d, ""),
        signed(r.diff_pct, 1, "%"),
        rule,
        status
    )
    .trim_end()
    .to_string()
}

/// `resilience v2 (compare-new): 75/100 · pod-kill pass, cpu-stress fail`.
fn resilience_line(s: &mut String, r: &ResilienceLine) {
    let score = r
        .score
        .map(|v| format!("{v:.0}/100"))
        .unwrap_or_else(|| "no score".into());
    let scenarios: Vec<String> = r
        .scenarios
        .iter()
        .map(|c| format!("{} {}", c.scenario, c.result))
        .collect();
    let _ = writeln!(
        s,
        "resilience {} ({}): {score}{}{}{}",
        strip_all(&r.version),
        r.env,
        if scenarios.is_empty() {
            String::new()
        } else {
            format!(" · {}", scenarios.join(", "))
        },
        r.stopped_early
            .as_deref()
            .map(|w| format!(" (stopped early: {w})"))
            .unwrap_or_default(),
        r.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
}

impl ComparisonReport {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let (o, n) = (&self.old, &self.new);
        let _ = writeln!(
            s,
            "compare  old {} vs new {}",
            strip_all(&o.version),
            strip_all(&n.version)
        );
        let load = match self.load.rate_per_side {
            Some(r) => format!("open loop {r} req/s"),
            None => "closed loop".into(),
        };
        let _ = writeln!(
            s,
            "load     {load}, {} connections per side, {:.1}s measured after {:.1}s warmup, paths {}",
            self.load.concurrency_per_side,
            self.load.duration_secs,
            self.load.warmup_secs,
            self.load
                .endpoints
                .iter()
                .map(|e| strip_all(e))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(
            s,
            "requests old {} ({} errors, {} samples), new {} ({} errors, {} samples)",
            o.requests, o.errors, o.samples, n.requests, n.errors, n.samples
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<20} {:>11} {:>11} {:>11} {:>10}  {:<40} ok",
            "metric", "old", "new", "diff", "diff %", "threshold"
        );
        for r in &self.assessment.rows {
            let _ = writeln!(s, "{}", row_line(r));
        }
        let _ = writeln!(s);
        match &self.evidence.mann_whitney {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "Mann-Whitney U (two-sided): U_old {:.0}, U_new {:.0}, z {:.2}, p-value {:.4}{}",
                    m.u_first,
                    m.u_second,
                    m.z,
                    m.p_value,
                    if m.p_value < ALPHA {
                        " (distributions differ)"
                    } else {
                        ""
                    }
                );
            }
            None => {
                let _ = writeln!(s, "Mann-Whitney U: not computed (no latency samples)");
            }
        }
        match &self.evidence.p95_diff_ci_ms {
            Some(ci) => {
                let _ = writeln!(
                    s,
                    "p95 difference new - old: {:+.2} ms, {:.0}% CI [{:+.2}, {:+.2}] ms ({} bootstrap resamples){}",
                    ci.estimate,
                    ci.level * 100.0,
                    ci.low,
                    ci.high,
                    BOOTSTRAP_RESAMPLES,
                    if ci.contains_zero() { ", contains 0" } else { "" }
                );
            }
            None => {
                let _ = writeln!(s, "p95 difference: no interval (no latency samples)");
            }
        }
        let _ = writeln!(
            s,
            "error rates (two-proportion z-test): p-value {:.4}",
            self.evidence.error_rate_p_value
        );
        if let Some(lines) = &self.chaos {
            for c in lines {
                let _ = writeln!(
                    s,
                    "chaos {} on {}: {}, detection {}, recovery {}, result {}{}",
                    c.scenario,
                    c.env,
                    c.state,
                    c.detection_ms
                        .map(|v| format!("{v} ms"))
                        .unwrap_or_else(|| "-".into()),
                    c.recovery_ms
                        .map(|v| format!("{v} ms"))
                        .unwrap_or_else(|| "-".into()),
                    c.result.as_deref().unwrap_or("pending"),
                    c.error
                        .as_deref()
                        .map(|e| format!(" (not injected: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        if self.events_lost > 0 {
            let _ = writeln!(
                s,
                "note: {} runtime events were lost while measuring",
                self.events_lost
            );
        }
        if let Some(lines) = &self.resilience {
            for r in lines {
                resilience_line(&mut s, r);
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "verdict: {}", self.assessment.verdict.label());
        for r in &self.assessment.reasons {
            let _ = writeln!(s, "  - {r}");
        }
        for w in &self.assessment.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        let all = crate::domain::comparison::Metric::ALL.len();
        if self.assessment.critical_metrics.len() < all {
            let names: Vec<&str> = self
                .assessment
                .critical_metrics
                .iter()
                .map(|m| m.name())
                .collect();
            let _ = writeln!(
                s,
                "critical metrics: {} (a failure of another is a warning)",
                names.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "thresholds: {}",
            if self.assessment.thresholds_passed {
                "all hold"
            } else {
                "FAILED (new regressed)"
            }
        );
        let _ = writeln!(
            s,
            "promotion: {}{}",
            if self.promotion.promoted {
                "done: "
            } else {
                "not promoted: "
            },
            self.promotion.message
        );
        s
    }
}

#[cfg(test)]
mod tests;
