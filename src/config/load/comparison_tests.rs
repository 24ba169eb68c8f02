//! Tests of the `comparison:` keys: the flags' defaults, the absolute
//! limits, the critical metrics and `include_chaos`.
#![cfg(test)] // test code only

use super::*;
use crate::domain::comparison::Metric;
use std::time::Duration;

fn invalid(text: &str) -> Vec<ConfigProblem> {
    match Config::from_yaml_str(text, FILE_NAME) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn problem<'a>(ps: &'a [ConfigProblem], field: &str) -> &'a ConfigProblem {
    ps.iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem for {field} in {ps:#?}"))
}

const SEED: &str = "\
comparison:
  warmup_duration: 90s
  test_duration: 5m
  concurrent_users: 100
  include_chaos: true
  thresholds:
    p95_latency_ms: 200
    p99_latency_ms: 500
    min_throughput_rps: 50
    max_error_rate_percent: 1
    max_cpu_percent: 80
    max_memory_mb: 512
    min_resilience_score: 70
  auto_promote: true
  critical_metrics: [p99_latency, error_rate]
";

#[test]
fn the_seed_keys_are_read() -> Result<(), Box<dyn std::error::Error>> {
    let c = Config::from_yaml_str(SEED, FILE_NAME)?;
    let cmp = &c.comparison;
    assert_eq!(cmp.warmup(), Duration::from_secs(90));
    assert_eq!(cmp.duration(), Duration::from_secs(300));
    assert_eq!(cmp.users(), 100);
    assert!(cmp.include_chaos && cmp.auto_promote);
    let t = &cmp.thresholds;
    assert_eq!(t.p95_latency_ms, Some(200.0));
    assert_eq!(t.max_memory_mb, Some(512.0));
    assert_eq!(t.min_resilience_score, 70.0);
    assert_eq!(
        cmp.critical_metrics,
        Some(vec![Metric::P99Latency, Metric::ErrorRate])
    );
    let rules = cmp.rules();
    assert_eq!(rules.limits.min_resilience_score, Some(70.0));
    assert_eq!(rules.limits.max_cpu_percent, Some(80.0));
    assert!(rules.is_critical(Metric::ErrorRate) && !rules.is_critical(Metric::Memory));
    // The existing relative keys still work beside them.
    let c = Config::from_yaml_str(
        "comparison:\n  max_p95_regression_pct: 5\n  max_error_rate: 0.02\n",
        FILE_NAME,
    )?;
    assert_eq!(c.comparison.rules().relative.max_p95_regression_pct, 5.0);
    assert_eq!(c.comparison.duration(), Duration::from_secs(10));
    assert_eq!(c.comparison.rules().limits.min_resilience_score, None);
    assert!(c.comparison.rules().critical.is_empty());
    Ok(())
}

#[test]
fn bad_values_name_their_field_and_line() {
    let ps = invalid(
        "comparison:
  warmup_duration: soon
  test_duration: 0s
  concurrent_users: 0
  thresholds:
    p99_latency_ms: -1
    max_error_rate_percent: 150
    max_memory_mb: 0
",
    );
    assert_eq!(problem(&ps, "comparison.warmup_duration").line, Some(2));
    let zero = problem(&ps, "comparison.test_duration");
    assert_eq!(zero.line, Some(3));
    assert!(zero.message.contains("above 0"), "{zero:?}");
    assert_eq!(problem(&ps, "comparison.concurrent_users").line, Some(4));
    assert_eq!(
        problem(&ps, "comparison.thresholds.p99_latency_ms").line,
        Some(6)
    );
    let pct = problem(&ps, "comparison.thresholds.max_error_rate_percent");
    assert_eq!(pct.line, Some(7));
    assert!(pct.message.contains("0..=100"));
    assert_eq!(
        problem(&ps, "comparison.thresholds.max_memory_mb").line,
        Some(8)
    );
}

#[test]
fn critical_metrics_need_a_rule_and_a_known_name() {
    let ps = invalid(
        "comparison:
  critical_metrics:
    - error_rate
    - cpu
    - resilience_score
",
    );
    let cpu = problem(&ps, "comparison.critical_metrics[1]");
    assert_eq!(cpu.line, Some(4));
    assert!(cpu.message.contains("max_cpu_percent"), "{cpu:?}");
    let res = problem(&ps, "comparison.critical_metrics[2]");
    assert!(res.message.contains("include_chaos"), "{res:?}");
    let ps = invalid("comparison:\n  critical_metrics: []\n");
    assert!(problem(&ps, "comparison.critical_metrics")
        .message
        .contains("leave the key out"));
    // An unknown name names its line and the known ones.
    match Config::from_yaml_str(
        "comparison:\n  critical_metrics:\n    - p99_latency\n    - vibes\n",
        FILE_NAME,
    ) {
        Err(e @ ConfigError::Parse { .. }) => {
            let shown = e.to_string();
            assert!(
                shown.contains("vibes") && shown.contains("p95_latency"),
                "{shown}"
            );
            assert!(matches!(e, ConfigError::Parse { line: 4, .. }), "{shown}");
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    // An unknown key is refused (deny_unknown_fields).
    assert!(matches!(
        Config::from_yaml_str(
            "comparison:\n  thresholds:\n    p50_latency_ms: 3\n",
            FILE_NAME
        ),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn include_chaos_needs_chaos_on_the_sandbox() {
    let ps = invalid("chaos:\n  enabled: false\ncomparison:\n  include_chaos: true\n");
    let p = problem(&ps, "comparison.include_chaos");
    assert_eq!(p.line, Some(4));
    assert!(p.message.contains("chaos.enabled"), "{p:?}");
    let ps = invalid("chaos:\n  tool: chaos-mesh\ncomparison:\n  include_chaos: true\n");
    assert!(problem(&ps, "comparison.include_chaos")
        .message
        .contains("chaos-mesh"));
}
