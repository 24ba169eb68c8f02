//! Tests of planning and reporting a comparison.
#![cfg(test)] // test code only

use super::*;
use crate::domain::comparison::Metric;

fn args() -> CompareArgs {
    CompareArgs {
        old: "v1".into(),
        new: "v3-slow".into(),
        duration: Some(Duration::from_secs(3)),
        concurrency: Some(4),
        rate: None,
        warmup: Some(Duration::from_millis(500)),
        timeout: Duration::from_secs(5),
        env: None,
        chaos: None,
    }
}

#[test]
fn plan_checks_flags() {
    let cfg = Config::default();
    let p = plan(&args(), &cfg).unwrap();
    assert_eq!(p.pacing, Pacing::Closed);
    let paths: Vec<&str> = p.endpoints.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, cfg.traffic.paths);
    for bad in [
        CompareArgs {
            old: "v1; rm -rf /".into(),
            ..args()
        },
        CompareArgs {
            new: String::new(),
            ..args()
        },
        CompareArgs {
            concurrency: Some(0),
            ..args()
        },
        CompareArgs {
            rate: Some(f64::NAN),
            ..args()
        },
        CompareArgs {
            duration: Some(Duration::ZERO),
            ..args()
        },
        CompareArgs {
            chaos: Some("meteor".into()),
            ..args()
        },
    ] {
        assert!(
            matches!(plan(&bad, &cfg), Err(CompareError::Usage(_))),
            "{bad:?}"
        );
    }
    let with_chaos = CompareArgs {
        chaos: Some("pod-kill".into()),
        rate: Some(50.0),
        ..args()
    };
    let p = plan(&with_chaos, &cfg).unwrap();
    assert_eq!(p.chaos, Some(ScenarioKind::PodKill));
    assert_eq!(p.pacing, Pacing::Open { rate: 50.0 });
}

#[test]
fn comparison_config_has_two_quiet_environments() {
    let cfg = Config::default();
    let c = comparison_config(&cfg, "v1", "v2");
    let names: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [OLD_ENV, NEW_ENV]);
    assert_eq!(c.environments[0].initial_version, "v1");
    assert_eq!(c.environments[1].initial_version, "v2");
    assert!(c
        .environments
        .iter()
        .all(|e| e.router_port == 0 && e.metrics_port == 0 && !e.protected));
    assert_eq!(c.environments[0].replicas, cfg.environments[0].replicas);
    assert_eq!(c.traffic.rate_per_sec, 0.0);
    assert_eq!(c.service, cfg.service);
}

#[test]
fn resources_average_inside_the_window() {
    let mut c = Collected::default();
    c.points.insert(
        OLD_ENV.into(),
        vec![(0, 99.0, 99.0), (1000, 10.0, 20.0), (2000, 30.0, 40.0)],
    );
    assert_eq!(
        resource_means(&c, OLD_ENV, 500, 2500),
        (Some(20.0), Some(30.0))
    );
    assert_eq!(resource_means(&c, NEW_ENV, 0, 2500), (None, None));
}

#[tokio::test]
async fn collector_keeps_metrics_and_counts_lag() {
    use crate::domain::metrics::MetricPoint;
    let (tx, rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(collect(rx, stop_rx));
    tx.send(RuntimeEvent::Metrics {
        env: OLD_ENV.into(),
        version: "v1".into(),
        point: MetricPoint {
            ts: 5,
            cpu_pct: 12.0,
            mem_mib: 8.0,
            ..Default::default()
        },
    })
    .await
    .unwrap();
    tx.send(RuntimeEvent::Lagged { count: 3 }).await.unwrap();
    // Let the collector drain before it is told to stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_tx.send(()).unwrap();
    let c = task.await.unwrap();
    assert_eq!(c.points[OLD_ENV], vec![(5, 12.0, 8.0)]);
    assert_eq!(c.lagged, 3);
}

#[test]
fn the_config_gives_the_defaults_and_flags_win() {
    let mut cfg = Config::default();
    let bare = CompareArgs::for_versions("v1", "v2", None);
    let p = plan(&bare, &cfg).unwrap();
    assert_eq!(
        (p.duration, p.warmup, p.concurrency),
        (Duration::from_secs(10), Duration::from_secs(2), 4)
    );
    cfg.comparison.test_duration = Some("5m".into());
    cfg.comparison.warmup_duration = Some("90s".into());
    cfg.comparison.concurrent_users = Some(7);
    let p = plan(&bare, &cfg).unwrap();
    assert_eq!(
        (p.duration, p.warmup, p.concurrency),
        (Duration::from_secs(300), Duration::from_secs(90), 7)
    );
    let p = plan(&args(), &cfg).unwrap();
    assert_eq!(
        (p.duration, p.warmup, p.concurrency),
        (Duration::from_secs(3), Duration::from_millis(500), 4)
    );
    // The rules come from `comparison:`; the score only with include_chaos.
    cfg.comparison.thresholds.max_memory_mb = Some(64.0);
    let p = plan(&args(), &cfg).unwrap();
    assert_eq!(p.rules.limits.max_memory_mb, Some(64.0));
    assert_eq!(p.rules.limits.min_resilience_score, None);
    cfg.comparison.include_chaos = true;
    let p = plan(&args(), &cfg).unwrap();
    assert_eq!(p.rules.limits.min_resilience_score, Some(80.0));
    assert!(p.include_chaos);
    // Chaos refused for the project: include_chaos cannot run.
    cfg.chaos.enabled = false;
    match plan(&args(), &cfg) {
        Err(CompareError::Usage(why)) => assert!(why.contains("chaos.enabled"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// A report whose new version clearly wins on latency.
fn winning_report(cfg: &Config, new_score: Option<f64>) -> ComparisonReport {
    use crate::domain::comparison::{Interval, MannWhitney};
    let side = |version: &str, p95: f64, score: Option<f64>| SideStats {
        version: version.into(),
        requests: 1000,
        rps: 300.0,
        p50_ms: p95 / 2.0,
        p95_ms: p95,
        p99_ms: p95,
        mem_mib: Some(10.0),
        resilience_score: score,
        ..Default::default()
    };
    let (old, new) = (side("v1", 80.0, Some(100.0)), side("v2", 20.0, new_score));
    let evidence = Evidence {
        mann_whitney: Some(MannWhitney {
            u_first: 90.0,
            u_second: 10.0,
            z: 5.0,
            p_value: 1e-9,
        }),
        p95_diff_ci_ms: Some(Interval {
            estimate: -60.0,
            low: -62.0,
            high: -58.0,
            level: 0.95,
        }),
        error_rate_p_value: 1.0,
    };
    let rules = cfg.comparison.rules();
    let assessment = assess_with(&old, &new, &rules, &evidence);
    ComparisonReport {
        old,
        new,
        load: LoadDescription {
            pacing: "closed",
            rate_per_side: None,
            concurrency_per_side: 4,
            warmup_secs: 0.5,
            duration_secs: 3.0,
            endpoints: vec!["/".into()],
        },
        thresholds: rules.relative,
        limits: rules.limits,
        evidence,
        assessment,
        chaos: None,
        resilience: None,
        events_lost: 0,
        promotion: Promotion::default(),
        series: SideSeries::default(),
    }
}

#[test]
fn automatic_promotion_needs_a_clean_win_and_an_open_resilience_gate() {
    let mut cfg = Config::default();
    // Without include_chaos the gate is not applied, and the note says so.
    let r = winning_report(&cfg, None);
    assert_eq!(r.assessment.verdict, Verdict::NewWins);
    let note = promotable(&r, &cfg).unwrap();
    assert!(note.contains("include_chaos is off"), "{note}");

    // A warning (memory is not critical) blocks it.
    cfg.comparison.thresholds.max_memory_mb = Some(1.0);
    cfg.comparison.critical_metrics = Some(vec![Metric::P95Latency]);
    let r = winning_report(&cfg, None);
    assert!(r.assessment.thresholds_passed);
    let why = promotable(&r, &cfg).unwrap_err();
    assert!(why.contains("warning") && why.contains("memory"), "{why}");

    // include_chaos: the score decides through the resilience gate.
    let mut cfg = Config::default();
    cfg.comparison.include_chaos = true;
    let open = promotable(&winning_report(&cfg, Some(90.0)), &cfg).unwrap();
    assert!(
        open.contains("gate open") && open.contains("90/100"),
        "{open}"
    );
    // Below the minimum: a critical failure, so the verdict already refuses.
    let low = winning_report(&cfg, Some(40.0));
    assert!(!low.assessment.thresholds_passed);
    assert!(promotable(&low, &cfg).is_err());
    // Not critical: a warning, still not promoted.
    cfg.comparison.critical_metrics = Some(vec![Metric::P95Latency]);
    let low = winning_report(&cfg, Some(40.0));
    assert!(low.assessment.thresholds_passed);
    let why = promotable(&low, &cfg).unwrap_err();
    assert!(why.contains("resilience_score"), "{why}");
    // No score at all: never promoted.
    let none = winning_report(&cfg, None);
    assert!(promotable(&none, &cfg).is_err());
}

#[test]
fn a_suite_report_becomes_a_resilience_line() {
    use crate::domain::chaos::Scorecard;
    use crate::faults::suite::SuiteReport;
    let plan = crate::faults::suite::SuitePlan {
        env: NEW_ENV.into(),
        scenarios: vec![ScenarioKind::PodKill],
        params: Default::default(),
        baseline_secs: 1,
        slo: Default::default(),
        tolerance: Default::default(),
        abort_on_critical: false,
        load: None,
    };
    let report = SuiteReport {
        env: NEW_ENV.into(),
        runtime: "sandbox".into(),
        started_at: 0,
        finished_at: 1,
        plan,
        verdicts: Vec::new(),
        steps: Vec::new(),
        score: Some(50.0),
        stopped_early: Some("critical \u{1b}[2J".into()),
        refused: vec![(ScenarioKind::DbDown, "no database".into())],
        scorecard: Scorecard {
            score: Some(50.0),
            checklist: Vec::new(),
        },
    };
    let line = ResilienceLine::from_report("v2", &report, 1234);
    assert_eq!(line.score, Some(50.0));
    assert_eq!(line.env, NEW_ENV);
    assert_eq!(line.scenarios.len(), 1);
    assert_eq!(line.scenarios[0].result, "refused");
    assert_eq!(line.scenarios[0].detail, "no database");
    assert!(!line.stopped_early.unwrap().contains('\u{1b}'));
}
