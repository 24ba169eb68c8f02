#![cfg(test)]

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
