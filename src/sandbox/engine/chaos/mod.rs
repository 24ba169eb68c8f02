//! Chaos experiments in the sandbox, run by the fault engine
//! (`crate::faults`) with the sandbox applier: the engine task asks the
//! runner to journal and apply a fault, removes it when its time is up (or
//! on undo), and feeds the experiment one sample a second until it has a
//! verdict.

mod applier;
mod dependency;
mod memory;
mod network;

use std::collections::BTreeMap;

use super::core::Engine;
use super::metrics::env_wide;
use crate::clock::steady_ms;
use crate::domain::chaos::{Experiment, ExperimentState, FaultParams, ScenarioKind};
use crate::domain::environment::{ActiveFault, InstancePhase, Version};
use crate::domain::logs::Level;
use crate::faults::{FaultRunner, Journal, Sample};
use crate::paths::StatePaths;
use crate::runtime::{Actor, RuntimeError, Support};
use crate::sandbox::fault_steps::SandboxUndo;
use crate::sandbox::router::WindowStats;
use crate::sandbox::supervisor::now_ms;
use crate::sandbox::SandboxError;
use applier::{SandboxApplier, SandboxHandle};

/// The sandbox's experiments and its fault journal.
pub(super) type SandboxFaults = FaultRunner<SandboxUndo, SandboxHandle>;

/// The runner over the state directory's fault journal.
pub(super) fn open_faults(state: &StatePaths) -> SandboxFaults {
    FaultRunner::new(Journal::at(state.fault_journal()))
}

/// The scenarios the sandbox supports, for `Capabilities::scenarios`.
pub fn scenario_support() -> BTreeMap<String, Support> {
    crate::faults::scenario_support::<SandboxApplier>()
}

fn journal_error(e: crate::faults::JournalError) -> SandboxError {
    SandboxError::Journal {
        path: e.path,
        message: e.message,
    }
}

/// Undo the faults a crashed sandbox left (stress workers still running);
/// one line per fault. A journal with faults of a sandbox that is still
/// running is refused with `StateInUse`.
pub(super) async fn reconcile_at_start(state: &StatePaths) -> Result<Vec<String>, SandboxError> {
    std::fs::create_dir_all(&state.dir).map_err(|e| {
        SandboxError::io(
            format!("cannot create state directory {}", state.dir.display()),
            e,
        )
    })?;
    let journal: Journal<SandboxUndo> = Journal::at(state.fault_journal());
    if let Some(pid) = crate::faults::live_owner(&journal, None).map_err(journal_error)? {
        return Err(SandboxError::StateInUse {
            dir: state.dir.clone(),
            pid,
        });
    }
    let done = crate::faults::reconcile(&mut SandboxApplier::default(), &journal, None)
        .await
        .map_err(journal_error)?;
    Ok(done.iter().map(|r| r.describe()).collect())
}

impl Engine {
    pub(super) fn active_faults(&self, i: usize) -> Vec<ActiveFault> {
        self.faults.active(Some(&self.envs[i].name))
    }

    pub(super) fn stress_pids(&self, i: usize) -> Vec<u32> {
        let env = &self.envs[i].name;
        self.faults
            .faults()
            .filter(|f| *f.record.scope == **env)
            .filter_map(|f| f.handle.as_ref())
            .flat_map(|h| h.stress.iter().map(|(_, pid)| *pid))
            .collect()
    }

    /// An applier for environment `i`, combining with every router fault in
    /// force there except the one of `except`.
    fn applier(&self, i: usize, except: Option<&str>) -> SandboxApplier {
        let env = &self.envs[i].name;
        let others = || {
            self.faults
                .faults()
                .filter(|f| {
                    f.applied && *f.record.scope == **env && Some(f.record.id.as_str()) != except
                })
                .filter_map(|f| f.handle.as_ref())
        };
        let looked_for = crate::sandbox::dependencies::looked_for(&self.cfg.service)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        SandboxApplier {
            router: Some(self.envs[i].router.clone()),
            other_router_faults: others().filter_map(|h| h.router_fault.clone()).collect(),
            dependencies: Some((self.envs[i].deps.clone(), looked_for)),
            other_proxy_faults: others().filter_map(|h| h.proxy_fault.clone()).collect(),
            ..SandboxApplier::default()
        }
    }

    /// The ready instance a pod-kill hits: (token, pid, name, version),
    /// preferring the stable version (what users see).
    fn pod_kill_victim(&self, i: usize) -> Option<(u64, u32, String, Version)> {
        let e = &self.envs[i];
        e.instances
            .iter()
            .filter(|(_, x)| x.status.phase == InstancePhase::Ready)
            .filter_map(|(t, x)| {
                let v = x.status.version.clone();
                x.status.pid().map(|p| (*t, p, x.status.id.clone(), v))
            })
            .max_by_key(|(_, _, _, v)| Some(v) == e.stable.as_ref())
    }

    pub(super) async fn inject(
        &mut self,
        _actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        self.try_inject(env, scenario, params).await
    }

    async fn try_inject(
        &mut self,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        let i = self
            .env_index(env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))?;
        let victim = (scenario == ScenarioKind::PodKill)
            .then(|| self.pod_kill_victim(i))
            .flatten();
        let mut applier = self.applier(i, None);
        if matches!(
            scenario,
            ScenarioKind::DnsFailure | ScenarioKind::MemoryPressure
        ) {
            applier.instances = self.envs[i]
                .instances
                .values()
                .filter_map(|x| x.status.pid().map(|p| (p, x.status.id.clone())))
                .collect();
        }
        applier.victim = victim
            .as_ref()
            .map(|(_, pid, name, _)| (*pid, name.clone()));
        let r = self
            .faults
            .inject(&mut applier, (env, env), scenario, params, steady_ms())
            .await;
        self.stopping.append(&mut applier.reapers);
        let injected = r.inspect_err(|e| {
            if matches!(e, RuntimeError::Failed(_)) {
                self.log(Level::Error, env, format!("chaos {scenario}: {e}"));
            }
        })?;
        if let Some((token, _, _, version)) = victim {
            // Out of rotation now, not when the supervisor notices.
            if let Some(x) = self.envs[i].instances.get_mut(&token) {
                x.status.phase = InstancePhase::BackingOff {
                    exit_code: None,
                    restart_at: now_ms() + 1000,
                };
            }
            self.push_backends(i, &version);
        }
        let x = injected.experiment;
        self.log(
            Level::Warn,
            env,
            format!("chaos {}: {}", x.id, injected.what),
        );
        self.refresh_pids(i);
        self.touch(i);
        self.upsert_experiment(x.clone());
        Ok(x)
    }

    /// Remove an applied fault; the experiment goes on watching recovery.
    async fn end_fault(&mut self, id: &str) {
        let Some(f) = self.faults.get(id) else {
            return;
        };
        let env = f.record.scope.clone();
        let Some(i) = self.env_index(&env) else {
            return;
        };
        let mut applier = self.applier(i, Some(id));
        let r = self.faults.remove(&mut applier, id, steady_ms()).await;
        self.stopping.append(&mut applier.reapers);
        match r {
            Ok(done) => {
                let text = match done.is_empty() {
                    true => format!("chaos {id}: fault removed, watching recovery"),
                    false => format!(
                        "chaos {id}: fault removed ({}), watching recovery",
                        done.join("; ")
                    ),
                };
                self.log(Level::Info, &env, text);
            }
            Err(e) => self.log(Level::Error, &env, format!("chaos {id}: {e}")),
        }
        if let Some(f) = self.faults.get(id) {
            let x = f.experiment.clone();
            self.upsert_experiment(x);
        }
        self.refresh_pids(i);
        self.touch(i);
    }

    /// Faults whose time is up are removed (called every second).
    pub(super) async fn expire_faults(&mut self) {
        for id in self.faults.due(steady_ms()) {
            self.end_fault(&id).await;
        }
    }

    /// Feed one second of environment-wide numbers to its experiments.
    pub(super) fn on_window(&mut self, env: &str, windows: &BTreeMap<String, WindowStats>) {
        let Some(i) = self.env_index(env) else {
            return;
        };
        if !self.faults.unfinished(env) {
            return;
        }
        let (error_rate, p99_ms, errors) = env_wide(windows);
        let (ready, desired) = self.envs[i].ready_desired();
        let sample = Sample {
            error_rate,
            p99_ms,
            errors,
            instances_short: ready < desired,
            requests_measured: true,
        };
        let slo = self.cfg.chaos.slo.clone();
        let changed = self.faults.observe(steady_ms(), &slo, |f| {
            (f.record.scope == env).then_some(sample)
        });
        for x in changed {
            if x.state == ExperimentState::Completed {
                let result = x.result.map(|r| r.label()).unwrap_or("-");
                let text = format!(
                    "chaos {}: completed, {result} ({})",
                    x.id,
                    x.impact_summary()
                );
                self.log(Level::Info, env, text);
            }
            self.upsert_experiment(x);
        }
    }

    pub(super) async fn undo(&mut self, _actor: &Actor, id: &str) -> Result<(), RuntimeError> {
        self.try_undo(id).await
    }

    async fn try_undo(&mut self, id: &str) -> Result<(), RuntimeError> {
        let live = self
            .faults
            .get(id)
            .map(|f| (f.applied, f.experiment.state.clone()));
        match live {
            Some((true, _)) => {
                self.end_fault(id).await;
                Ok(())
            }
            Some((false, ExperimentState::Recovering)) => Err(RuntimeError::Refused(format!(
                "the fault of {id} was already removed"
            ))),
            Some(_) => Err(RuntimeError::Refused(format!(
                "experiment {id} has already ended"
            ))),
            None if self.experiments.iter().any(|x| x.id == id) => Err(RuntimeError::Refused(
                format!("experiment {id} has already ended"),
            )),
            None => Err(RuntimeError::NotFound(format!("experiment {id}"))),
        }
    }

    /// Shutdown: remove every fault and mark unfinished experiments aborted.
    pub(super) async fn end_all_faults(&mut self) {
        for id in self.faults.applied_ids() {
            self.end_fault(&id).await;
        }
        for x in self.faults.abort_unfinished() {
            self.upsert_experiment(x);
        }
    }
}
