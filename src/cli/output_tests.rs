//! Unit tests of the CLI output: tables, lines, JSON, errors.

use super::*;
use crate::domain::analysis::{analyze, Thresholds, VersionSample};
use crate::domain::chaos::{ExperimentResult, FaultParams, ScenarioKind};
use crate::domain::environment::{
    ActiveFault, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use crate::domain::pipeline::{PipelineKind, StageStatus};

fn instance(id: &str, version: &str, phase: InstancePhase, restarts: u32) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase,
        restarts,
        detail: crate::domain::environment::InstanceDetail::Process {
            pid: Some(100),
            port: 40000,
        },
    }
}

fn envs() -> Vec<EnvironmentStatus> {
    vec![
        EnvironmentStatus {
            name: "staging".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: Some(Version::new("v2")),
                canary_weight: 20,
            },
            previous: None,
            step: Some((1, 4)),
            health: Health::Progressing("canary at 20%".into()),
            instances: vec![
                instance("staging-v1-1", "v1", InstancePhase::Ready, 0),
                instance("staging-v2-1", "v2", InstancePhase::Ready, 2),
                instance("staging-v2-2", "v2", InstancePhase::Starting, 1),
            ],
            replicas: 2,
            last_change: 0,
            router_addr: "127.0.0.1:41001".into(),
            metrics_addr: "127.0.0.1:41002".into(),
            faults: vec![ActiveFault {
                id: "exp-1".into(),
                scenario: "network-latency".into(),
                ends_at: 0,
            }],
            revisions: Vec::new(),
        },
        EnvironmentStatus {
            name: "prod\x1b[2J".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: None,
                canary_weight: 0,
            },
            previous: Some(Version::new("v0")),
            step: None,
            health: Health::Healthy,
            instances: vec![instance("prod-v1-1", "v1", InstancePhase::Ready, 0)],
            replicas: 1,
            last_change: 0,
            router_addr: "127.0.0.1:41003".into(),
            metrics_addr: "127.0.0.1:41004".into(),
            faults: vec![],
            revisions: Vec::new(),
        },
    ]
}

#[test]
fn status_table_is_aligned_and_sanitised() {
    let expected = "\
ENV      STABLE  CANARY  WEIGHT  STEP  HEALTH       READY  RESTARTS  ROUTER           FAULTS
staging  v1      v2      20%     2/4   Progressing  2/4    3         127.0.0.1:41001  network-latency
prod     v1      -       -       -     Healthy      1/1    0         127.0.0.1:41003  -

staging: Progressing: canary at 20%
";
    assert_eq!(status_table(&envs()), expected);
}

#[test]
fn empty_status_is_just_the_header() {
    assert_eq!(
        status_table(&[]),
        "ENV  STABLE  CANARY  WEIGHT  STEP  HEALTH  READY  RESTARTS  ROUTER  FAULTS\n"
    );
}

#[test]
fn table_counts_wide_characters_twice() {
    let mut t = Table::new(&["A", "B"]);
    t.row(["日本", "x"]);
    t.row(["ab", "y"]);
    assert_eq!(t.render(), "A     B\n日本  x\nab    y\n");
}

#[test]
fn json_escapes_terminal_controls_but_stays_valid() {
    let doc = json_document(&vec!["a\x1b[31mb", "c\u{9b}2Jd", "e\u{202e}f"]).unwrap();
    assert!(!doc.contains('\x1b') && !doc.contains('\u{9b}') && !doc.contains('\u{202e}'));
    assert!(
        doc.contains("\\u001b") && doc.contains("\\u009b") && doc.contains("\\u202e"),
        "{doc}"
    );
    let back: Vec<String> = serde_json::from_str(&doc).unwrap();
    assert_eq!(back, vec!["a\x1b[31mb", "c\u{9b}2Jd", "e\u{202e}f"]);
    let line = json_line(&envs()[1]).unwrap();
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.starts_with("{\"name\":\"prod\\u001b[2J\""), "{line}");
}

fn log(text: &str, level: Level) -> LogLine {
    LogLine {
        ts: 1_700_000_000_123,
        env: "staging".into(),
        version: "v2".into(),
        instance: "staging-v2-1".into(),
        level,
        text: text.into(),
    }
}

#[test]
fn log_lines_plain_and_coloured() {
    let l = log("GET / 503 \x1b[31mslow\x1b[0m\x07", Level::Warn);
    assert_eq!(
        format_log_line(&l, LogStyle { color: false }, &chrono::Utc),
        "22:13:20.123 staging-v2-1 WARN  GET / 503 slow"
    );
    assert_eq!(
        format_log_line(&l, LogStyle { color: true }, &chrono::Utc),
        "22:13:20.123 staging-v2-1 \x1b[33mWARN \x1b[0m GET / 503 \x1b[31mslow\x1b[0m\x1b[0m"
    );
    let mut anon = log("hi", Level::Info);
    anon.instance = "".into();
    assert_eq!(
        format_log_line(&anon, LogStyle { color: true }, &chrono::Utc),
        "22:13:20.123 staging/v2 INFO  hi"
    );
}

#[test]
fn progress_tracker_reports_changes_once() {
    let mut run = PipelineRun::new(
        7,
        PipelineKind::Rollout,
        "staging",
        "deploy v2",
        &["start", "canary 5%"],
        0,
    );
    let mut p = ProgressTracker::new();
    assert!(p.update(&run).is_empty());
    run.start_stage(0, 1);
    assert_eq!(p.update(&run), vec!["  [1/2] start: running".to_string()]);
    assert!(p.update(&run).is_empty());
    run.finish_stage(0, StageStatus::Succeeded, "2 instances ready", 2);
    run.start_stage(1, 2);
    assert_eq!(
        p.update(&run),
        vec![
            "  [1/2] start: succeeded - 2 instances ready".to_string(),
            "  [2/2] canary 5%: running".to_string()
        ]
    );
    run.finish_stage(1, StageStatus::Failed("analysis".into()), "p99 too high", 3);
    assert_eq!(
        p.update(&run),
        vec!["  [2/2] canary 5%: failed (analysis) - p99 too high".to_string()]
    );
}

fn failing_verdict() -> Verdict {
    let canary = VersionSample {
        requests: 200,
        errors: 1,
        p50_ms: 50.0,
        p95_ms: 150.0,
        p99_ms: 612.0,
        ..Default::default()
    };
    analyze(&canary, None, &Thresholds::default())
}

#[test]
fn rollback_outcome_names_the_failed_metric_and_threshold() {
    let v = failing_verdict();
    let lines = outcome_lines(
        "staging",
        &RolloutOutcome::RolledBack {
            version: Version::new("v1"),
            reason: v.summary(),
            verdict: Some(Box::new(v.clone())),
        },
    );
    assert_eq!(
        lines,
        vec![
            "v1 rolled back in staging: failed: p99 latency 612ms > 500ms (+112ms)".to_string(),
            "  p99 latency 612ms > 500ms (+112ms)".to_string(),
            "  canary: 200 requests, 1 errors, p95 150ms, p99 612ms".to_string(),
        ]
    );
    assert_eq!(
        verdict_line(1, &v),
        "  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)"
    );
    assert_eq!(
        outcome_lines(
            "prod",
            &RolloutOutcome::Promoted {
                version: Version::new("v2")
            }
        ),
        vec!["promoted v2 in prod".to_string()]
    );
}

#[test]
fn experiment_row() {
    let mut x = Experiment::new(
        "exp-3".into(),
        "staging",
        ScenarioKind::ErrorInjection,
        FaultParams::default(),
        0,
    );
    x.state = ExperimentState::Completed;
    x.result = Some(ExperimentResult::Resilient);
    x.detection_ms = Some(1200);
    x.recovery_ms = Some(15_500);
    x.peak_error_rate = 0.304;
    x.peak_p99_ms = 41.0;
    x.failed_requests = 88;
    assert_eq!(
        experiment_table(&[x.clone()]),
        "\
ID     ENV      SCENARIO         STATE      RESULT     DETECTION  RECOVERY  PEAK ERR  PEAK P99  FAILED
exp-3  staging  error-injection  completed  resilient  1200ms     15.5s     30.4%     41ms      88
"
    );
    assert_eq!(
        experiment_progress_line(&x),
        "  exp-3 error-injection: completed (impact detected after 1200ms; peak err 30.4%, peak p99 41ms, 88 failed)"
    );
}

#[test]
fn accepted_line_shows_versions() {
    let a = ActionAccepted {
        pipeline_id: 7,
        env: "staging".into(),
        from_version: Some(Version::new("v1")),
        to_version: Some(Version::new("v2")),
        message: "canary rollout started".into(),
    };
    assert_eq!(
        accepted_line(&a),
        "pipeline #7 staging: canary rollout started (v1 -> v2)"
    );
}
