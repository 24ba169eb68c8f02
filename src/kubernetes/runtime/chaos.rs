//! Chaos in the Kubernetes runtime: the fault engine's runner with the
//! Chaos Mesh applier, its journal (`kube-faults.json` in the state
//! directory), the start-up reconcile of faults a dead blissful-infra left
//! in this cluster, and a ticker that ends faults at their time, follows
//! each resource's status and feeds the experiments.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::orphans::{self, Orphan};
use super::session::Shared;
use crate::clock::{now_ms, steady_ms};
use crate::domain::chaos::{ChaosSlo, Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::ActiveFault;
use crate::domain::logs::{Level, LogLine};
use crate::faults::{FaultApplier, FaultRunner, Journal, Sample};
use crate::kubernetes::chaos::manifest::dependency_refusal;
use crate::kubernetes::chaos::{api, cr_phase, ChaosMeshApplier, CrPhase, Place, UndoStep};
use crate::runtime::{RuntimeError, RuntimeEvent, Support};

/// The journal's file name in the state directory.
pub const JOURNAL_FILE: &str = "kube-faults.json";
const TICK: Duration = Duration::from_millis(500);
/// Resource statuses are read every this many ticks.
const STATUS_EVERY: u64 = 2;
/// Longest chaos log line kept.
const LOG_CHARS: usize = 2048;
/// What the log lines of chaos name as their source.
const SOURCE: &str = "chaos-mesh";

/// Why chaos is refused when the runtime was started without a journal.
pub const NO_JOURNAL: &str = "chaos on Kubernetes journals each fault in the state directory \
     before making it, and this runtime was started without one";

/// Where faults are journalled, and the dependency pods' labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChaosSettings {
    /// `<state dir>/kube-faults.json`.
    pub journal: PathBuf,
    /// `kubernetes.dependencies`.
    pub dependencies: BTreeMap<String, BTreeMap<String, String>>,
    /// What the experiments are judged by (`chaos.slo`).
    pub slo: ChaosSlo,
}

pub struct KubeChaos {
    settings: ChaosSettings,
    runner: tokio::sync::Mutex<FaultRunner<UndoStep, ()>>,
    /// The resource status last reported per fault.
    phases: Mutex<BTreeMap<String, CrPhase>>,
    /// What the start-up reconcile did.
    reconciled: Mutex<Vec<String>>,
    /// Resources of faults no journal here knows, found at start.
    orphans: Mutex<Vec<Orphan>>,
    /// How long a pod-kill waits for Chaos Mesh (tests shorten it).
    pub pod_kill_wait: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KubeChaos {
    /// A corrupt journal is an error now, not at the first fault.
    pub fn open(settings: ChaosSettings) -> Result<KubeChaos, String> {
        let journal = Journal::at(&settings.journal);
        journal.read().map_err(|e| e.to_string())?;
        Ok(KubeChaos {
            settings,
            runner: tokio::sync::Mutex::new(FaultRunner::new(journal)),
            phases: Mutex::new(BTreeMap::new()),
            reconciled: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            pod_kill_wait: crate::kubernetes::chaos::POD_KILL_WAIT,
        })
    }

    /// The scenarios Chaos Mesh makes, the dependency ones only when
    /// `kubernetes.dependencies` names their pods.
    pub fn scenario_support(&self) -> BTreeMap<String, Support> {
        let mut out = crate::kubernetes::chaos::scenario_support();
        for k in ScenarioKind::every() {
            if let Some(why) = dependency_refusal(k, &self.settings.dependencies, "") {
                out.insert(k.name().to_string(), Support::No(why));
            }
        }
        out
    }

    pub fn reconciled(&self) -> Vec<String> {
        lock(&self.reconciled).clone()
    }

    pub fn orphans(&self) -> Vec<Orphan> {
        lock(&self.orphans).clone()
    }

    pub fn forget_orphan(&self, o: &Orphan) {
        lock(&self.orphans).retain(|x| x != o);
    }
}

fn chaos_of(shared: &Shared) -> Result<&KubeChaos, RuntimeError> {
    shared
        .chaos
        .as_ref()
        .ok_or_else(|| RuntimeError::Refused(NO_JOURNAL.into()))
}

fn applier(
    shared: &Shared,
    chaos: &KubeChaos,
    env: Option<&str>,
) -> Result<ChaosMeshApplier, RuntimeError> {
    let conn = shared
        .conn()
        .ok_or_else(|| RuntimeError::Unavailable("not connected to a cluster".into()))?;
    let place = env.and_then(|e| shared.settings.env(e)).map(|t| Place {
        namespace: t.namespace.clone(),
        workload: t.rollout.clone(),
    });
    let mut a = ChaosMeshApplier::new(
        conn,
        &shared.label(),
        place,
        chaos.settings.dependencies.clone(),
    );
    a.pod_kill_wait = chaos.pod_kill_wait;
    Ok(a)
}

/// A log line; its text may quote the apiserver, so it is cleaned.
pub(super) fn log(shared: &Shared, env: &str, level: Level, text: String) {
    let text = crate::kubernetes::fields::clean_max(&text, LOG_CHARS);
    shared.publish_log(LogLine::new(
        now_ms(),
        Arc::from(env),
        Arc::from(SOURCE),
        Arc::from(SOURCE),
        level,
        text,
    ));
}

/// Publish the environments' fault lists as the runner has them.
fn publish_faults(shared: &Shared, runner: &FaultRunner<UndoStep, ()>) {
    let mut by_env: BTreeMap<String, Vec<ActiveFault>> = shared
        .settings
        .envs
        .iter()
        .map(|t| (t.env.clone(), Vec::new()))
        .collect();
    for l in runner.faults().filter(|l| l.applied) {
        if let Some(v) = by_env.get_mut(&l.experiment.env) {
            v.push(ActiveFault {
                id: l.experiment.id.clone(),
                scenario: l.experiment.scenario.name().to_string(),
                ends_at: l.experiment.ends_at,
            });
        }
    }
    if let Some(chaos) = shared.chaos.as_ref() {
        for o in chaos.orphans() {
            if let Some(v) = by_env.get_mut(&o.env) {
                v.push(o.active_fault(now_ms()));
            }
        }
    }
    for (env, faults) in by_env {
        let events = shared
            .state()
            .set_faults(&shared.settings, &env, faults, now_ms());
        shared.publish(events);
    }
}

/// Start a fault on `env`: journalled, then created.
pub async fn inject(
    shared: &Shared,
    env: &str,
    scenario: ScenarioKind,
    params: FaultParams,
) -> Result<Experiment, RuntimeError> {
    let chaos = chaos_of(shared)?;
    if shared.settings.env(env).is_none() {
        return Err(RuntimeError::UnknownEnvironment(env.to_string()));
    }
    let mut applier = applier(shared, chaos, Some(env))?;
    let cluster = shared.label();
    let mut runner = chaos.runner.lock().await;
    let injected = runner
        .inject(&mut applier, (&cluster, env), scenario, params, steady_ms())
        .await;
    let injected = match injected {
        Ok(x) => x,
        Err(e) => {
            log(shared, env, Level::Error, format!("chaos {scenario}: {e}"));
            return Err(e);
        }
    };
    let x = injected.experiment;
    log(
        shared,
        env,
        Level::Warn,
        format!("chaos {}: {}", x.id, injected.what),
    );
    shared.publish(vec![RuntimeEvent::Experiment {
        experiment: x.clone(),
    }]);
    publish_faults(shared, &runner);
    Ok(x)
}

/// End a fault now: a live one, or a leftover of a dead blissful-infra.
pub async fn undo(shared: &Shared, id: &str) -> Result<(), RuntimeError> {
    let chaos = chaos_of(shared)?;
    let mut runner = chaos.runner.lock().await;
    let env = runner.get(id).map(|l| l.experiment.env.clone());
    let Some(env) = env else {
        if orphans::remove(shared, chaos, id).await? {
            publish_faults(shared, &runner);
            return Ok(());
        }
        drop(runner);
        return undo_leftovers(shared, Some(id)).await.and_then(|v| {
            if v.is_empty() {
                Err(RuntimeError::NotFound(format!("experiment {id}")))
            } else {
                Ok(())
            }
        });
    };
    let mut applier = applier(shared, chaos, Some(&env))?;
    remove(shared, &mut runner, &mut applier, id, &env)
        .await
        .map(|_| ())
        .map_err(RuntimeError::Failed)
}

async fn remove(
    shared: &Shared,
    runner: &mut FaultRunner<UndoStep, ()>,
    applier: &mut ChaosMeshApplier,
    id: &str,
    env: &str,
) -> Result<Vec<String>, String> {
    let r = runner.remove(applier, id, steady_ms()).await;
    match &r {
        Ok(done) => {
            log(
                shared,
                env,
                Level::Info,
                format!("chaos {id}: fault removed ({})", done.join("; ")),
            );
            if let Some(l) = runner.get(id) {
                shared.publish(vec![RuntimeEvent::Experiment {
                    experiment: l.experiment.clone(),
                }]);
            }
            publish_faults(shared, runner);
        }
        Err(e) => log(shared, env, Level::Error, format!("chaos {id}: {e}")),
    }
    r
}

/// Undo the journal's leftovers in this cluster (all, or the one `only`).
async fn undo_leftovers(shared: &Shared, only: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let chaos = chaos_of(shared)?;
    let runner = chaos.runner.lock().await;
    let journal = runner.journal().clone();
    let cluster = shared.label();
    let mut applier = applier(shared, chaos, None)?;
    let records = crate::faults::leftovers(&journal, Some(&cluster))
        .map_err(|e| RuntimeError::Failed(e.to_string()))?;
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for record in records
        .into_iter()
        .filter(|r| only.is_none_or(|id| id == r.id))
    {
        let outcome = applier.undo_leftover(&record).await;
        let env = env_of(shared, &record.undo);
        let r = crate::faults::Reconciled { record, outcome };
        let line = r.describe();
        if r.outcome.is_ok() {
            journal
                .remove(&r.record.id)
                .map_err(|e| RuntimeError::Failed(e.to_string()))?;
            log(shared, &env, Level::Warn, line.clone());
            lines.push(line);
        } else {
            log(shared, &env, Level::Error, line.clone());
            failed.push(line);
        }
    }
    if failed.is_empty() {
        Ok(lines)
    } else {
        Err(RuntimeError::Failed(failed.join("; ")))
    }
}

/// The environment whose namespace the steps act in (for log lines).
fn env_of(shared: &Shared, steps: &[UndoStep]) -> String {
    steps
        .iter()
        .find_map(|UndoStep::Delete { namespace, .. }| {
            shared
                .settings
                .envs
                .iter()
                .find(|t| t.namespace == *namespace)
        })
        .map(|t| t.env.clone())
        .unwrap_or_default()
}

/// At start: delete what a dead blissful-infra left in this cluster.
pub async fn reconcile_at_start(shared: &Shared) -> Vec<String> {
    let Some(chaos) = shared.chaos.as_ref() else {
        return Vec::new();
    };
    let mut lines = match undo_leftovers(shared, None).await {
        Ok(lines) => lines,
        Err(e) => vec![format!("leftover faults not all undone: {e}")],
    };
    let runner = chaos.runner.lock().await;
    let journal = runner.journal().read().unwrap_or_default();
    let known = journal
        .iter()
        .map(|r| r.id.clone())
        .chain(runner.faults().map(|l| l.experiment.id.clone()))
        .collect();
    let found = orphans::find(shared, &known).await;
    if !found.is_empty() {
        lines.push(format!(
            "{} leftover Chaos Mesh resource(s) in no journal here; `undo --id <fault>` deletes one",
            found.len()
        ));
    }
    *lock(&chaos.orphans) = found;
    publish_faults(shared, &runner);
    *lock(&chaos.reconciled) = lines.clone();
    lines
}

/// Every fault this runtime still applies, removed (shutdown).
pub async fn undo_all(shared: &Shared) -> Vec<String> {
    let Some(chaos) = shared.chaos.as_ref() else {
        return Vec::new();
    };
    let mut runner = chaos.runner.lock().await;
    let mut lines = Vec::new();
    for id in runner.applied_ids() {
        let env = runner
            .get(&id)
            .map(|l| l.experiment.env.clone())
            .unwrap_or_default();
        let Ok(mut applier) = applier(shared, chaos, Some(&env)) else {
            lines.push(format!(
                "{id}: not connected; Chaos Mesh ends it at its duration"
            ));
            continue;
        };
        let line = match remove(shared, &mut runner, &mut applier, &id, &env).await {
            Ok(done) => format!("{id}: {}", done.join("; ")),
            Err(e) => format!("{id}: {e}"),
        };
        lines.push(line);
    }
    lines
}

/// The experiments of this runtime, newest state.
pub async fn experiments(shared: &Shared) -> Vec<Experiment> {
    let Some(chaos) = shared.chaos.as_ref() else {
        return Vec::new();
    };
    let runner = chaos.runner.lock().await;
    runner.faults().map(|l| l.experiment.clone()).collect()
}

/// Report a resource's status when it changed.
async fn follow_status(shared: &Shared, chaos: &KubeChaos, runner: &FaultRunner<UndoStep, ()>) {
    let Some(conn) = shared.conn() else { return };
    for l in runner.faults().filter(|l| l.applied) {
        for step in &l.record.undo {
            let UndoStep::Delete {
                kind,
                name,
                namespace,
            } = step;
            let phase = match api::get(&conn, *kind, namespace, name).await {
                Ok(Some(obj)) => cr_phase(&obj),
                Ok(None) => CrPhase::Failed(format!("{}/{name} is gone", kind.name())),
                Err(e) => CrPhase::Failed(e.to_string()),
            };
            let key = format!("{}/{name}", l.experiment.id);
            let changed = lock(&chaos.phases).insert(key, phase.clone()) != Some(phase.clone());
            if changed && phase != CrPhase::Pending {
                let level = match phase {
                    CrPhase::Failed(_) => Level::Error,
                    _ => Level::Info,
                };
                let text = format!(
                    "chaos {}: {}/{name} {}",
                    l.experiment.id,
                    kind.name(),
                    phase.label()
                );
                log(shared, &l.experiment.env, level, text);
            }
        }
    }
}

/// The sample of an environment: the apiserver gives no request figures,
/// only whether fewer pods are ready than desired (the FMEA suite reads
/// requests from Prometheus, when one is configured).
fn sample(shared: &Shared, env: &str) -> Option<Sample> {
    let st = shared.state();
    let status = st.sent.get(env)?;
    let (ready, desired) = status.ready_desired();
    Some(Sample {
        error_rate: 0.0,
        p99_ms: 0.0,
        errors: 0,
        instances_short: ready < desired,
        requests_measured: false,
    })
}

/// Ends faults at their time, follows their resources and feeds the
/// experiments; stops when the runtime is dropped.
pub async fn run_ticker(weak: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let Some(shared) = weak.upgrade() else { return };
        let Some(chaos) = shared.chaos.as_ref() else {
            return;
        };
        let mut runner = chaos.runner.lock().await;
        let cluster = shared.label();
        let due = runner.due(steady_ms());
        // A fault of another cluster (after :ctx) waits for its own; Chaos
        // Mesh ends it at its duration meanwhile.
        let here = due
            .into_iter()
            .filter(|id| runner.get(id).is_some_and(|l| l.record.scope == cluster));
        for id in here.collect::<Vec<_>>() {
            let env = runner
                .get(&id)
                .map(|l| l.experiment.env.clone())
                .unwrap_or_default();
            if let Ok(mut a) = applier(&shared, chaos, Some(&env)) {
                let _ = remove(&shared, &mut runner, &mut a, &id, &env).await;
            }
        }
        if n % STATUS_EVERY == 0 {
            follow_status(&shared, chaos, &runner).await;
            let slo = chaos.settings.slo.clone();
            let changed = runner.observe(steady_ms(), &slo, |l| sample(&shared, &l.experiment.env));
            let events: Vec<RuntimeEvent> = changed
                .into_iter()
                .map(|experiment| RuntimeEvent::Experiment { experiment })
                .collect();
            shared.publish(events);
        }
    }
}
