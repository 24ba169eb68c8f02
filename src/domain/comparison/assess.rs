//! Deciding the verdict from two sides' numbers, the thresholds and the evidence.

use super::{
    Assessment, ComparisonThresholds, Evidence, MetricRow, SideStats, Verdict, ALPHA,
    MIN_EFFECT_PCT, MIN_ERROR_RATE_EFFECT, NOISE_FLOOR_MS,
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
    }
}

/// A latency regression that fails its threshold: relative growth beyond
/// `max_pct`, beyond the noise floor, and a significant distribution shift.
fn latency_regressed(old: f64, new: f64, max_pct: f64, evidence: &Evidence) -> bool {
    new > old * (1.0 + max_pct / 100.0) && new - old > NOISE_FLOOR_MS && evidence.latency_differs()
}

/// Apply thresholds and tests to two sides' numbers.
pub fn assess(
    old: &SideStats,
    new: &SideStats,
    t: &ComparisonThresholds,
    evidence: &Evidence,
) -> Assessment {
    let mut reasons = Vec::new();
    let mut p95 = row("p95_ms", Some(old.p95_ms), Some(new.p95_ms));
    let p95_fail = latency_regressed(old.p95_ms, new.p95_ms, t.max_p95_regression_pct, evidence);
    p95.threshold = Some(format!(
        "<= +{}% (beyond {NOISE_FLOOR_MS} ms, significant)",
        t.max_p95_regression_pct
    ));
    p95.passed = Some(!p95_fail);
    if p95_fail {
        reasons.push(format!(
            "p95 regressed from {:.2} ms to {:.2} ms (more than {}%)",
            old.p95_ms, new.p95_ms, t.max_p95_regression_pct
        ));
    }

    let mut p99 = row("p99_ms", Some(old.p99_ms), Some(new.p99_ms));
    let p99_fail = latency_regressed(old.p99_ms, new.p99_ms, t.max_p99_regression_pct, evidence);
    p99.threshold = Some(format!(
        "<= +{}% (beyond {NOISE_FLOOR_MS} ms, significant)",
        t.max_p99_regression_pct
    ));
    p99.passed = Some(!p99_fail);
    if p99_fail {
        reasons.push(format!(
            "p99 regressed from {:.2} ms to {:.2} ms (more than {}%)",
            old.p99_ms, new.p99_ms, t.max_p99_regression_pct
        ));
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
        reasons.push(format!(
            "throughput fell from {:.1} to {:.1} req/s (below {:.2} x old)",
            old.rps, new.rps, t.min_throughput_ratio
        ));
    }

    let mut err = row("error_rate", Some(old.error_rate), Some(new.error_rate));
    let err_fail = new.error_rate > t.max_error_rate;
    err.threshold = Some(format!("<= {}", t.max_error_rate));
    err.passed = Some(!err_fail);
    if err_fail {
        reasons.push(format!(
            "error rate {:.4} is above {}",
            new.error_rate, t.max_error_rate
        ));
    }

    let cpu = row("cpu_pct", old.cpu_pct, new.cpu_pct);
    let mem = row("mem_mib", old.mem_mib, new.mem_mib);
    let thresholds_passed = !(p95_fail || p99_fail || rps_fail || err_fail);

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

    let verdict = if !thresholds_passed {
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
    };
    Assessment {
        rows: vec![p95, p99, rps, err, cpu, mem],
        verdict,
        thresholds_passed,
        reasons,
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
