//! `compare` judged by `comparison:` end to end: absolute limits, critical
//! metrics and warnings, the flags' defaults from the config, and the
//! resilience score of each version (`include_chaos`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod compare_common;

use compare_common::*;

/// A run with `comparison:` (and more) appended to the config and only the
/// given flags: durations and users come from the config.
fn run_config_json(old: &str, new: &str, extra_config: &str) -> (i32, serde_json::Value, String) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = marker("cfg");
    let config = format!("{CONFIG}{extra_config}");
    let out = command_with(
        dir.path(),
        &m,
        &config,
        &["--old", old, "--new", new, "-o", "json"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}); exit {code}; stderr:\n{stderr}"));
    assert_cleaned_up(dir.path(), &m);
    (code, doc, stderr)
}

/// Absolute limits from `comparison.thresholds`: two healthy versions, a
/// p99 limit nothing can meet (critical) and a memory limit (not critical).
/// The verdict fails on the p99 limit, names it and its limit; memory only
/// warns. Durations and users come from `comparison:`, not flags.
#[test]
fn an_absolute_limit_fails_the_verdict_and_names_metric_and_limit() {
    let (code, doc, stderr) = run_config_json(
        "v1",
        "v2",
        "comparison:
  test_duration: 2s
  warmup_duration: 500ms
  concurrent_users: 3
  thresholds:
    p99_latency_ms: 0.001
    max_memory_mb: 1
  critical_metrics: [p99_latency, error_rate]
",
    );
    assert_eq!(code, 1, "{doc:#}\n{stderr}");
    assert_eq!(doc["load"]["duration_secs"], 2.0, "{doc:#}");
    assert_eq!(doc["load"]["warmup_secs"], 0.5, "{doc:#}");
    assert_eq!(doc["load"]["concurrency_per_side"], 3, "{doc:#}");
    assert_eq!(doc["assessment"]["verdict"], "old_wins", "{doc:#}");
    assert_eq!(doc["assessment"]["thresholds_passed"], false);
    assert_eq!(doc["limits"]["p99_latency_ms"], 0.001, "{doc:#}");
    let p99 = row(&doc, "p99_ms");
    assert_eq!(p99["status"], "fail", "{doc:#}");
    assert_eq!(p99["limit"], "<= 0.001 ms", "{doc:#}");
    assert_eq!(p99["critical"], true);
    let breaches = doc["assessment"]["breaches"].as_array().unwrap();
    let b = breaches
        .iter()
        .find(|b| b["key"] == "comparison.thresholds.p99_latency_ms")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(b["metric"], "p99_latency");
    assert_eq!(b["limit"], 0.001);
    assert!(b["value"].as_f64().unwrap() > 0.001, "{doc:#}");
    assert_eq!(b["critical"], true);
    let reasons = doc["assessment"]["reasons"].to_string();
    assert!(
        reasons.contains("p99_latency") && reasons.contains("0.001"),
        "{reasons}"
    );
    // Memory: the runtime measured it (MiB), over 1 MB: a warning.
    let mem = row(&doc, "mem_mib");
    assert_eq!(mem["status"], "warning", "{doc:#}");
    assert_eq!(mem["critical"], false);
    assert!(
        doc["assessment"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("memory")),
        "{doc:#}"
    );
    assert_eq!(
        doc["assessment"]["critical_metrics"],
        serde_json::json!(["p99_latency", "error_rate"])
    );
}

/// `include_chaos`: after measuring, the FMEA suite runs against each
/// version's environment and scores it. Under 150 ms of added network
/// latency against a 250 ms p99 SLO, v1 (no latency of its own) can pass;
/// `sluggish` (150 ms of its own) cannot. The new version's score below
/// `min_resilience_score` is the critical failure.
#[test]
fn include_chaos_scores_each_version_and_a_low_score_fails() {
    let (code, doc, stderr) = run_config_json(
        "v1",
        "sluggish",
        "    sluggish:
      latency_ms: 150
chaos:
  scenarios: [network-latency]
  default_duration: 2s
  baseline_secs: 3
  slo: { max_error_rate: 0.5, max_p99_ms: 250, max_recovery_secs: 20 }
  defaults: { latency_ms: 150 }
comparison:
  test_duration: 1s
  warmup_duration: 500ms
  concurrent_users: 2
  include_chaos: true
  thresholds: { min_resilience_score: 80 }
  critical_metrics: [resilience_score, error_rate]
",
    );
    let lines = doc["resilience"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}\n{stderr}"));
    assert_eq!(lines.len(), 2, "{doc:#}");
    for (line, (env, version)) in lines
        .iter()
        .zip([("compare-old", "v1"), ("compare-new", "sluggish")])
    {
        assert_eq!(line["env"], env, "{doc:#}");
        assert_eq!(line["version"], version);
        assert!(line["error"].is_null(), "{doc:#}\n{stderr}");
        let s = &line["scenarios"][0];
        assert_eq!(s["scenario"], "network-latency", "{doc:#}");
        assert!(
            s["result"] == "pass" || s["result"] == "fail",
            "{doc:#}\n{stderr}"
        );
        let score = line["score"].as_f64().unwrap_or_else(|| panic!("{doc:#}"));
        assert!((0.0..=100.0).contains(&score));
    }
    let new_score = doc["new"]["resilience_score"].as_f64().unwrap();
    assert_eq!(lines[1]["score"].as_f64(), Some(new_score));
    assert!(new_score < 80.0, "{doc:#}\n{stderr}");
    let r = row(&doc, "resilience_score");
    assert_eq!(r["status"], "fail", "{doc:#}");
    assert_eq!(r["limit"], ">= 80/100");
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["assessment"]["thresholds_passed"], false);
    // The latency regression is not critical here: only a warning.
    assert_eq!(row(&doc, "p95_ms")["critical"], false);
    assert!(stderr.contains("the FMEA suite on sluggish"), "{stderr}");
}
