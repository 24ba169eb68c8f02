use super::*;
use crate::domain::chaos::FaultParams;

const T0: i64 = 1_700_000_000_000;

fn point(rps: f64, error_rate: f64, p99_ms: f64) -> MetricPoint {
    MetricPoint {
        ts: T0,
        rps,
        error_rate,
        p50_ms: p99_ms / 4.0,
        p95_ms: p99_ms / 2.0,
        p99_ms,
        cpu_pct: 10.0,
        mem_mib: 50.0,
    }
}

/// An experiment run through the engine's own folding: `peaks` while the
/// fault is on, then calm samples until it completes.
fn experiment(kind: ScenarioKind, peaks: &[(f64, f64, u64, bool)]) -> Experiment {
    let slo = ChaosSlo::default();
    let params = FaultParams {
        duration_secs: 5,
        ..FaultParams::default()
    };
    let mut x = Experiment::new("x1".into(), "staging", kind, params, T0);
    let mut now = T0;
    for &(err, p99, failed, short) in peaks {
        now += 1000;
        x.observe(now, err, p99, failed, short, &slo);
    }
    x.fault_removed(now);
    now += 1000;
    x.observe(now, 0.0, 10.0, 0, false, &slo);
    x
}

#[test]
fn versions_combine_into_one_environment_sample() {
    let a = point(90.0, 0.0, 20.0);
    let b = point(10.0, 0.5, 80.0);
    let env = combine_versions([&a, &b]).unwrap();
    assert_eq!(env.rps, 100.0);
    assert!((env.error_rate - 0.05).abs() < 1e-9, "{env:?}");
    assert_eq!(env.p99_ms, 80.0);
    assert_eq!(env.cpu_pct, 20.0);
    assert_eq!(combine_versions(std::iter::empty()), None);
}

#[test]
fn baseline_is_the_mean_of_its_samples() {
    let f = Figures::mean_of(&[point(10.0, 0.0, 10.0), point(30.0, 0.1, 30.0)]);
    assert_eq!(f.rps, 20.0);
    assert_eq!(f.p99_ms, 20.0);
    assert!((f.error_rate - 0.05).abs() < 1e-9);
    assert_eq!(f.samples, 2);
    assert_eq!(Figures::mean_of(&[]).samples, 0);
}

#[test]
fn recovery_is_judged_against_the_baseline_with_a_tolerance() {
    let base = Figures::mean_of(&[point(100.0, 0.0, 100.0)]);
    let t = Tolerance::default();
    assert!(t.recovered(&base, &point(100.0, 0.005, 119.0)));
    assert!(!t.recovered(&base, &point(100.0, 0.0, 121.0)));
    assert!(!t.recovered(&base, &point(100.0, 0.02, 100.0)));
    // A fast service gets the absolute slack.
    let fast = Figures::mean_of(&[point(100.0, 0.0, 2.0)]);
    assert!(t.recovered(&fast, &point(100.0, 0.0, 21.0)));
}

#[test]
fn severity_follows_the_written_rule() {
    let slo = ChaosSlo::default();
    let ok = slo.checks(0.0, 10.0, Some(0));
    assert_eq!(Severity::rule(0.0, &ok, false), Severity::Low);
    assert_eq!(Severity::rule(0.0, &ok, true), Severity::Medium);
    let slow = slo.checks(0.0, 900.0, Some(0));
    assert_eq!(Severity::rule(0.0, &slow, false), Severity::Medium);
    let errors = slo.checks(0.2, 10.0, Some(0));
    assert_eq!(Severity::rule(0.2, &errors, false), Severity::High);
    let late = slo.checks(0.0, 10.0, Some(60_000));
    assert_eq!(Severity::rule(0.0, &late, false), Severity::High);
    let never = slo.checks(0.0, 10.0, None);
    assert_eq!(Severity::rule(0.0, &never, false), Severity::Critical);
    let half = slo.checks(0.5, 10.0, Some(0));
    assert_eq!(Severity::rule(0.5, &half, false), Severity::Critical);
}

#[test]
fn a_pod_kill_with_failed_requests_fails_critically_and_is_never_resilient() {
    // The report that started this issue: 100% errors, 31 failed requests.
    let x = experiment(ScenarioKind::PodKill, &[(1.0, 40.0, 31, true)]);
    let v = ScenarioVerdict::judge(
        &x,
        Figures::default(),
        &Observed::default(),
        &ChaosSlo::default(),
        Some(1000),
    );
    assert_eq!(v.result, ScenarioResult::Fail);
    assert_eq!(v.severity, Severity::Critical);
    assert_eq!(v.expected.behaviour, "no user-facing errors");
    assert_eq!(
        v.expected.outcome,
        CheckOutcome::Failed("31 failed requests".into())
    );
}

#[test]
fn a_pod_kill_without_errors_passes_on_its_measurements() {
    let x = experiment(ScenarioKind::PodKill, &[(0.0, 30.0, 0, true)]);
    let v = ScenarioVerdict::judge(
        &x,
        Figures::default(),
        &Observed::default(),
        &ChaosSlo::default(),
        Some(0),
    );
    assert_eq!(v.result, ScenarioResult::Pass, "{v:#?}");
    assert_eq!(v.severity, Severity::Low);
    assert_eq!(v.detection_ms, Some(1000));
}

#[test]
fn an_unmeasured_circuit_breaker_is_inconclusive_not_a_pass() {
    let x = experiment(ScenarioKind::DependencyTimeout, &[(0.0, 30.0, 0, false)]);
    let slo = ChaosSlo::default();
    let v = ScenarioVerdict::judge(&x, Figures::default(), &Observed::default(), &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Inconclusive);
    assert!(
        matches!(v.expected.outcome, CheckOutcome::NotMeasured(ref r) if r.contains("circuit-breaker"))
    );
    let open = Observed {
        breaker_opened: Some(true),
        ..Observed::default()
    };
    assert_eq!(
        ScenarioVerdict::judge(&x, Figures::default(), &open, &slo, Some(0)).result,
        ScenarioResult::Pass
    );
    let shut = Observed {
        breaker_opened: Some(false),
        ..Observed::default()
    };
    assert_eq!(
        ScenarioVerdict::judge(&x, Figures::default(), &shut, &slo, Some(0)).result,
        ScenarioResult::Fail
    );
}

#[test]
fn memory_pressure_expects_every_instance_to_stay() {
    let x = experiment(ScenarioKind::MemoryPressure, &[(0.0, 30.0, 0, false)]);
    let slo = ChaosSlo::default();
    let lost = Observed {
        fewest_ready: Some((1, 2)),
        ..Observed::default()
    };
    let v = ScenarioVerdict::judge(&x, Figures::default(), &lost, &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Fail);
    assert_eq!(v.severity, Severity::Medium);
    let kept = Observed {
        fewest_ready: Some((2, 2)),
        ..Observed::default()
    };
    assert_eq!(
        ScenarioVerdict::judge(&x, Figures::default(), &kept, &slo, Some(0)).result,
        ScenarioResult::Pass
    );
}

#[test]
fn score_is_the_weighted_pass_rate_of_decided_scenarios() {
    let slo = ChaosSlo::default();
    let judge = |kind, peaks: &[(f64, f64, u64, bool)]| {
        ScenarioVerdict::judge(
            &experiment(kind, peaks),
            Figures::default(),
            &Observed::default(),
            &slo,
            Some(0),
        )
    };
    let pass_kill = judge(ScenarioKind::PodKill, &[(0.0, 10.0, 0, true)]);
    let fail_latency = judge(ScenarioKind::NetworkLatency, &[(0.0, 900.0, 0, false)]);
    let unknown = judge(ScenarioKind::DependencyTimeout, &[(0.0, 10.0, 0, false)]);
    // pod-kill weighs 2, network-latency 1: 2 / 3.
    let score = resilience_score(&[pass_kill.clone(), fail_latency, unknown.clone()]).unwrap();
    assert!((score - 200.0 / 3.0).abs() < 1e-9, "{score}");
    assert_eq!(resilience_score(&[pass_kill]), Some(100.0));
    assert_eq!(resilience_score(&[unknown]), None);
    assert_eq!(resilience_score(&[]), None);
}

/// A runtime that counts pods but sees no requests (Kubernetes).
fn instances_only(kind: ScenarioKind) -> Experiment {
    let slo = ChaosSlo::default();
    let params = FaultParams {
        duration_secs: 2,
        ..FaultParams::default()
    };
    let mut x = Experiment::new("k1".into(), "staging", kind, params, T0);
    x.observe_instances(T0 + 1000, false, &slo);
    x.fault_removed(T0 + 2000);
    x.observe_instances(T0 + 3000, false, &slo);
    x
}

#[test]
fn without_request_figures_nothing_passes_on_zeros() {
    let slo = ChaosSlo::default();
    let x = instances_only(ScenarioKind::NetworkLatency);
    let v = ScenarioVerdict::judge(&x, Figures::default(), &Observed::default(), &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Inconclusive, "{v:#?}");
    assert!(
        v.slo_checks.iter().all(|c| c.metric == SloMetric::Recovery),
        "{v:#?}"
    );
    assert!(
        matches!(&v.expected.outcome, CheckOutcome::NotMeasured(d) if d.contains("prometheus.url")),
        "{v:#?}"
    );
    // Memory pressure reads instance counts, which were measured.
    let seen = Observed {
        fewest_ready: Some((2, 2)),
        ..Observed::default()
    };
    let m = instances_only(ScenarioKind::MemoryPressure);
    let v = ScenarioVerdict::judge(&m, Figures::default(), &seen, &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Pass, "{v:#?}");
}

#[test]
fn figures_the_suite_sampled_stand_in_for_the_runtimes_missing_ones() {
    let slo = ChaosSlo::default();
    let x = instances_only(ScenarioKind::NetworkLatency);
    let mut r = RequestFigures::default();
    r.add(0.0, 40.0, 20.0);
    r.add(0.25, 900.0, 20.0);
    assert_eq!(r.failed_requests, 5);
    let seen = Observed {
        requests: Some(r),
        ..Observed::default()
    };
    let v = ScenarioVerdict::judge(&x, Figures::default(), &seen, &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Fail, "{v:#?}");
    let p99 = v
        .slo_checks
        .iter()
        .find(|c| c.metric == SloMetric::P99)
        .unwrap();
    assert_eq!(p99.observed, Some(900.0));
    assert!(!p99.passed);
    // A runtime with figures of its own keeps them.
    let own = experiment(ScenarioKind::NetworkLatency, &[(0.0, 30.0, 0, false)]);
    let v = ScenarioVerdict::judge(&own, Figures::default(), &seen, &slo, Some(0));
    assert_eq!(v.result, ScenarioResult::Pass, "{v:#?}");
}
