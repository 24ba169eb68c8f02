//! `comparison.include_chaos`: once both versions are measured, the FMEA
//! suite runs against each version's environment of the comparison sandbox
//! (old first, then new, so one version's faults never load the other) for
//! a resilience score per version. Nothing is written to the project's
//! reports or knowledge file: the environments are temporary.

use super::*;
use crate::domain::chaos::{ScenarioResult, Tolerance};
use crate::domain::sanitize::strip_all;
use crate::faults::suite::{run_suite, Progress, Sinks, SuitePlan, SuiteReport};

/// The scenarios to run: `chaos.scenarios`, or every one the sandbox offers.
fn scenarios(rt: &SandboxRuntime, config: &Config) -> Vec<ScenarioKind> {
    if !config.chaos.scenarios.is_empty() {
        return config.chaos.scenarios.clone();
    }
    let caps = rt.capabilities();
    ScenarioKind::every()
        .filter(|k| caps.offers_scenario(*k))
        .collect()
}

/// Run the suite against both versions, one after the other.
pub(super) async fn score_versions(
    rt: &SandboxRuntime,
    plan: &Plan,
    config: &Config,
    err: &mut (dyn Write + Send),
) -> Vec<ResilienceLine> {
    let scenarios = scenarios(rt, config);
    // The comparison sandbox has no traffic of its own: the suite needs load.
    let users = match config.chaos.load_during_chaos {
        0 => u32::try_from(plan.concurrency).unwrap_or(u32::MAX),
        n => n,
    };
    let mut lines = Vec::with_capacity(2);
    for (i, (env, version)) in [(OLD_ENV, &plan.old), (NEW_ENV, &plan.new)]
        .into_iter()
        .enumerate()
    {
        let suite = SuitePlan {
            env: env.to_string(),
            scenarios: scenarios.clone(),
            params: config.chaos.params(),
            baseline_secs: config.chaos.baseline_secs,
            slo: config.chaos.slo.clone(),
            tolerance: Tolerance::default(),
            abort_on_critical: config.chaos.abort_on_critical_failure,
            load: Some(format!("{users} users")),
        };
        let dir = plan.evidence_dirs[i].as_deref();
        lines.push(score_one(rt, &suite, version, users, config, dir, err).await);
    }
    lines
}

async fn score_one(
    rt: &SandboxRuntime,
    suite: &SuitePlan,
    version: &str,
    users: u32,
    config: &Config,
    project_dir: Option<&std::path::Path>,
    err: &mut (dyn Write + Send),
) -> ResilienceLine {
    let env = suite.env.as_str();
    let _ = writeln!(
        err,
        "resilience: the FMEA suite on {version} ({env}), {} scenario(s), {users} users",
        suite.scenarios.len()
    );
    let started = Instant::now();
    let load = match crate::perf::background_load(rt, env, users, &config.traffic.paths).await {
        Ok(l) => l,
        Err(e) => return ResilienceLine::failed(env, version, format!("load: {e}")),
    };
    // New connections are not the steady state the baseline should see.
    tokio::time::sleep(SUITE_WARMUP).await;
    let actor = Actor::current("compare");
    let sinks = Sinks {
        reports_dir: None,
        learner: None,
        project_dir,
        metrics: None,
    };
    let mut progress = |p: Progress| {
        if let Progress::StepDone(t) = p {
            let _ = writeln!(err, "  {version}: {}", strip_all(&t.line()));
        }
    };
    let result = run_suite(rt, &actor, suite, sinks, &mut progress).await;
    if let Some(l) = load {
        l.abort();
    }
    let took_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(report) => ResilienceLine::from_report(version, &report, took_ms),
        Err(e) => ResilienceLine::failed(env, version, format!("the suite failed: {e}")),
    }
}

/// Load before the first baseline (as `chaos --load` waits): the runtime's
/// metric points need a few seconds of traffic before a baseline sees it.
const SUITE_WARMUP: Duration = Duration::from_secs(3);

impl ResilienceLine {
    fn failed(env: &str, version: &str, error: String) -> ResilienceLine {
        ResilienceLine {
            env: env.to_string(),
            version: version.to_string(),
            score: None,
            scenarios: Vec::new(),
            stopped_early: None,
            error: Some(strip_all(&error)),
            took_ms: 0,
        }
    }

    pub(super) fn from_report(version: &str, r: &SuiteReport, took_ms: i64) -> ResilienceLine {
        let mut scenarios: Vec<ScenarioLine> = r
            .verdicts
            .iter()
            .map(|v| ScenarioLine {
                scenario: v.scenario,
                result: match v.result {
                    ScenarioResult::Pass => "pass",
                    ScenarioResult::Fail => "fail",
                    ScenarioResult::Inconclusive => "inconclusive",
                },
                detail: strip_all(&v.impact),
            })
            .collect();
        scenarios.extend(r.refused.iter().map(|(k, why)| ScenarioLine {
            scenario: *k,
            result: "refused",
            detail: strip_all(why),
        }));
        ResilienceLine {
            env: r.env.clone(),
            version: version.to_string(),
            score: r.scorecard.score.or(r.score),
            scenarios,
            stopped_early: r.stopped_early.as_deref().map(strip_all),
            error: None,
            took_ms,
        }
    }
}
