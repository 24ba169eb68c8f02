//! Chaos experiments: journal the fault, apply it, remove it when its time is
//! up (or on undo), then watch the environment until it has recovered.

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::core::Engine;
use super::metrics::env_wide;
use crate::domain::chaos::{Experiment, ExperimentState, FaultParams, ScenarioKind};
use crate::domain::environment::{ActiveFault, InstancePhase};
use crate::domain::logs::Level;
use crate::runtime::{Actor, RuntimeError};
use crate::sandbox::journal::{FaultRecord, ProcessRef};
use crate::sandbox::router::{RouterFault, WindowStats};
use crate::sandbox::supervisor::{configure_child, now_ms, signal_group};

/// What a cpu-stress worker runs (also how a leftover worker is recognised).
pub(super) const STRESS_SCRIPT: &str = "while :; do :; done";
const MAX_CPU_WORKERS: u32 = 8;

pub(super) struct LiveFault {
    pub experiment: Experiment,
    pub env_index: usize,
    pub router_fault: Option<RouterFault>,
    pub stress: Vec<(Child, u32)>,
}

fn validate_params(scenario: ScenarioKind, p: &FaultParams) -> Result<(), RuntimeError> {
    if ScenarioKind::DOCKER_ONLY.contains(&scenario) {
        return Err(RuntimeError::Refused(format!(
            "{scenario} needs the docker runtime"
        )));
    }
    crate::domain::chaos::check_params(scenario, p, MAX_CPU_WORKERS).map_err(RuntimeError::Refused)
}

fn spawn_stress_worker() -> std::io::Result<(Child, u32)> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(STRESS_SCRIPT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    configure_child(&mut cmd);
    let child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("stress worker exited at once"))?;
    Ok((child, pid))
}

/// Merge every router fault active in an environment into one.
fn merge_faults<'a>(faults: impl Iterator<Item = &'a RouterFault>) -> Option<RouterFault> {
    faults.fold(None, |acc: Option<RouterFault>, f| {
        let a = acc.unwrap_or_default();
        Some(RouterFault {
            latency_ms: a.latency_ms.max(f.latency_ms),
            error_rate: a.error_rate.max(f.error_rate),
            drop_rate: a.drop_rate.max(f.drop_rate),
        })
    })
}

impl Engine {
    pub(super) fn active_faults(&self, i: usize) -> Vec<ActiveFault> {
        self.live
            .values()
            .filter(|f| f.env_index == i && f.experiment.state == ExperimentState::Running)
            .map(|f| ActiveFault {
                id: f.experiment.id.clone(),
                scenario: f.experiment.scenario.name().to_string(),
                ends_at: f.experiment.ends_at,
            })
            .collect()
    }

    pub(super) fn stress_pids(&self, i: usize) -> Vec<u32> {
        self.live
            .values()
            .filter(|f| f.env_index == i)
            .flat_map(|f| f.stress.iter().map(|(_, pid)| *pid))
            .collect()
    }

    fn apply_router_faults(&self, i: usize) {
        let merged = merge_faults(
            self.live
                .values()
                .filter(|f| f.env_index == i)
                .filter_map(|f| f.router_fault.as_ref()),
        );
        self.envs[i].router.set_fault(merged);
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
        validate_params(scenario, &params)?;
        if let Some(f) = self.live.values().find(|f| {
            f.env_index == i
                && f.experiment.scenario == scenario
                && f.experiment.state == ExperimentState::Running
        }) {
            return Err(RuntimeError::Refused(format!(
                "{scenario} is already running in {env} ({})",
                f.experiment.id
            )));
        }
        // Pick the victim before anything is written down.
        let victim = if scenario == ScenarioKind::PodKill {
            let e = &self.envs[i];
            let pick = e
                .instances
                .iter()
                .filter(|(_, x)| x.status.phase == InstancePhase::Ready)
                .filter_map(|(t, x)| {
                    x.status
                        .pid()
                        .map(|p| (*t, p, x.status.id.clone(), x.status.version.clone()))
                })
                // Prefer the stable version: that is what users see.
                .max_by_key(|(_, _, _, v)| Some(v) == e.stable.as_ref());
            Some(pick.ok_or_else(|| {
                RuntimeError::Refused(format!("{env} has no ready instance to kill"))
            })?)
        } else {
            None
        };
        let id = format!("{}-{}", scenario.name(), self.next_experiment);
        self.next_experiment += 1;
        let now = now_ms();
        let mut live = LiveFault {
            experiment: Experiment::new(id.clone(), env, scenario, params.clone(), now),
            env_index: i,
            router_fault: None,
            stress: Vec::new(),
        };
        // Journal first: a crash after applying must leave a trace.
        self.journal.faults.push(FaultRecord {
            id: id.clone(),
            env: env.to_string(),
            scenario,
            params: params.clone(),
            started_at: now,
            owner: self.me.clone(),
            processes: Vec::new(),
        });
        if let Err(e) = self.save_journal().await {
            self.journal.faults.retain(|r| r.id != id);
            return Err(RuntimeError::Failed(format!("fault not applied: {e}")));
        }
        match scenario {
            ScenarioKind::PodKill => {
                if let Some((token, pid, name, version)) = victim {
                    signal_group(pid, libc::SIGKILL);
                    // Out of rotation now, not when the supervisor notices.
                    if let Some(x) = self.envs[i].instances.get_mut(&token) {
                        x.status.phase = InstancePhase::BackingOff {
                            exit_code: None,
                            restart_at: now + 1000,
                        };
                    }
                    self.push_backends(i, &version);
                    self.log(
                        Level::Warn,
                        env,
                        format!("chaos {id}: killed instance {name} (pid {pid})"),
                    );
                }
                // The kill is instant; what follows is recovery.
                live.experiment.fault_removed(now_ms());
                self.journal.faults.retain(|r| r.id != id);
                self.save_journal_or_log().await;
            }
            ScenarioKind::NetworkLatency => {
                live.router_fault = Some(RouterFault {
                    latency_ms: params.latency_ms,
                    ..Default::default()
                });
            }
            ScenarioKind::ErrorInjection => {
                live.router_fault = Some(RouterFault {
                    error_rate: params.rate,
                    ..Default::default()
                });
            }
            ScenarioKind::ConnectionDrop => {
                live.router_fault = Some(RouterFault {
                    drop_rate: params.rate,
                    ..Default::default()
                });
            }
            ScenarioKind::CpuStress => {
                for _ in 0..params.cpu_workers {
                    match spawn_stress_worker() {
                        Ok(w) => live.stress.push(w),
                        Err(e) => {
                            for (mut c, pid) in live.stress.drain(..) {
                                signal_group(pid, libc::SIGKILL);
                                let _ = c.kill().await;
                            }
                            self.journal.faults.retain(|r| r.id != id);
                            self.save_journal_or_log().await;
                            return Err(RuntimeError::Failed(format!(
                                "cannot start a stress worker: {e}"
                            )));
                        }
                    }
                }
                let refs: Vec<ProcessRef> = live
                    .stress
                    .iter()
                    .map(|(_, pid)| ProcessRef::of_pid(*pid))
                    .collect();
                if let Some(r) = self.journal.faults.iter_mut().find(|r| r.id == id) {
                    r.processes = refs;
                }
                // Workers die with us anyway (PDEATHSIG); a failed write is only logged.
                self.save_journal_or_log().await;
            }
            ScenarioKind::NetworkPartition
            | ScenarioKind::PacketLoss
            | ScenarioKind::MemoryPressure
            | ScenarioKind::KafkaDown
            | ScenarioKind::DbDown => {
                // Refused by validate_params; never leave a journal entry behind.
                self.journal.faults.retain(|r| r.id != id);
                self.save_journal_or_log().await;
                return Err(RuntimeError::Refused(format!(
                    "{scenario} needs the docker runtime"
                )));
            }
        }
        if scenario != ScenarioKind::PodKill {
            self.log(
                Level::Warn,
                env,
                format!(
                    "chaos {id}: {scenario} applied for {}s",
                    params.duration_secs
                ),
            );
        }
        let exp = live.experiment.clone();
        self.live.insert(id, live);
        self.apply_router_faults(i);
        self.refresh_pids(i);
        self.touch(i);
        self.upsert_experiment(exp.clone());
        Ok(exp)
    }

    async fn save_journal_or_log(&mut self) {
        if let Err(e) = self.save_journal().await {
            self.log(Level::Error, "sandbox", e.to_string());
        }
    }

    /// Remove a running fault: router fault off, stress workers killed, journal entry gone.
    async fn end_fault(&mut self, id: &str) {
        let now = now_ms();
        let Some(f) = self.live.get_mut(id) else {
            return;
        };
        if f.experiment.state != ExperimentState::Running {
            return;
        }
        f.router_fault = None;
        let workers = std::mem::take(&mut f.stress);
        f.experiment.fault_removed(now);
        let i = f.env_index;
        let exp = f.experiment.clone();
        for (mut child, pid) in workers {
            signal_group(pid, libc::SIGKILL);
            // Reap in the background; shutdown waits for the reapers.
            self.stopping.push(tokio::spawn(async move {
                let _ = child.wait().await;
            }));
        }
        self.apply_router_faults(i);
        self.refresh_pids(i);
        self.journal.faults.retain(|r| r.id != id);
        self.save_journal_or_log().await;
        let env = exp.env.clone();
        self.log(
            Level::Info,
            &env,
            format!("chaos {id}: fault removed, watching recovery"),
        );
        self.touch(i);
        self.upsert_experiment(exp);
    }

    /// Faults whose time is up are removed (called every second).
    pub(super) async fn expire_faults(&mut self) {
        let now = now_ms();
        let due: Vec<String> = self
            .live
            .values()
            .filter(|f| {
                f.experiment.state == ExperimentState::Running && f.experiment.ends_at <= now
            })
            .map(|f| f.experiment.id.clone())
            .collect();
        for id in due {
            self.end_fault(&id).await;
        }
    }

    /// Feed one second of environment-wide numbers to its experiments.
    pub(super) fn on_window(&mut self, env: &str, windows: &BTreeMap<String, WindowStats>) {
        let Some(i) = self.env_index(env) else {
            return;
        };
        if !self.live.values().any(|f| f.env_index == i) {
            return;
        }
        let (rate, p99, errors) = env_wide(windows);
        let (ready, desired) = self.envs[i].ready_desired();
        let short = ready < desired;
        let now = now_ms();
        let slo = self.cfg.chaos.slo.clone();
        let mut changed = Vec::new();
        for f in self.live.values_mut().filter(|f| f.env_index == i) {
            let before = f.experiment.clone();
            f.experiment.observe(now, rate, p99, errors, short, &slo);
            if f.experiment != before {
                changed.push(f.experiment.clone());
            }
        }
        for exp in changed {
            if exp.state == ExperimentState::Completed {
                self.live.remove(&exp.id);
                let result = exp.result.map(|r| r.label()).unwrap_or("-");
                let text = format!(
                    "chaos {}: completed, {result} ({})",
                    exp.id,
                    exp.impact_summary()
                );
                self.log(Level::Info, env, text);
            }
            self.upsert_experiment(exp);
        }
    }

    pub(super) async fn undo(&mut self, _actor: &Actor, id: &str) -> Result<(), RuntimeError> {
        self.try_undo(id).await
    }

    async fn try_undo(&mut self, id: &str) -> Result<(), RuntimeError> {
        match self.live.get(id) {
            Some(f) if f.experiment.state == ExperimentState::Running => {
                self.end_fault(id).await;
                Ok(())
            }
            Some(_) => Err(RuntimeError::Refused(format!(
                "the fault of {id} was already removed"
            ))),
            None if self.experiments.iter().any(|x| x.id == id) => Err(RuntimeError::Refused(
                format!("experiment {id} has already ended"),
            )),
            None => Err(RuntimeError::NotFound(format!("experiment {id}"))),
        }
    }

    /// Shutdown: remove every fault and mark unfinished experiments aborted.
    pub(super) async fn end_all_faults(&mut self) {
        let ids: Vec<String> = self.live.keys().cloned().collect();
        for id in &ids {
            self.end_fault(id).await;
        }
        for (_, mut f) in std::mem::take(&mut self.live) {
            if f.experiment.state != ExperimentState::Completed {
                f.experiment.state = ExperimentState::Aborted;
            }
            self.upsert_experiment(f.experiment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_per_scenario() {
        let ok = FaultParams::default();
        for s in ScenarioKind::ALL {
            assert!(validate_params(s, &ok).is_ok(), "{s}");
        }
        let zero_rate = FaultParams {
            rate: 0.0,
            ..ok.clone()
        };
        assert!(validate_params(ScenarioKind::ErrorInjection, &zero_rate).is_err());
        assert!(validate_params(ScenarioKind::NetworkLatency, &zero_rate).is_ok());
        let many = FaultParams {
            cpu_workers: 64,
            ..ok.clone()
        };
        assert!(validate_params(ScenarioKind::CpuStress, &many).is_err());
        let forever = FaultParams {
            duration_secs: 0,
            ..ok.clone()
        };
        assert!(validate_params(ScenarioKind::ConnectionDrop, &forever).is_err());
        // A pod kill is instant; its duration does not matter.
        assert!(validate_params(ScenarioKind::PodKill, &forever).is_ok());
    }

    #[test]
    fn router_faults_merge_to_the_worst_of_each() {
        let a = RouterFault {
            latency_ms: 300,
            ..Default::default()
        };
        let b = RouterFault {
            error_rate: 0.5,
            latency_ms: 100,
            ..Default::default()
        };
        let m = merge_faults([a, b].iter()).unwrap();
        assert_eq!(m.latency_ms, 300);
        assert_eq!(m.error_rate, 0.5);
        assert_eq!(m.drop_rate, 0.0);
        assert_eq!(merge_faults(std::iter::empty()), None);
    }

    #[tokio::test]
    async fn stress_worker_burns_cpu_in_its_own_group() {
        let (mut child, pid) = spawn_stress_worker().unwrap();
        let cmd = crate::sandbox::journal::process_cmdline(pid).unwrap();
        assert_eq!(cmd.last().map(String::as_str), Some(STRESS_SCRIPT));
        // Own process group, so a group kill cannot reach us.
        // SAFETY: getpgid on a child pid.
        assert_eq!(unsafe { libc::getpgid(pid as i32) }, pid as i32);
        signal_group(pid, libc::SIGKILL);
        let status = child.wait().await.unwrap();
        assert!(!status.success());
    }
}
