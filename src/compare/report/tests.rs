//! Tests of the comparison report.
#![cfg(test)] // test code only

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
        resilience_score: None,
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
        limits: Default::default(),
        evidence,
        assessment,
        chaos: None,
        resilience: None,
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

#[test]
fn limits_warnings_and_resilience_show_in_table_and_json() {
    use crate::domain::comparison::{assess_with, Limits, Metric, Rules};
    let mut r = report();
    let rules = Rules {
        relative: r.thresholds,
        limits: Limits {
            max_memory_mb: Some(1.0),
            p99_latency_ms: Some(0.5),
            min_resilience_score: Some(80.0),
            ..Limits::default()
        },
        critical: vec![Metric::P99Latency],
    };
    r.old.mem_mib = Some(3.0);
    r.new.mem_mib = Some(4.0);
    r.new.resilience_score = Some(90.0);
    r.assessment = assess_with(&r.old, &r.new, &rules, &r.evidence);
    r.limits = rules.limits;
    r.resilience = Some(vec![ResilienceLine {
        env: "compare-new".into(),
        version: "v2".into(),
        score: Some(90.0),
        scenarios: vec![ScenarioLine {
            scenario: ScenarioKind::PodKill,
            result: "pass",
            detail: String::new(),
        }],
        stopped_early: None,
        error: None,
        took_ms: 5,
    }]);
    let t = r.table();
    assert!(t.contains("<= 0.5 ms"), "{t}");
    assert!(t.contains("warning: memory of the new version"), "{t}");
    assert!(t.contains("critical metrics: p99_latency"), "{t}");
    assert!(
        t.contains("resilience v2 (compare-new): 90/100 · pod-kill pass"),
        "{t}"
    );
    assert!(t.contains("resilience (/100)"), "{t}");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["limits"]["max_memory_mb"], 1.0);
    assert_eq!(v["new"]["resilience_score"], 90.0);
    assert_eq!(v["resilience"][0]["score"], 90.0);
    assert_eq!(v["assessment"]["critical_metrics"][0], "p99_latency");
    let mem = v["assessment"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["metric"] == "mem_mib")
        .unwrap();
    assert_eq!(mem["status"], "warning");
    assert_eq!(mem["limit"], "<= 1 MB");
    let breach = v["assessment"]["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["key"] == "comparison.thresholds.p99_latency_ms")
        .unwrap();
    assert_eq!(breach["metric"], "p99_latency");
    assert_eq!(breach["limit"], 0.5);
    assert_eq!(breach["critical"], true);
}
