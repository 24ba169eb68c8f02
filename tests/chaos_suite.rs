//! The FMEA suite against the real sandbox: real sample-service processes
//! behind the real router, real faults through the fault engine. Each
//! verdict must come from what was measured: the same scenario passes or
//! fails with the fault's size against the SLO, a critical breach stops the
//! suite and removes the fault at once, a scenario the runtime cannot do is
//! refused with its reason, and the report files and the knowledge line are
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use blissful_infra::domain::chaos::{
    ChaosSlo, CheckOutcome, ExperimentState, FaultParams, ScenarioKind, ScenarioResult, Severity,
    Tolerance,
};
use blissful_infra::domain::environment::Health;
use blissful_infra::faults::suite::{
    run_suite, JsonlLearner, Learner, Progress, Sinks, Step, SuitePlan, SuiteReport,
};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, SharedRuntime, Support};

const ENV: &str = "staging";

async fn sandbox(dir: &tempfile::TempDir) -> (SharedRuntime, StatePaths) {
    let (rt, state) =
        support::sandbox::start(support::sandbox::one_env(ENV, 2), dir.path(), false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let envs = rt.status().await.unwrap();
        if envs
            .iter()
            .any(|e| e.name == ENV && e.health == Health::Healthy)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox never became healthy: {envs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (rt, state)
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

fn plan(scenarios: &[ScenarioKind], params: FaultParams, abort_on_critical: bool) -> SuitePlan {
    SuitePlan {
        env: ENV.into(),
        scenarios: scenarios.to_vec(),
        params,
        baseline_secs: 3,
        slo: ChaosSlo {
            max_error_rate: 0.05,
            // A busy 2-core machine keeps the sample service well under this
            // without a fault; 400 ms of added latency cannot be.
            max_p99_ms: 250.0,
            max_recovery_secs: 20,
        },
        tolerance: Tolerance::default(),
        abort_on_critical,
        load: None,
    }
}

fn latency(ms: u64) -> FaultParams {
    FaultParams {
        duration_secs: 4,
        latency_ms: ms,
        ..FaultParams::default()
    }
}

async fn run(
    rt: &dyn Runtime,
    plan: &SuitePlan,
    reports: &std::path::Path,
    learner: &dyn Learner,
) -> (SuiteReport, Vec<String>) {
    let mut lines = Vec::new();
    let mut progress = |p: Progress| {
        if let Progress::StepDone(t) = p {
            lines.push(t.line());
        }
    };
    let sinks = Sinks {
        reports_dir: Some(reports),
        project_dir: None,
        learner: Some(learner),
        metrics: None,
    };
    let report = run_suite(rt, &actor(), plan, sinks, &mut progress)
        .await
        .unwrap();
    (report, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_fault_passes_or_fails_on_what_was_measured_and_everything_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, state) = sandbox(&dir).await;
    let reports = dir.path().join("reports").join("chaos");
    let learner = JsonlLearner {
        path: state.chaos_knowledge(),
    };

    // 400 ms on every request breaks the 250 ms p99 SLO: a measured failure.
    let slow = plan(
        &[ScenarioKind::NetworkLatency, ScenarioKind::PacketLoss],
        latency(400),
        false,
    );
    let (r, lines) = run(&*rt, &slow, &reports, &learner).await;
    let v = &r.verdicts[0];
    assert_eq!(v.scenario, ScenarioKind::NetworkLatency);
    assert_eq!(v.result, ScenarioResult::Fail, "{v:#?}");
    assert_eq!(
        v.severity,
        Severity::Medium,
        "latency alone is Medium: {v:#?}"
    );
    assert!(
        matches!(&v.expected.outcome, CheckOutcome::Failed(d) if d.contains("limit 250ms")),
        "{v:#?}"
    );
    assert!(
        v.baseline.samples >= 2 && v.baseline.rps > 5.0,
        "a real baseline: {v:#?}"
    );
    assert!(
        v.recovery_ms.is_some(),
        "back to the baseline after removal: {v:#?}"
    );
    // packet-loss is refused with the runtime's reason, never faked.
    assert_eq!(r.refused.len(), 1, "{r:#?}");
    assert_eq!(r.refused[0].0, ScenarioKind::PacketLoss);
    let Some(Support::No(why)) = rt.capabilities().scenarios.get("packet-loss").cloned() else {
        panic!("the sandbox offers packet-loss?")
    };
    assert_eq!(r.refused[0].1, why, "the runtime's own reason");
    assert!(!r.passed());
    // Steps 1 to 8 each reported, with their timings.
    for step in Step::ALL {
        let tag = format!("[{}/8 {}]", step.number(), step.label());
        assert!(
            lines.iter().any(|l| l.starts_with(&tag)),
            "no {tag} in {lines:#?}"
        );
    }
    let baseline = r.steps.iter().find(|s| s.step == Step::Baseline).unwrap();
    assert!(baseline.took_ms >= 2_900, "{baseline:?}");

    // 20 ms stays inside the SLO: the same scenario passes, on its figures.
    let quick = plan(&[ScenarioKind::NetworkLatency], latency(20), false);
    let (r, _) = run(&*rt, &quick, &reports, &learner).await;
    let v = &r.verdicts[0];
    assert_eq!(v.result, ScenarioResult::Pass, "{v:#?}");
    assert_eq!(v.severity, Severity::Low);
    assert!(r.passed() && r.score == Some(100.0), "{r:#?}");

    // Both suites are on disk as Markdown and JSON, and in the knowledge base.
    let mut files: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".md")).count(),
        2,
        "{files:?}"
    );
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".json")).count(),
        2,
        "{files:?}"
    );
    // Names sort by time: the first of each kind is the failing suite.
    let first_md = files.iter().find(|f| f.ends_with(".md")).unwrap();
    let md = std::fs::read_to_string(reports.join(first_md)).unwrap();
    assert!(md.contains("| network-latency | fail | Medium |"), "{md}");
    assert!(md.contains("| packet-loss | refused |"), "{md}");
    let first_json = files.iter().find(|f| f.ends_with(".json")).unwrap();
    // Every report file follows the published schema.
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/faults/suite/report.schema.json");
    for f in files.iter().filter(|f| f.ends_with(".json")) {
        let out = support::validate::json_schema(&schema, &reports.join(f)).unwrap();
        assert!(
            out.status.success(),
            "{f} does not follow the report schema:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // …and the schema can fail: a score above 100 is refused.
    let mut bent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join(first_json)).unwrap()).unwrap();
    bent["score"] = serde_json::json!(140.0);
    let bent_path = dir.path().join("bent.json");
    std::fs::write(&bent_path, bent.to_string()).unwrap();
    let out = support::validate::json_schema(&schema, &bent_path).unwrap();
    assert!(!out.status.success(), "a score of 140 passed the schema");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("score: 140"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: SuiteReport =
        serde_json::from_str(&std::fs::read_to_string(reports.join(first_json)).unwrap()).unwrap();
    assert_eq!(doc.env, ENV);
    assert_eq!(doc.verdicts[0].result, ScenarioResult::Fail);
    let knowledge = std::fs::read_to_string(state.chaos_knowledge()).unwrap();
    assert_eq!(knowledge.lines().count(), 2);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_breach_stops_the_suite_and_removes_the_fault_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, state) = sandbox(&dir).await;
    let reports = dir.path().join("reports");
    let learner = JsonlLearner {
        path: state.chaos_knowledge(),
    };
    // 90% of requests answered 503 for a minute: critical at the first sample.
    let params = FaultParams {
        duration_secs: 60,
        rate: 0.9,
        ..FaultParams::default()
    };
    let p = plan(
        &[ScenarioKind::ErrorInjection, ScenarioKind::NetworkLatency],
        params,
        true,
    );
    let t = Instant::now();
    let (r, _) = run(&*rt, &p, &reports, &learner).await;
    assert!(
        t.elapsed() < Duration::from_secs(45),
        "the fault ran its minute: {:?}",
        t.elapsed()
    );
    assert_eq!(
        r.verdicts.len(),
        1,
        "the suite stopped at the first scenario: {r:#?}"
    );
    let v = &r.verdicts[0];
    assert_eq!(v.result, ScenarioResult::Fail);
    assert_eq!(v.severity, Severity::Critical, "{v:#?}");
    assert!(
        v.aborted
            .as_deref()
            .is_some_and(|a| a.contains("abort_on_critical_failure")),
        "{v:#?}"
    );
    assert!(r.stopped_early.is_some());
    // Removed: no active fault, and the experiment is over.
    let envs = rt.status().await.unwrap();
    let env = envs.iter().find(|e| e.name == ENV).unwrap();
    assert!(env.faults.is_empty(), "{:#?}", env.faults);
    let h = rt.history().await.unwrap();
    let x = h
        .experiments
        .iter()
        .find(|x| x.id == v.experiment_id)
        .unwrap();
    assert_ne!(x.state, ExperimentState::Running, "{x:#?}");
    rt.shutdown().await;
}
