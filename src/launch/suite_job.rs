//! The FMEA suite started from the console: it runs on its own task, sends
//! its steps and verdicts back as messages, and records each fault it
//! applies in the console's ledger (undone on a hang-up when configured).

use tokio::sync::mpsc;

use super::chaos::{plan_for, LOAD_WARMUP};
use super::disconnect::FaultLedger;
use crate::app::jobs::JobContext;
use crate::app::msg::Msg;
use crate::app::suite::SuiteMsg;
use crate::domain::chaos::ScenarioKind;
use crate::faults::suite::{run_suite, JsonlLearner, Learner, Progress, Sinks};
use crate::runtime::{Actor, SharedRuntime};

pub fn spawn_chaos_suite(
    runtime: SharedRuntime,
    jobs: &JobContext,
    (env, scenario): (String, ScenarioKind),
    tx: mpsc::Sender<Msg>,
    ledger: FaultLedger,
) {
    let config = jobs.config.clone();
    let project = jobs.project_dir.clone();
    let reports = project.as_ref().map(|p| p.join("reports").join("chaos"));
    let knowledge = jobs.knowledge.clone();
    tokio::spawn(async move {
        let users = config.chaos.load_during_chaos;
        let plan = plan_for(&config, &env, vec![scenario], config.chaos.params(), users);
        let load = match crate::perf::background_load(
            runtime.as_ref(),
            &env,
            users,
            &config.traffic.paths,
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                let _ = tx
                    .send(SuiteMsg::Done(Err(format!("load: {e}"))).into())
                    .await;
                return;
            }
        };
        if load.is_some() {
            tokio::time::sleep(LOAD_WARMUP).await;
        }
        let learner = knowledge.map(|path| JsonlLearner { path });
        let sinks = Sinks {
            reports_dir: reports.as_deref(),
            project_dir: project.as_deref(),
            learner: learner.as_ref().map(|l| l as &dyn Learner),
            metrics: super::chaos::prometheus_for_suite(&config, &env),
        };
        // Progress is sent without waiting: the console drains its queue
        // every frame, and a step it missed is still in the report.
        let progress_tx = tx.clone();
        let mut progress = |p: Progress| {
            let msg = match p {
                Progress::Injected(id) => {
                    ledger.record(&id);
                    return;
                }
                Progress::StepDone(t) => SuiteMsg::Step(t),
                Progress::Verdict(v) => SuiteMsg::Verdict(v),
            };
            let _ = progress_tx.try_send(msg.into());
        };
        let actor = Actor::current("console");
        let result = run_suite(runtime.as_ref(), &actor, &plan, sinks, &mut progress).await;
        if let Some(l) = load {
            l.abort();
        }
        let done = result.map(Box::new).map_err(|e| e.to_string());
        let _ = tx.send(SuiteMsg::Done(done).into()).await;
    });
}
