//! Chaos on Docker: the Docker applier of the fault engine (`crate::faults`).
//! Every fault is written to the Docker fault journal (`docker-faults.json`
//! in the state directory) before it is applied, with the steps that remove
//! it, and leaves the journal only once it is undone. A blissful-infra that
//! dies (SIGKILL) leaves its records behind; the next start undoes them
//! (`reconcile_at_start`), and keeps any it could not undo for `undo`.
//!
//! | scenario          | applied as                                                    |
//! |-------------------|---------------------------------------------------------------|
//! | pod-kill          | SIGKILL to the container's main process (the restart policy brings it back) |
//! | network-partition | iptables DROP of everything but loopback in its network namespace |
//! | network-latency   | `tc qdisc ... netem delay` in its network namespace (nsenter)  |
//! | packet-loss       | netem `loss`, or an iptables `statistic` DROP where the kernel has no netem |
//! | cpu-stress        | busy loops exec'd inside the container (its cgroup)            |
//! | memory-pressure   | a process inside the container holding `memory_mib` MiB        |
//! | db-down/kafka-down| the dependency container stopped, started again on undo       |
//! | dns-failure       | DNS (port 53) REDIRECTed in its namespace to a SERVFAIL responder there |
//! | dependency-timeout| each dependency's TCP ports REDIRECTed to a port that never answers; open connections DROPped |
//! | error-injection, connection-drop | faults at the host edge router (progressive delivery) |

mod apply;
mod dependency;
mod netns;
mod network;
mod steps;
mod targets;
mod undo;

use std::sync::Arc;
use std::time::Duration;

use apply::DockerApplier;
pub use steps::UndoStep;
pub(crate) use undo::{leftover_experiment, reconcile_at_start, undo, undo_all, undo_leftovers};

use super::runtime::{DockerRuntimeOptions, Inner};
use super::{delivery, DockerError, ENV_NAME};
use crate::clock::{now_ms, steady_ms};
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::EpochMillis;
use dependency::Helper;

use crate::faults::{FaultRunner, Journal, Sample};
use crate::runtime::{Actor, RuntimeError, Support};

pub const JOURNAL_FILE: &str = "docker-faults.json";
const TICK: Duration = Duration::from_millis(500);

/// A Docker fault as journalled.
pub type FaultRecord = crate::faults::FaultRecord<UndoStep>;

/// The chaos state of one runtime (behind a tokio mutex: operations are serialised).
pub struct Chaos {
    runner: FaultRunner<UndoStep, Vec<Helper>>,
    project: String,
    /// What the start-up reconcile did, one line per leftover fault.
    reconciled: Vec<String>,
    /// When the experiments last observed: a target that died after it
    /// was missing in the next sample, however late that sample runs.
    observed_at: EpochMillis,
}

/// The scenarios Docker supports, for `Capabilities::scenarios`.
pub fn scenario_support() -> std::collections::BTreeMap<String, Support> {
    crate::faults::scenario_support::<DockerApplier<'static>>()
}

/// Journal records of `project` left by blissful-infra processes that are gone.
pub fn find_leftovers(
    state_dir: &std::path::Path,
    project: &str,
) -> Result<Vec<FaultRecord>, DockerError> {
    let journal = Journal::at(state_dir.join(JOURNAL_FILE));
    crate::faults::leftovers(&journal, Some(project)).map_err(journal_error)
}

fn journal_error(e: crate::faults::JournalError) -> DockerError {
    DockerError::Io {
        context: format!("docker fault journal {}", e.path.display()),
        source: std::io::Error::other(e.message),
    }
}

impl Chaos {
    pub(crate) fn open(opts: &DockerRuntimeOptions) -> Result<Chaos, DockerError> {
        let journal = Journal::at(opts.state.dir.join(JOURNAL_FILE));
        // A corrupt journal is an error now, not a surprise at the first fault.
        journal.read().map_err(journal_error)?;
        Ok(Chaos {
            runner: FaultRunner::new(journal),
            project: opts.project.clone(),
            reconciled: Vec::new(),
            observed_at: 0,
        })
    }

    /// Faults left by a previous blissful-infra of this project that died
    /// and could not be undone at start.
    pub fn leftovers(&self) -> Vec<FaultRecord> {
        crate::faults::leftovers(self.runner.journal(), Some(&self.project)).unwrap_or_default()
    }

    /// What the start-up reconcile found and did, one line per fault.
    pub fn reconciled(&self) -> &[String] {
        &self.reconciled
    }
}

/// Record one chaos action as a pipeline run, so the timeline shows it.
fn chaos_run(inner: &Inner, title: &str, stages: &[(&str, Result<String, String>)]) {
    let now = now_ms();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    let mut run = PipelineRun::new(
        inner.next_id(),
        PipelineKind::Chaos,
        ENV_NAME,
        title,
        &names,
        now,
    );
    let mut ok = true;
    for (i, (_, r)) in stages.iter().enumerate() {
        match r {
            Ok(d) => run.finish_stage(i, StageStatus::Succeeded, d.clone(), now),
            Err(e) => {
                ok = false;
                run.finish_stage(i, StageStatus::Failed(e.clone()), e.clone(), now)
            }
        }
    }
    let status = if ok {
        StageStatus::Succeeded
    } else {
        StageStatus::Failed("see stages".into())
    };
    run.finish(status, now);
    inner.upsert_pipeline(run);
}

/// Start a chaos experiment (journalled before the fault is applied).
pub(crate) async fn inject(
    inner: &Arc<Inner>,
    _actor: &Actor,
    scenario: ScenarioKind,
    params: FaultParams,
) -> Result<Experiment, RuntimeError> {
    try_inject(inner, scenario, params).await
}

async fn try_inject(
    inner: &Arc<Inner>,
    scenario: ScenarioKind,
    params: FaultParams,
) -> Result<Experiment, RuntimeError> {
    let mut chaos = inner.chaos.lock().await;
    let project = chaos.project.clone();
    let mut applier = DockerApplier::new(inner);
    let r = chaos
        .runner
        .inject(
            &mut applier,
            (&project, ENV_NAME),
            scenario,
            params,
            steady_ms(),
        )
        .await;
    let injected = match r {
        Ok(x) => x,
        Err(e) => {
            if matches!(e, RuntimeError::Failed(_)) {
                inner.log(Level::Error, format!("chaos {scenario}: {e}"));
            }
            return Err(e);
        }
    };
    let x = injected.experiment;
    inner.log(Level::Warn, format!("chaos {}: {}", x.id, injected.what));
    let title = format!("chaos {scenario} on {}", injected.targets.join(", "));
    chaos_run(inner, &title, &[("inject", Ok(injected.what))]);
    inner.set_faults(chaos.runner.active(None));
    inner.upsert_experiment(x.clone());
    Ok(x)
}

/// Remove one applied fault now (the experiment goes on observing recovery).
async fn remove_fault(
    inner: &Arc<Inner>,
    chaos: &mut Chaos,
    id: &str,
) -> Result<Vec<String>, String> {
    let mut applier = DockerApplier::new(inner);
    let r = chaos.runner.remove(&mut applier, id, steady_ms()).await;
    match &r {
        Ok(done) => {
            if let Some(l) = chaos.runner.get(id) {
                inner.upsert_experiment(l.experiment.clone());
            }
            let text = format!("chaos {id}: fault removed ({})", done.join("; "));
            inner.log(Level::Info, text);
            inner.set_faults(chaos.runner.active(None));
        }
        Err(e) => inner.log(Level::Error, format!("chaos {id}: {e}")),
    }
    r
}

/// What the experiments observe each tick: worst error rate and p99 at the
/// router (when it carries traffic) and whether a target is not ready.
fn observe(inner: &Inner, chaos: &mut Chaos) {
    let (error_rate, p99_ms, errors) = delivery::observation(inner);
    let containers = inner.containers();
    // Read the clock before the deaths: one recorded after the copy is
    // later than `now`, so the next sample still counts it.
    let now = now_ms();
    let died = inner.state().last_died.clone();
    let since = std::mem::replace(&mut chaos.observed_at, now);
    let slo = inner.opts.config.chaos.slo.clone();
    let changed = chaos.runner.observe(steady_ms(), &slo, |l| {
        // A target that died since the last sample was missing, even if it
        // was back (restarted, healthy) by the time of this one (a loaded
        // machine can run the samples late).
        let died_lately = |t: &String| {
            died.get(t)
                .is_some_and(|&at| at >= l.experiment.started_at && at >= since)
        };
        let missing =
            l.record.targets.iter().any(|t| {
                died_lately(t) || !containers.iter().any(|c| c.display == *t && c.is_ready())
            });
        let cut_off = l.experiment.scenario == ScenarioKind::NetworkPartition && l.applied;
        Some(Sample {
            error_rate,
            p99_ms,
            errors,
            instances_short: missing || cut_off,
            requests_measured: true,
        })
    });
    for x in changed {
        inner.upsert_experiment(x);
    }
}

/// Ends faults at their time and feeds the experiments once a second.
pub(crate) async fn run_expiry(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let mut chaos = inner.chaos.lock().await;
        for id in chaos.runner.due(steady_ms()) {
            let _ = remove_fault(&inner, &mut chaos, &id).await;
        }
        if n % 2 == 0 {
            observe(&inner, &mut chaos);
        }
    }
}
