use super::*;
use crate::domain::chaos::{Experiment, ExperimentState, Figures, Observed, ScenarioResult};

const T0: i64 = 1_796_000_000_000;

fn plan() -> SuitePlan {
    SuitePlan {
        env: "staging".into(),
        scenarios: vec![ScenarioKind::PodKill, ScenarioKind::NetworkLatency],
        params: FaultParams::default(),
        baseline_secs: 5,
        slo: ChaosSlo::default(),
        tolerance: Tolerance::default(),
        abort_on_critical: false,
        load: Some("10 users".into()),
    }
}

fn verdict(kind: ScenarioKind, err: f64, p99: f64, failed: u64) -> ScenarioVerdict {
    let slo = ChaosSlo::default();
    let mut x = Experiment::new("x1".into(), "staging", kind, FaultParams::default(), T0);
    x.observe(T0 + 1000, err, p99, failed, false, &slo);
    x.fault_removed(T0 + 2000);
    x.observe(T0 + 3000, 0.0, 10.0, 0, false, &slo);
    assert_eq!(x.state, ExperimentState::Completed);
    ScenarioVerdict::judge(
        &x,
        Figures::default(),
        &Observed::default(),
        &slo,
        Some(1000),
    )
}

fn report(verdicts: Vec<ScenarioVerdict>) -> SuiteReport {
    SuiteReport {
        env: "staging".into(),
        runtime: "sandbox".into(),
        started_at: T0,
        finished_at: T0 + 60_000,
        plan: plan(),
        score: crate::domain::chaos::resilience_score(&verdicts),
        verdicts,
        steps: vec![StepTiming {
            scenario: Some(ScenarioKind::PodKill),
            step: Step::Observe,
            started_at: T0,
            took_ms: 5_000,
            note: "worst sampled error rate 0.0%".into(),
        }],
        stopped_early: None,
        refused: Vec::new(),
        scorecard: scorecard(),
    }
}

fn scorecard() -> Scorecard {
    use crate::domain::chaos::{merge, Basis, Finding, Practice};
    let read = Finding::Present {
        basis: Basis::Read,
        evidence: "app/resilience.py:18 \"class CircuitBreaker:\"".into(),
    };
    let absent = Finding::Absent {
        looked: "12 code and manifest files".into(),
    };
    Scorecard {
        score: None,
        checklist: Practice::CHECKLIST
            .iter()
            .map(|p| match p {
                Practice::CircuitBreakers => merge(*p, std::slice::from_ref(&read)),
                Practice::GracefulShutdown => merge(*p, &[]),
                _ => merge(*p, std::slice::from_ref(&absent)),
            })
            .collect(),
    }
}

#[test]
fn steps_are_numbered_one_to_eight() {
    let numbers: Vec<usize> = Step::ALL.iter().map(|s| s.number()).collect();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
    let r = report(Vec::new());
    assert_eq!(
        r.steps[0].line(),
        "[3/8 observe] pod-kill 5.0s: worst sampled error rate 0.0%"
    );
}

#[test]
fn a_suite_passes_only_when_every_scenario_passed_on_a_measurement() {
    let pass = verdict(ScenarioKind::PodKill, 0.0, 10.0, 0);
    assert_eq!(pass.result, ScenarioResult::Pass);
    assert!(report(vec![pass.clone()]).passed());
    let fail = verdict(ScenarioKind::NetworkLatency, 0.0, 900.0, 0);
    assert!(!report(vec![pass.clone(), fail]).passed());
    assert!(
        !report(Vec::new()).passed(),
        "nothing measured is not a pass"
    );
    let mut refused = report(vec![pass.clone()]);
    refused
        .refused
        .push((ScenarioKind::DnsFailure, "not built".into()));
    assert!(!refused.passed());
    let mut stopped = report(vec![pass]);
    stopped.stopped_early = Some("critical".into());
    assert!(!stopped.passed());
}

#[test]
fn the_report_files_hold_the_fmea_table_and_parse_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = report(vec![
        verdict(ScenarioKind::PodKill, 1.0, 40.0, 31),
        verdict(ScenarioKind::NetworkLatency, 0.0, 30.0, 0),
    ]);
    r.refused.push((
        ScenarioKind::DnsFailure,
        "dns-failure is not built yet".into(),
    ));
    // A hostile environment name and a secret in an impact line.
    r.env = "staging\u{1b}]0;owned\u{7}".into();
    r.verdicts[1].impact = "token ghp_R3aLlyN0tAT0k3nButL0oksL1keOne12345 leaked".into();
    let paths = write_report(dir.path(), &r).unwrap();
    assert!(
        paths.markdown.ends_with("2026-11-30T00-53-20Z.md"),
        "{paths:?}"
    );
    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(md.contains("| pod-kill | fail | Critical |"), "{md}");
    assert!(md.contains("| network-latency | pass | Low |"), "{md}");
    assert!(md.contains("| dns-failure | refused |"), "{md}");
    assert!(md.contains("resilience score: 33/100"), "{md}");
    assert!(md.contains("- checklist: 1/7 practices seen"), "{md}");
    assert!(
        md.contains("- circuit breakers: read (app/resilience.py:18"),
        "{md}"
    );
    assert!(
        md.contains("- graceful shutdown: not checked (no check covers it)"),
        "{md}"
    );
    assert!(
        md.contains("| expected | mitigation |"),
        "the FMEA table has both columns: {md}"
    );
    assert!(!md.contains('\u{1b}') && !md.contains("ghp_R3aL"), "{md}");
    let json = std::fs::read_to_string(&paths.json).unwrap();
    assert!(!json.contains("ghp_R3aL"), "{json}");
    let back: SuiteReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.verdicts.len(), 2);
    assert_eq!(
        back.verdicts[0].severity,
        crate::domain::chaos::Severity::Critical
    );
}

#[test]
fn the_learner_appends_one_line_per_suite() {
    let dir = tempfile::tempdir().unwrap();
    let learner = JsonlLearner {
        path: dir.path().join("knowledge").join("chaos.jsonl"),
    };
    let r = report(vec![verdict(ScenarioKind::PodKill, 0.0, 10.0, 0)]);
    learner.learn(&r).unwrap();
    learner.learn(&r).unwrap();
    let text = std::fs::read_to_string(&learner.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let one: SuiteReport = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(one.env, "staging");
}

#[test]
fn the_env_watch_combines_fresh_samples_of_its_own_environment() {
    use crate::domain::metrics::MetricPoint;
    use crate::runtime::RuntimeEvent;
    let mut w = EnvWatch::new("staging");
    let point = |rps: f64| MetricPoint {
        ts: T0,
        rps,
        p99_ms: 20.0,
        ..MetricPoint::default()
    };
    for (env, version, rps) in [
        ("staging", "v1", 10.0),
        ("staging", "v2", 5.0),
        ("production", "v1", 99.0),
        ("staging", "v1@prometheus", 10.0),
    ] {
        w.fold(RuntimeEvent::Metrics {
            env: env.into(),
            version: version.into(),
            point: point(rps),
        });
    }
    assert_eq!(w.sample(T0 + 1000).map(|p| p.rps), Some(15.0));
    assert_eq!(w.sample(T0 + 10_000), None, "stale points are not a sample");
}

#[test]
fn the_latest_score_of_an_environment_comes_from_the_newest_scored_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("knowledge").join("chaos.jsonl");
    assert_eq!(latest_score(&path, "staging").unwrap(), None, "no file yet");
    let learner = JsonlLearner { path: path.clone() };
    let mut old = report(vec![verdict(ScenarioKind::PodKill, 1.0, 40.0, 31)]);
    old.started_at = T0;
    learner.learn(&old).unwrap();
    let mut new = report(vec![verdict(ScenarioKind::PodKill, 0.0, 10.0, 0)]);
    new.started_at = T0 + 1000;
    learner.learn(&new).unwrap();
    let mut other = report(vec![verdict(ScenarioKind::PodKill, 1.0, 40.0, 31)]);
    other.env = "production".into();
    learner.learn(&other).unwrap();
    let mut unscored = report(Vec::new());
    unscored.started_at = T0 + 2000;
    learner.learn(&unscored).unwrap();
    // A torn last line (a crash mid-append) is skipped.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"env\":\"stag"))
        .unwrap();
    let last = latest_score(&path, "staging").unwrap().unwrap();
    assert_eq!((last.score, last.at), (100.0, T0 + 1000));
    assert_eq!(
        latest_score(&path, "production").unwrap().map(|l| l.score),
        Some(0.0)
    );
    assert_eq!(latest_score(&path, "qa").unwrap(), None);
}

#[test]
fn without_series_of_its_own_the_env_watch_samples_the_external_source() {
    use crate::domain::metrics::MetricPoint;
    use crate::runtime::RuntimeEvent;
    let mut w = EnvWatch::new("staging");
    w.external_stale_ms = 5_000;
    let point = |rps: f64| MetricPoint {
        ts: T0,
        rps,
        ..MetricPoint::default()
    };
    for (version, rps) in [("v1@prometheus", 8.0), ("v2@prometheus", 2.0)] {
        w.fold(RuntimeEvent::Metrics {
            env: "staging".into(),
            version: version.into(),
            point: point(rps),
        });
    }
    assert_eq!(w.sample(T0 + 4_000).map(|p| p.rps), Some(10.0));
    assert!(w.sampled_external);
    assert_eq!(w.sample(T0 + 6_000), None, "older than its step allows");
    assert!(!w.sampled_external);
    // Once the runtime speaks for itself, the external series step aside.
    w.fold(RuntimeEvent::Metrics {
        env: "staging".into(),
        version: "v1".into(),
        point: MetricPoint {
            ts: T0 + 6_000,
            rps: 3.0,
            ..MetricPoint::default()
        },
    });
    assert_eq!(w.sample(T0 + 6_500).map(|p| p.rps), Some(3.0));
    assert!(!w.sampled_external);
}
