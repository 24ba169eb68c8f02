//! The verdict rules beside the relative thresholds: absolute limits, CPU
//! and memory, critical metrics, warnings, the resilience score.
#![cfg(test)] // test code only

use super::*;

fn relative() -> ComparisonThresholds {
    ComparisonThresholds {
        max_p95_regression_pct: 10.0,
        max_p99_regression_pct: 15.0,
        max_error_rate: 0.01,
        min_throughput_ratio: 0.95,
    }
}

/// A healthy side: 3 ms p95, 500 req/s, no errors, 20% CPU, 10 MiB.
fn side() -> SideStats {
    SideStats {
        version: "v".into(),
        requests: 1000,
        rps: 500.0,
        p50_ms: 1.5,
        p95_ms: 3.0,
        p99_ms: 4.0,
        cpu_pct: Some(20.0),
        mem_mib: Some(10.0),
        ..Default::default()
    }
}

/// No difference between the sides.
fn evidence() -> Evidence {
    Evidence {
        mann_whitney: Some(MannWhitney {
            u_first: 50.0,
            u_second: 50.0,
            z: 0.0,
            p_value: 0.9,
        }),
        p95_diff_ci_ms: Some(Interval {
            estimate: 0.0,
            low: -0.5,
            high: 0.5,
            level: 0.95,
        }),
        error_rate_p_value: 1.0,
    }
}

fn rules(limits: Limits, critical: &[Metric]) -> Rules {
    Rules {
        relative: relative(),
        limits,
        critical: critical.to_vec(),
    }
}

fn row<'a>(a: &'a Assessment, metric: &str) -> &'a MetricRow {
    a.rows
        .iter()
        .find(|r| r.metric == metric)
        .unwrap_or_else(|| panic!("no row {metric}: {a:#?}"))
}

#[test]
fn an_absolute_latency_limit_fails_what_the_relative_rule_lets_through() {
    let limits = Limits {
        p99_latency_ms: Some(0.001),
        ..Limits::default()
    };
    let a = assess_with(&side(), &side(), &rules(limits, &[]), &evidence());
    assert!(!a.thresholds_passed, "{a:#?}");
    assert_eq!(a.verdict, Verdict::OldWins);
    let p99 = row(&a, "p99_ms");
    assert_eq!(p99.passed, Some(false));
    assert_eq!(p99.status, RowStatus::Fail);
    assert_eq!(p99.limit.as_deref(), Some("<= 0.001 ms"));
    assert_eq!(a.breaches.len(), 1, "{a:#?}");
    let b = &a.breaches[0];
    assert_eq!(b.metric, Metric::P99Latency);
    assert_eq!(b.key, "comparison.thresholds.p99_latency_ms");
    assert_eq!((b.limit, b.value, b.critical), (0.001, 4.0, true));
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("p99_latency") && r.contains("0.001")),
        "{:?}",
        a.reasons
    );
    // The p95 row has no limit and holds.
    assert_eq!(row(&a, "p95_ms").status, RowStatus::Ok);
    // Within the limit it holds.
    let ok = Limits {
        p99_latency_ms: Some(4.0),
        min_throughput_rps: Some(100.0),
        max_error_rate_percent: Some(1.0),
        ..Limits::default()
    };
    let a = assess_with(&side(), &side(), &rules(ok, &[]), &evidence());
    assert!(a.thresholds_passed, "{a:#?}");
    assert!(a.breaches.is_empty() && a.warnings.is_empty());
}

#[test]
fn throughput_and_error_rate_limits_are_absolute() {
    let mut new = side();
    new.rps = 80.0;
    new.error_rate = 0.02;
    let limits = Limits {
        min_throughput_rps: Some(100.0),
        max_error_rate_percent: Some(5.0),
        ..Limits::default()
    };
    let a = assess_with(&side(), &new, &rules(limits, &[]), &evidence());
    assert_eq!(row(&a, "throughput_rps").status, RowStatus::Fail);
    // 2% errors: within the 5% limit, but above the relative 0.01.
    assert_eq!(row(&a, "error_rate").limit.as_deref(), Some("<= 5%"));
    assert!(a
        .breaches
        .iter()
        .any(|b| b.key == "comparison.max_error_rate"));
    assert!(!a
        .breaches
        .iter()
        .any(|b| b.key == "comparison.thresholds.max_error_rate_percent"));
}

#[test]
fn cpu_and_memory_are_judged_when_limited_and_reported_otherwise() {
    let a = assess_with(
        &side(),
        &side(),
        &rules(Limits::default(), &[]),
        &evidence(),
    );
    assert_eq!(row(&a, "cpu_pct").status, RowStatus::ReportOnly);
    assert_eq!(row(&a, "mem_mib").passed, None);
    assert!(a.thresholds_passed);

    let limits = Limits {
        max_cpu_percent: Some(15.0),
        // 10 MiB is 10.49 MB: just above.
        max_memory_mb: Some(10.0),
        ..Limits::default()
    };
    let a = assess_with(&side(), &side(), &rules(limits, &[]), &evidence());
    assert!(!a.thresholds_passed);
    assert_eq!(row(&a, "cpu_pct").status, RowStatus::Fail);
    assert_eq!(row(&a, "mem_mib").status, RowStatus::Fail);
    let mem = a
        .breaches
        .iter()
        .find(|b| b.metric == Metric::Memory)
        .unwrap();
    assert!((mem.value - 10.0 * MB_PER_MIB).abs() < 1e-9, "{mem:?}");
    assert_eq!(mem.key, "comparison.thresholds.max_memory_mb");

    // A limit on a figure the runtime did not give is a warning, not a pass.
    let mut blind = side();
    blind.cpu_pct = None;
    let limits = Limits {
        max_cpu_percent: Some(50.0),
        ..Limits::default()
    };
    let a = assess_with(&side(), &blind, &rules(limits, &[]), &evidence());
    assert!(a.thresholds_passed);
    assert_eq!(row(&a, "cpu_pct").status, RowStatus::Warning);
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("cpu") && w.contains("not measured")),
        "{:?}",
        a.warnings
    );
}

#[test]
fn a_failing_critical_metric_decides_and_others_only_warn() {
    let limits = Limits {
        p95_latency_ms: Some(1.0),
        max_memory_mb: Some(1.0),
        ..Limits::default()
    };
    // Only the error rate is critical: both failures are warnings.
    let a = assess_with(
        &side(),
        &side(),
        &rules(limits, &[Metric::ErrorRate]),
        &evidence(),
    );
    assert!(a.thresholds_passed, "{a:#?}");
    assert_eq!(a.verdict, Verdict::NoSignificantDifference);
    assert_eq!(row(&a, "p95_ms").status, RowStatus::Warning);
    assert_eq!(row(&a, "mem_mib").status, RowStatus::Warning);
    assert!(!row(&a, "p95_ms").critical);
    assert!(row(&a, "error_rate").critical);
    assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
    assert!(a.warnings[0].contains("not in comparison.critical_metrics"));
    assert!(a.breaches.iter().all(|b| !b.critical));
    assert_eq!(a.critical_metrics, vec![Metric::ErrorRate]);

    // p95 critical: the same numbers fail the comparison; memory still warns.
    let a = assess_with(
        &side(),
        &side(),
        &rules(limits, &[Metric::P95Latency, Metric::ErrorRate]),
        &evidence(),
    );
    assert!(!a.thresholds_passed);
    assert_eq!(a.verdict, Verdict::OldWins);
    assert_eq!(row(&a, "p95_ms").status, RowStatus::Fail);
    assert_eq!(row(&a, "mem_mib").status, RowStatus::Warning);
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);

    // A relative failure of a non-critical metric is a warning too.
    let mut slow = side();
    slow.p95_ms = 80.0;
    slow.p50_ms = 40.0;
    let ev = Evidence {
        mann_whitney: Some(MannWhitney {
            u_first: 10.0,
            u_second: 90.0,
            z: 5.0,
            p_value: 1e-9,
        }),
        p95_diff_ci_ms: Some(Interval {
            estimate: 77.0,
            low: 70.0,
            high: 80.0,
            level: 0.95,
        }),
        error_rate_p_value: 1.0,
    };
    let a = assess_with(
        &side(),
        &slow,
        &rules(Limits::default(), &[Metric::ErrorRate]),
        &ev,
    );
    assert!(a.thresholds_passed);
    assert_eq!(row(&a, "p95_ms").status, RowStatus::Warning);
    // The statistics still say the new version is worse.
    assert_eq!(a.verdict, Verdict::OldWins);
}

#[test]
fn a_resilience_score_below_the_minimum_fails() {
    let limits = Limits {
        min_resilience_score: Some(80.0),
        ..Limits::default()
    };
    let (mut old, mut new) = (side(), side());
    old.resilience_score = Some(100.0);
    new.resilience_score = Some(50.0);
    let a = assess_with(&old, &new, &rules(limits, &[]), &evidence());
    assert!(!a.thresholds_passed);
    let r = row(&a, "resilience_score");
    assert_eq!((r.old, r.new), (Some(100.0), Some(50.0)));
    assert_eq!(r.status, RowStatus::Fail);
    assert_eq!(r.limit.as_deref(), Some(">= 80/100"));
    assert!(a.reasons.iter().any(|x| x.contains("min_resilience_score")));

    // Not critical: a warning.
    let a = assess_with(
        &old,
        &new,
        &rules(limits, &[Metric::P99Latency]),
        &evidence(),
    );
    assert!(a.thresholds_passed);
    assert_eq!(row(&a, "resilience_score").status, RowStatus::Warning);

    // At the minimum it holds; no score at all is a warning.
    new.resilience_score = Some(80.0);
    let a = assess_with(&old, &new, &rules(limits, &[]), &evidence());
    assert_eq!(row(&a, "resilience_score").status, RowStatus::Ok);
    new.resilience_score = None;
    let a = assess_with(&old, &new, &rules(limits, &[]), &evidence());
    assert!(a.thresholds_passed);
    assert_eq!(row(&a, "resilience_score").status, RowStatus::Warning);
    assert!(a.warnings.iter().any(|w| w.contains("resilience_score")));

    // Without include_chaos there is no resilience row.
    let a = assess(&side(), &side(), &relative(), &evidence());
    assert!(a.rows.iter().all(|r| r.metric != "resilience_score"));
    assert_eq!(a.critical_metrics.len(), Metric::ALL.len());
}

#[test]
fn metric_names_round_trip_and_accept_the_row_names() {
    for m in Metric::ALL {
        let v = serde_json::to_value(m).unwrap();
        assert_eq!(v, m.name());
        let back: Metric = serde_json::from_value(serde_json::json!(m.row())).unwrap();
        assert_eq!(back, m);
        assert_eq!(Metric::of_row(m.row()), Some(m));
    }
    assert!(serde_json::from_value::<Metric>(serde_json::json!("vibes")).is_err());
}
