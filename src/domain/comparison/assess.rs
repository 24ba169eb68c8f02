//! Deciding the verdict from two sides' numbers, the rules and the evidence.

use super::limits::absolutes;
use super::{
    Assessment, Breach, ComparisonThresholds, Evidence, Metric, MetricRow, RowStatus, Rules,
    SideStats, Verdict, ALPHA, MIN_EFFECT_PCT, MIN_ERROR_RATE_EFFECT, NOISE_FLOOR_MS,
};

fn diff_pct(old: f64, new: f64) -> Option<f64> {
    (old.abs() > f64::EPSILON).then(|| (new - old) / old * 100.0)
}

fn row(metric: &'static str, old: Option<f64>, new: Option<f64>) -> MetricRow {
    let diff = old.zip(new).map(|(o, n)| n - o);
    MetricRow {
        metric,
        old,
        new,
        diff,
        diff_pct: old.zip(new).and_then(|(o, n)| diff_pct(o, n)),
        threshold: None,
        passed: None,
        limit: None,
        critical: false,
        status: RowStatus::ReportOnly,
    }
}

/// A latency regression that fails its threshold: relative growth beyond
/// `max_pct`, beyond the noise floor, and a significant distribution shift.
fn latency_regressed(old: f64, new: f64, max_pct: f64, evidence: &Evidence) -> bool {
    new > old * (1.0 + max_pct / 100.0) && new - old > NOISE_FLOOR_MS && evidence.latency_differs()
}

/// A failed rule before its metric's criticality is known.
struct Failure {
    text: String,
    metric: Metric,
    key: &'static str,
    limit: f64,
    value: f64,
}

/// Apply the relative thresholds and tests to two sides' numbers, every
/// metric critical.
pub fn assess(
    old: &SideStats,
    new: &SideStats,
    t: &ComparisonThresholds,
    evidence: &Evidence,
) -> Assessment {
    assess_with(old, new, &Rules::relative(*t), evidence)
}

/// The relative rows (p95, p99, throughput, error rate) and their failures.
fn relative_rows(
    old: &SideStats,
    new: &SideStats,
    t: &ComparisonThresholds,
    evidence: &Evidence,
    fails: &mut Vec<Failure>,
) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for (metric, name, key, max_pct, o, n) in [
        (
            Metric::P95Latency,
            "p95_ms",
            "comparison.max_p95_regression_pct",
            t.max_p95_regression_pct,
            old.p95_ms,
            new.p95_ms,
        ),
        (
            Metric::P99Latency,
            "p99_ms",
            "comparison.max_p99_regression_pct",
            t.max_p99_regression_pct,
            old.p99_ms,
            new.p99_ms,
        ),
    ] {
        let mut r = row(name, Some(o), Some(n));
        let fail = latency_regressed(o, n, max_pct, evidence);
        r.threshold = Some(format!(
            "<= +{max_pct}% (beyond {NOISE_FLOOR_MS} ms, significant)"
        ));
        r.passed = Some(!fail);
        if fail {
            fails.push(Failure {
                text: format!(
                    "{} regressed from {o:.2} ms to {n:.2} ms (more than {max_pct}%)",
                    &name[..3]
                ),
                metric,
                key,
                limit: max_pct,
                value: diff_pct(o, n).unwrap_or(f64::INFINITY),
            });
        }
        rows.push(r);
    }

    let mut rps = row("throughput_rps", Some(old.rps), Some(new.rps));
    // Closed-loop throughput of two sides sharing a machine differs by
    // scheduling noise; a shortfall counts only when the new version is also
    // significantly slower and its median latency is up beyond the noise floor.
    let new_slower = evidence
        .mann_whitney
        .is_some_and(|m| m.p_value < ALPHA && m.u_second > m.u_first)
        && new.p50_ms - old.p50_ms > NOISE_FLOOR_MS;
    let rps_fail = new.rps < old.rps * t.min_throughput_ratio && new_slower;
    rps.threshold = Some(format!(">= {:.2} x old", t.min_throughput_ratio));
    rps.passed = Some(!rps_fail);
    if rps_fail {
        fails.push(Failure {
            text: format!(
                "throughput fell from {:.1} to {:.1} req/s (below {:.2} x old)",
                old.rps, new.rps, t.min_throughput_ratio
            ),
            metric: Metric::Throughput,
            key: "comparison.min_throughput_ratio",
            limit: t.min_throughput_ratio,
            value: if old.rps > 0.0 {
                new.rps / old.rps
            } else {
                0.0
            },
        });
    }
    rows.push(rps);

    let mut err = row("error_rate", Some(old.error_rate), Some(new.error_rate));
    let err_fail = new.error_rate > t.max_error_rate;
    err.threshold = Some(format!("<= {}", t.max_error_rate));
    err.passed = Some(!err_fail);
    if err_fail {
        fails.push(Failure {
            text: format!(
                "error rate {:.4} is above {}",
                new.error_rate, t.max_error_rate
            ),
            metric: Metric::ErrorRate,
            key: "comparison.max_error_rate",
            limit: t.max_error_rate,
            value: new.error_rate,
        });
    }
    rows.push(err);
    rows
}

/// Apply every rule (relative thresholds, absolute limits, the resilience
/// score) and the tests; `rules.critical` decides which failures fail the
/// comparison and which are warnings.
pub fn assess_with(
    old: &SideStats,
    new: &SideStats,
    rules: &Rules,
    evidence: &Evidence,
) -> Assessment {
    let mut fails = Vec::new();
    let mut rows = relative_rows(old, new, &rules.relative, evidence, &mut fails);
    rows.push(row("cpu_pct", old.cpu_pct, new.cpu_pct));
    rows.push(row("mem_mib", old.mem_mib, new.mem_mib));
    if rules.limits.min_resilience_score.is_some()
        || old.resilience_score.is_some()
        || new.resilience_score.is_some()
    {
        rows.push(row(
            "resilience_score",
            old.resilience_score,
            new.resilience_score,
        ));
    }
    let mut unmeasured = Vec::new();
    for a in absolutes(&rules.limits, new) {
        let Some(r) = rows.iter_mut().find(|r| r.metric == a.metric.row()) else {
            continue;
        };
        r.limit = Some(a.rule());
        match (a.holds(), a.value) {
            (Some(true), _) => {
                r.passed.get_or_insert(true);
            }
            (Some(false), Some(value)) => {
                r.passed = Some(false);
                fails.push(Failure {
                    text: format!(
                        "{} of the new version is {value:.2}{unit}, {} the limit {}{unit} ({})",
                        a.metric,
                        if a.at_most { "above" } else { "below" },
                        a.limit,
                        a.key,
                        unit = a.unit
                    ),
                    metric: a.metric,
                    key: a.key,
                    limit: a.limit,
                    value,
                });
            }
            _ => unmeasured.push((
                a.metric,
                format!(
                    "{} was not measured for the new version, so {} ({}) was not checked",
                    a.metric,
                    a.key,
                    a.rule()
                ),
            )),
        }
    }

    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut breaches = Vec::new();
    for f in fails {
        let critical = rules.is_critical(f.metric);
        if critical {
            reasons.push(f.text);
        } else {
            warnings.push(format!(
                "{} (a warning: {} is not in comparison.critical_metrics)",
                f.text, f.metric
            ));
        }
        breaches.push(Breach {
            metric: f.metric,
            key: f.key,
            limit: f.limit,
            value: f.value,
            critical,
        });
    }
    warnings.extend(unmeasured.iter().map(|(_, w)| w.clone()));
    for r in &mut rows {
        let metric = Metric::of_row(r.metric);
        r.critical = metric.is_some_and(|m| rules.is_critical(m));
        let not_measured = unmeasured.iter().any(|(m, _)| Some(*m) == metric);
        r.status = match r.passed {
            Some(false) if r.critical => RowStatus::Fail,
            Some(false) => RowStatus::Warning,
            _ if not_measured => RowStatus::Warning,
            Some(true) => RowStatus::Ok,
            None => RowStatus::ReportOnly,
        };
    }
    let thresholds_passed = breaches.iter().all(|b| !b.critical);
    let verdict = decide(old, new, evidence, thresholds_passed, &mut reasons);
    Assessment {
        rows,
        verdict,
        thresholds_passed,
        reasons,
        warnings,
        breaches,
        critical_metrics: rules.critical_list(),
    }
}

/// The verdict once the thresholds are known; its reason is added to `reasons`.
fn decide(
    old: &SideStats,
    new: &SideStats,
    evidence: &Evidence,
    thresholds_passed: bool,
    reasons: &mut Vec<String>,
) -> Verdict {
    // Latency: significant only beyond the practical margin and with a CI off 0.
    let margin = (old.p95_ms * MIN_EFFECT_PCT / 100.0).max(NOISE_FLOOR_MS);
    let d95 = new.p95_ms - old.p95_ms;
    let ci_excludes_zero = evidence
        .p95_diff_ci_ms
        .is_some_and(|ci| !ci.contains_zero());
    let latency_sig = evidence.latency_differs() && ci_excludes_zero && d95.abs() > margin;
    let errors_sig = evidence.error_rate_p_value < ALPHA
        && (new.error_rate - old.error_rate).abs() > MIN_ERROR_RATE_EFFECT;
    let new_better = (latency_sig && d95 < 0.0) || (errors_sig && new.error_rate < old.error_rate);
    let new_worse = (latency_sig && d95 > 0.0) || (errors_sig && new.error_rate > old.error_rate);

    if !thresholds_passed {
        Verdict::OldWins
    } else if new_worse && !new_better {
        reasons.push(format!(
            "new is significantly worse, though within the thresholds (p95 {d95:+.2} ms, error rate {:+.4})",
            new.error_rate - old.error_rate
        ));
        Verdict::OldWins
    } else if new_better && !new_worse {
        reasons.push(format!(
            "new is significantly better (p95 {d95:+.2} ms, error rate {:+.4})",
            new.error_rate - old.error_rate
        ));
        Verdict::NewWins
    } else {
        if new_better && new_worse {
            reasons.push("new is better in one way and worse in another".into());
        } else {
            reasons.push(format!(
                "no difference beyond noise (p95 margin {margin:.2} ms, alpha {ALPHA})"
            ));
        }
        Verdict::NoSignificantDifference
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comparison::{Interval, MannWhitney};

    fn thresholds() -> ComparisonThresholds {
        ComparisonThresholds {
            max_p95_regression_pct: 10.0,
            max_p99_regression_pct: 15.0,
            max_error_rate: 0.01,
            min_throughput_ratio: 0.95,
        }
    }

    fn side(p95: f64, rps: f64, error_rate: f64) -> SideStats {
        SideStats {
            version: "v".into(),
            requests: 1000,
            rps,
            error_rate,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.2,
            ..Default::default()
        }
    }

    fn evidence(p: f64, new_slower: bool, ci: (f64, f64)) -> Evidence {
        Evidence {
            mann_whitney: Some(MannWhitney {
                u_first: if new_slower { 10.0 } else { 90.0 },
                u_second: if new_slower { 90.0 } else { 10.0 },
                z: 3.0,
                p_value: p,
            }),
            p95_diff_ci_ms: Some(Interval {
                estimate: (ci.0 + ci.1) / 2.0,
                low: ci.0,
                high: ci.1,
                level: 0.95,
            }),
            error_rate_p_value: 1.0,
        }
    }

    #[test]
    fn a_slow_new_version_loses() {
        let a = assess(
            &side(2.0, 500.0, 0.0),
            &side(62.0, 60.0, 0.0),
            &thresholds(),
            &evidence(1e-20, true, (58.0, 62.0)),
        );
        assert_eq!(a.verdict, Verdict::OldWins);
        assert!(!a.thresholds_passed);
        assert_eq!(a.rows[0].passed, Some(false));
        assert_eq!(a.rows[2].passed, Some(false), "throughput fell too");
        assert_eq!(a.rows[0].diff, Some(60.0));
        assert_eq!(a.rows[0].diff_pct, Some(3000.0));
    }

    #[test]
    fn noise_is_no_difference() {
        // Significant by Mann-Whitney but 1 ms on a 3 ms p95: below the margin.
        let a = assess(
            &side(3.0, 500.0, 0.0),
            &side(4.0, 470.0, 0.0),
            &thresholds(),
            &evidence(0.001, true, (0.5, 1.5)),
        );
        assert_eq!(a.verdict, Verdict::NoSignificantDifference);
        assert!(a.thresholds_passed);
        assert!(a.rows.iter().all(|r| r.passed != Some(false)));
    }

    #[test]
    fn a_faster_or_healthier_new_version_wins() {
        let a = assess(
            &side(80.0, 50.0, 0.0),
            &side(20.0, 200.0, 0.0),
            &thresholds(),
            &evidence(1e-9, false, (-65.0, -55.0)),
        );
        assert_eq!(a.verdict, Verdict::NewWins);
        let mut ev = evidence(0.6, false, (-1.0, 1.0));
        ev.error_rate_p_value = 1e-12;
        let b = assess(
            &side(3.0, 500.0, 0.25),
            &side(3.0, 500.0, 0.0),
            &thresholds(),
            &ev,
        );
        assert_eq!(b.verdict, Verdict::NewWins);
    }

    #[test]
    fn errors_above_the_limit_fail() {
        let mut ev = evidence(0.5, false, (-1.0, 1.0));
        ev.error_rate_p_value = 1e-12;
        let a = assess(
            &side(3.0, 500.0, 0.0),
            &side(3.0, 500.0, 0.25),
            &thresholds(),
            &ev,
        );
        assert_eq!(a.verdict, Verdict::OldWins);
        assert_eq!(a.rows[3].passed, Some(false));
        assert!(a.reasons.iter().any(|r| r.contains("error rate")));
    }
}
