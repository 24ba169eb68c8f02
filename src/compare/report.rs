//! The comparison report: a serialisable document and its table rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::comparison::{
    Assessment, ComparisonThresholds, Evidence, MetricRow, SideStats, ALPHA, BOOTSTRAP_RESAMPLES,
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

/// Everything `blissful-infra compare` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparisonReport {
    pub old: SideStats,
    pub new: SideStats,
    pub load: LoadDescription,
    pub thresholds: ComparisonThresholds,
    pub evidence: Evidence,
    pub assessment: Assessment,
    /// One line per side when `--chaos` was given.
    pub chaos: Option<Vec<ChaosLine>>,
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
        "throughput_rps" | "cpu_pct" | "mem_mib" => 1,
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
        other => other,
    }
}

fn row_line(r: &MetricRow) -> String {
    let d = decimals(r.metric);
    let status = match r.passed {
        Some(true) => "ok",
        Some(false) => "FAIL",
        None => "",
    };
    format!(
        "{:<20} {:>11} {:>11} {:>11} {:>10}  {:<40} {}",
        metric_label(r.metric),
        num(r.old, d),
        num(r.new, d),
        signed(r.diff, d, ""),
        signed(r.diff_pct, 1, "%"),
        r.threshold.as_deref().unwrap_or("(report only)"),
        status
    )
    .trim_end()
    .to_string()
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
        let _ = writeln!(s);
        let _ = writeln!(s, "verdict: {}", self.assessment.verdict.label());
        for r in &self.assessment.reasons {
            let _ = writeln!(s, "  - {r}");
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
mod tests {
    use super::*;
    use crate::domain::comparison::{assess, Interval, MannWhitney};

    fn side(version: &str, p95: f64) -> SideStats {
        SideStats {
            version: version.into(),
            requests: 1000,
            errors: 0,
            duration_secs: 3.0,
            rps: 333.3,
            error_rate: 0.0,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            cpu_pct: Some(12.5),
            mem_mib: None,
            samples: 1000,
        }
    }

    fn report() -> ComparisonReport {
        let thresholds = ComparisonThresholds {
            max_p95_regression_pct: 10.0,
            max_p99_regression_pct: 15.0,
            max_error_rate: 0.01,
            min_throughput_ratio: 0.95,
        };
        let evidence = Evidence {
            mann_whitney: Some(MannWhitney {
                u_first: 1.0,
                u_second: 999_999.0,
                z: -40.0,
                p_value: 0.0,
            }),
            p95_diff_ci_ms: Some(Interval {
                estimate: 60.0,
                low: 58.0,
                high: 62.0,
                level: 0.95,
            }),
            error_rate_p_value: 1.0,
        };
        let (old, new) = (side("v1", 2.0), side("slow\u{1b}[2J", 62.0));
        let assessment = assess(&old, &new, &thresholds, &evidence);
        ComparisonReport {
            old,
            new,
            load: LoadDescription {
                pacing: "closed",
                rate_per_side: None,
                concurrency_per_side: 4,
                warmup_secs: 0.5,
                duration_secs: 3.0,
                endpoints: vec!["/hello".into()],
            },
            thresholds,
            evidence,
            assessment,
            chaos: None,
            events_lost: 0,
            series: SideSeries::default(),
            promotion: Promotion {
                message: "comparison.auto_promote is off in the config".into(),
                ..Promotion::default()
            },
        }
    }

    #[test]
    fn table_shows_rows_tests_and_verdict() {
        let t = report().table();
        assert!(t.contains("verdict: old wins"), "{t}");
        assert!(t.contains("p95 (ms)"), "{t}");
        assert!(t.contains("+60.00"), "{t}");
        assert!(t.contains("+3000.0%"), "{t}");
        assert!(t.contains("FAIL"), "{t}");
        assert!(t.contains("p-value 0.0000"), "{t}");
        assert!(t.contains("CI [+58.00, +62.00]"), "{t}");
        assert!(t.contains("memory (MiB)"), "{t}");
        assert!(
            t.contains("not promoted: comparison.auto_promote is off"),
            "{t}"
        );
        // Hostile version strings never reach the terminal raw.
        assert!(!t.contains('\u{1b}'), "{t}");
    }

    #[test]
    fn json_has_the_verdict_and_rows() {
        let v = serde_json::to_value(report()).unwrap();
        assert_eq!(v["assessment"]["verdict"], "old_wins");
        assert_eq!(v["assessment"]["thresholds_passed"], false);
        assert_eq!(v["assessment"]["rows"][0]["metric"], "p95_ms");
        assert_eq!(v["assessment"]["rows"][0]["passed"], false);
        assert_eq!(v["evidence"]["p95_diff_ci_ms"]["low"], 58.0);
        assert_eq!(v["old"]["cpu_pct"], 12.5);
        assert!(v["old"]["mem_mib"].is_null());
    }

    #[test]
    fn chaos_lines_follow_the_experiment() {
        use crate::domain::chaos::{ExperimentResult, ExperimentState, FaultParams};
        let mut exp = Experiment::new(
            "exp-1".into(),
            "compare-old",
            ScenarioKind::PodKill,
            FaultParams::default(),
            0,
        );
        exp.state = ExperimentState::Completed;
        exp.detection_ms = Some(120);
        exp.recovery_ms = Some(900);
        exp.result = Some(ExperimentResult::Resilient);
        let seen = BTreeMap::from([("exp-1".to_string(), exp)]);
        let ok = ChaosLine::from_run(
            "compare-old",
            ScenarioKind::PodKill,
            Ok("exp-1".into()),
            &seen,
        );
        assert_eq!(ok.state, "completed");
        assert_eq!((ok.detection_ms, ok.recovery_ms), (Some(120), Some(900)));
        assert_eq!(ok.result.as_deref(), Some("resilient"));
        let failed = ChaosLine::from_run(
            "compare-new",
            ScenarioKind::PodKill,
            Err("refused".into()),
            &seen,
        );
        assert_eq!(failed.state, "not_started");
        assert_eq!(failed.error.as_deref(), Some("refused"));
    }
}
