//! The sandbox backend of the fault engine: faults at an environment's edge
//! router, at the fault proxies in front of its dependencies, CPU burners
//! memory holders in a memory cgroup with its instances, and killed instances.

use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::dependency::{apply_faults, chosen, proxy_fault_of, ProxyTarget};
use super::memory::{apply_memory, release_memory};
use super::network::partitioned_vars;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::fault_proxy::dns::ServfailResponder;
use crate::fault_proxy::ProxyFault;
use crate::faults::{
    kill_marked, new_marker, Applied, FaultApplier, FaultRecord, Journal, Prepared, ProcessRef,
    UndoResult,
};
use crate::runtime::{RuntimeError, Support};
use crate::sandbox::cgroup;
use crate::sandbox::dependencies::Dependencies;
use crate::sandbox::fault_steps::{remove_resolv_file, undo_leftover_steps, SandboxUndo};
use crate::sandbox::resolv;
use crate::sandbox::router::{RouterFault, RouterHandle};
use crate::sandbox::supervisor::{configure_child, signal_group};

/// What a cpu-stress worker runs (also how a leftover worker is recognised).
pub(crate) const STRESS_SCRIPT: &str = "while :; do :; done";

/// Live resources of an applied sandbox fault.
#[derive(Default)]
pub(crate) struct SandboxHandle {
    pub router_fault: Option<RouterFault>,
    pub proxy_fault: Option<ProxyTarget>,
    pub stress: Vec<(Child, u32)>,
    /// dns-failure's SERVFAIL responder.
    pub dns: Option<ServfailResponder>,
    /// memory-pressure's cgroup, limit and raised OOM scores.
    pub memory: Option<super::memory::MemoryHold>,
}

/// Applies faults to one environment. Built for each operation with what
/// the engine knows right then: the router, the other router faults in
/// force there (faults combine), and the instance a pod-kill will hit.
#[derive(Default)]
pub(crate) struct SandboxApplier {
    pub router: Option<RouterHandle>,
    pub other_router_faults: Vec<RouterFault>,
    /// The environment's dependency proxies, and the variables looked at.
    pub dependencies: Option<(Arc<Dependencies>, Vec<String>)>,
    /// The other proxy faults in force there.
    pub other_proxy_faults: Vec<ProxyTarget>,
    /// (pid, instance name) of the pod-kill victim.
    pub victim: Option<(u32, String)>,
    /// (pid, instance name) of every running instance, for dns-failure and
    /// memory-pressure.
    pub instances: Vec<(u32, String)>,
    /// dns-failure's responder, bound while preparing so that a missing
    /// privilege refuses the fault before anything is journalled.
    pub(super) pending_dns: Option<ServfailResponder>,
    /// Reapers of killed workers, for the engine to await at shutdown.
    pub reapers: Vec<JoinHandle<()>>,
}

/// Merge router faults into one: the worst of each.
pub(crate) fn merge_faults<'a>(
    faults: impl Iterator<Item = &'a RouterFault>,
) -> Option<RouterFault> {
    faults.fold(None, |acc: Option<RouterFault>, f| {
        let a = acc.unwrap_or_default();
        Some(RouterFault {
            latency_ms: a.latency_ms.max(f.latency_ms),
            error_rate: a.error_rate.max(f.error_rate),
            drop_rate: a.drop_rate.max(f.drop_rate),
        })
    })
}

/// A busy loop in its own process group, `marker` on its command line.
pub(crate) fn spawn_stress_worker(marker: &str) -> std::io::Result<(Child, u32)> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(STRESS_SCRIPT)
        .arg(marker)
        .stdin(Stdio::null());
    spawn_fault_process(cmd, "stress worker")
}

/// Start a process a fault runs: its own process group (a group kill cannot
/// reach an instance), no output, gone with us (`configure_child`).
pub(crate) fn spawn_fault_process(mut cmd: Command, what: &str) -> std::io::Result<(Child, u32)> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    configure_child(&mut cmd);
    let child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other(format!("the {what} exited at once")))?;
    Ok((child, pid))
}

fn router_fault_of(scenario: ScenarioKind, p: &FaultParams) -> Option<RouterFault> {
    let base = RouterFault::default();
    match scenario {
        ScenarioKind::NetworkLatency => Some(RouterFault {
            latency_ms: p.latency_ms,
            ..base
        }),
        ScenarioKind::ErrorInjection => Some(RouterFault {
            error_rate: p.rate,
            ..base
        }),
        ScenarioKind::ConnectionDrop => Some(RouterFault {
            drop_rate: p.rate,
            ..base
        }),
        _ => None,
    }
}

impl SandboxApplier {
    fn set_router(&self, extra: Option<&RouterFault>) {
        if let Some(r) = &self.router {
            r.set_fault(merge_faults(self.other_router_faults.iter().chain(extra)));
        }
    }

    fn set_proxies(&self, extra: Option<&ProxyTarget>) {
        if let Some((deps, _)) = &self.dependencies {
            apply_faults(deps, self.other_proxy_faults.iter().chain(extra));
        }
    }

    fn kill_workers(&mut self, workers: Vec<(Child, u32)>) {
        for (mut child, pid) in workers {
            signal_group(pid, libc::SIGKILL);
            self.reapers.push(tokio::spawn(async move {
                let _ = child.wait().await;
            }));
        }
    }

    async fn start_stress(
        &mut self,
        record: &mut FaultRecord<SandboxUndo>,
        journal: &Journal<SandboxUndo>,
    ) -> Result<SandboxHandle, String> {
        let marker = marker_of(record)?;
        let mut handle = SandboxHandle::default();
        for _ in 0..record.params.cpu_workers {
            match spawn_stress_worker(&marker) {
                Ok(w) => handle.stress.push(w),
                Err(e) => {
                    self.kill_workers(std::mem::take(&mut handle.stress));
                    return Err(format!("cannot start a stress worker: {e}"));
                }
            }
        }
        // Their exact identity too; the marker alone already finds them.
        let processes = handle
            .stress
            .iter()
            .map(|(_, pid)| ProcessRef::of_pid(*pid))
            .collect();
        record.undo.push(SandboxUndo::KillProcesses { processes });
        journal.replace(record).map_err(|e| e.to_string())?;
        Ok(handle)
    }
}

/// The marker the fault's processes carry on their command lines.
pub(super) fn marker_of(record: &FaultRecord<SandboxUndo>) -> Result<String, String> {
    record
        .undo
        .iter()
        .find_map(|s| match s {
            SandboxUndo::KillMarked { marker } => Some(marker.clone()),
            _ => None,
        })
        .ok_or_else(|| format!("internal: the {} fault has no marker", record.scenario))
}

/// Why the sandbox refuses packet-loss.
const PACKET_LOSS_REFUSAL: &str = "packet-loss needs the docker runtime (`runtime: docker`): the sandbox's instances share the host's network namespace, where no packets of theirs alone can be dropped (network-partition it does at the edges it owns: the router and the dependency proxies)";

/// What network-partition losing `share` of the traffic does to the
/// dependency proxies: a whole cut hangs them, a partial one holds back
/// that share of what they relay, as lost packets would.
fn partition_fault(share: f64) -> ProxyFault {
    match share >= 1.0 {
        true => ProxyFault {
            hang: true,
            ..ProxyFault::default()
        },
        false => ProxyFault {
            loss_rate: share,
            ..ProxyFault::default()
        },
    }
}

/// The proxy fault of `record`, on the dependencies it was prepared for.
fn proxy_target(record: &FaultRecord<SandboxUndo>, p: &FaultParams) -> Result<ProxyTarget, String> {
    let vars = record
        .undo
        .iter()
        .find_map(|s| match s {
            SandboxUndo::ClearProxyFault { vars } => Some(vars.clone()),
            _ => None,
        })
        .ok_or("internal: the proxy fault has no dependencies")?;
    let fault = proxy_fault_of(record.scenario, p).ok_or("internal: not a proxy fault")?;
    Ok(ProxyTarget { vars, fault })
}

/// One line for the log: what the proxies now do.
fn proxy_what(s: ScenarioKind, targets: &[String], p: &FaultParams) -> String {
    let on = targets.join(", ");
    let secs = p.duration_secs;
    match s {
        ScenarioKind::DbLatency => format!("{}ms added to every exchange with {on} for {secs}s", p.latency_ms),
        // A Kafka client learns the brokers' advertised addresses from the
        // bootstrap server and connects to those itself.
        ScenarioKind::KafkaDown => format!("connections to {on} reset for {secs}s (clients already talking to a broker's advertised address reach it directly)"),
        ScenarioKind::DbDown => format!("connections to {on} reset for {secs}s"),
        _ => format!("{on} accepts connections and never answers for {secs}s"),
    }
}

#[async_trait]
impl FaultApplier for SandboxApplier {
    type Undo = SandboxUndo;
    type Handle = SandboxHandle;
    const BACKEND: &'static str = "sandbox";
    const MAX_CPU_WORKERS: u32 = 8;

    fn support(kind: ScenarioKind) -> Support {
        match kind {
            ScenarioKind::PacketLoss => Support::No(PACKET_LOSS_REFUSAL.to_string()),
            _ => Support::Yes,
        }
    }

    async fn prepare(
        &mut self,
        scope: &str,
        id: &str,
        scenario: ScenarioKind,
        params: &FaultParams,
    ) -> Result<Prepared<SandboxUndo>, RuntimeError> {
        if proxy_fault_of(scenario, params).is_some() {
            let (deps, looked_for) = self
                .dependencies
                .as_ref()
                .ok_or_else(|| RuntimeError::Failed("internal: no dependency proxies".into()))?;
            let picked = chosen(deps, looked_for, scenario, &params.target)?;
            let vars: Vec<String> = picked.iter().map(|d| d.var.clone()).collect();
            return Ok(Prepared {
                targets: picked.iter().map(|d| d.display()).collect(),
                undo: vec![SandboxUndo::ClearProxyFault { vars }],
            });
        }
        let (targets, undo) = match scenario {
            ScenarioKind::DnsFailure => {
                self.check_dns(scope).await?;
                let names = self.instances.iter().map(|(_, n)| n.clone()).collect();
                // The undo step is journalled by `apply`, once the file is named.
                (names, Vec::new())
            }
            ScenarioKind::NetworkPartition => self.partition_scope(scope),
            ScenarioKind::PodKill => {
                let (_, name) = self.victim.clone().ok_or_else(|| {
                    RuntimeError::Refused(format!("{scope} has no ready instance to kill"))
                })?;
                (vec![name], Vec::new())
            }
            ScenarioKind::CpuStress => (
                vec![scope.to_string()],
                vec![SandboxUndo::KillMarked {
                    marker: new_marker(scope, id),
                }],
            ),
            ScenarioKind::MemoryPressure => {
                let (first, _) = self.instances.first().ok_or_else(|| {
                    RuntimeError::Refused(format!(
                        "{scope} has no running instance to put under a memory limit"
                    ))
                })?;
                let marker = new_marker(scope, id);
                let cgroup = cgroup::plan(*first, &marker).map_err(RuntimeError::Refused)?;
                let names = self.instances.iter().map(|(_, n)| n.clone()).collect();
                // The holder dies before its cgroup can be removed.
                let undo = vec![
                    SandboxUndo::KillMarked { marker },
                    SandboxUndo::ReleaseCgroup { cgroup },
                ];
                (names, undo)
            }
            _ => (vec![scope.to_string()], vec![SandboxUndo::ClearRouterFault]),
        };
        Ok(Prepared { targets, undo })
    }

    async fn apply(
        &mut self,
        record: &mut FaultRecord<SandboxUndo>,
        journal: &Journal<SandboxUndo>,
    ) -> Result<Applied<SandboxHandle>, String> {
        let p = record.params.clone();
        match record.scenario {
            ScenarioKind::PodKill => {
                let (pid, name) = self.victim.clone().ok_or("internal: no victim chosen")?;
                signal_group(pid, libc::SIGKILL);
                Ok(Applied {
                    what: format!("killed instance {name} (pid {pid})"),
                    handle: None,
                })
            }
            ScenarioKind::CpuStress => {
                let handle = self.start_stress(record, journal).await?;
                Ok(Applied {
                    what: format!(
                        "{} stress worker(s) for {}s",
                        p.cpu_workers, p.duration_secs
                    ),
                    handle: Some(handle),
                })
            }
            ScenarioKind::MemoryPressure => {
                let (handle, what) = apply_memory(record, journal, &self.instances)?;
                Ok(Applied {
                    what,
                    handle: Some(handle),
                })
            }
            ScenarioKind::DnsFailure => self.apply_dns(record, journal).await,
            ScenarioKind::NetworkPartition => {
                let share = p.rate.clamp(0.0, 1.0);
                let router = RouterFault {
                    drop_rate: share,
                    ..RouterFault::default()
                };
                self.set_router(Some(&router));
                let proxied = partitioned_vars(record);
                let target = (!proxied.is_empty()).then(|| ProxyTarget {
                    vars: proxied.clone(),
                    fault: partition_fault(share),
                });
                self.set_proxies(target.as_ref());
                let pct = share * 100.0;
                let (requests, deps) = match (share >= 1.0, proxied.is_empty()) {
                    (true, true) => (
                        "every request".to_string(),
                        "no dependency proxies to cut".to_string(),
                    ),
                    (true, false) => (
                        "every request".to_string(),
                        format!("{} accept and never answer", proxied.join(", ")),
                    ),
                    (false, true) => (
                        format!("{pct:.0}% of requests"),
                        "no dependency proxies to cut".to_string(),
                    ),
                    (false, false) => (
                        format!("{pct:.0}% of requests"),
                        format!(
                            "{} hold back {pct:.0}% of what they relay",
                            proxied.join(", ")
                        ),
                    ),
                };
                Ok(Applied {
                    what: format!(
                        "{} partitioned for {}s at the sandbox's edges: the router drops {requests}; {deps} (addresses the service reaches directly are not cut)",
                        record.scope, p.duration_secs
                    ),
                    handle: Some(SandboxHandle {
                        router_fault: Some(router),
                        proxy_fault: target,
                        ..SandboxHandle::default()
                    }),
                })
            }
            s if proxy_fault_of(s, &p).is_some() => {
                let target = proxy_target(record, &p)?;
                self.set_proxies(Some(&target));
                Ok(Applied {
                    what: proxy_what(s, &record.targets, &p),
                    handle: Some(SandboxHandle {
                        proxy_fault: Some(target),
                        ..SandboxHandle::default()
                    }),
                })
            }
            s => {
                let fault =
                    router_fault_of(s, &p).ok_or_else(|| format!("{s} is not a sandbox fault"))?;
                self.set_router(Some(&fault));
                Ok(Applied {
                    what: format!("{s} applied for {}s", p.duration_secs),
                    handle: Some(SandboxHandle {
                        router_fault: Some(fault),
                        ..SandboxHandle::default()
                    }),
                })
            }
        }
    }

    async fn undo(
        &mut self,
        record: &FaultRecord<SandboxUndo>,
        handle: &mut Option<SandboxHandle>,
    ) -> UndoResult {
        // Workers and router faults end here whatever else happens.
        let handle = handle.take().unwrap_or_default();
        let mut done = Vec::new();
        if record.undo.contains(&SandboxUndo::ClearRouterFault) {
            self.set_router(None);
            done.push("router fault cleared".to_string());
        }
        if let Some(vars) = record.undo.iter().find_map(|s| match s {
            SandboxUndo::ClearProxyFault { vars } => Some(vars),
            _ => None,
        }) {
            self.set_proxies(None);
            done.push(format!("proxy fault cleared on {}", vars.join(", ")));
        }
        let mut failed = Vec::new();
        for step in &record.undo {
            if let SandboxUndo::RestoreResolvConf { processes, file } = step {
                let mut restored = 0;
                for p in processes {
                    match resolv::unmount(p).await {
                        Ok(true) => restored += 1,
                        Ok(false) => {}
                        Err(e) => failed.push(e),
                    }
                }
                remove_resolv_file(file, &mut failed);
                let answered = handle.dns.as_ref().map_or(0, ServfailResponder::answered);
                done.push(format!(
                    "resolver restored in {restored} instance(s); {answered} lookup(s) were answered SERVFAIL"
                ));
            }
        }
        let n = handle.stress.len();
        let memory = handle.memory;
        self.kill_workers(handle.stress);
        // Anything started under the marker that the handle did not hold.
        for step in &record.undo {
            if let SandboxUndo::KillMarked { marker } = step {
                kill_marked(marker);
                done.push(match record.scenario {
                    ScenarioKind::MemoryPressure => "memory holder killed".to_string(),
                    _ => format!("killed {n} stress worker(s)"),
                });
            }
        }
        match release_memory(record, memory).await {
            Ok(Some(line)) => done.push(line),
            Ok(None) => {}
            Err(e) => failed.push(e),
        }
        if failed.is_empty() {
            Ok(done)
        } else {
            Err(failed)
        }
    }

    async fn undo_leftover(&mut self, record: &FaultRecord<SandboxUndo>) -> UndoResult {
        undo_leftover_steps(&record.undo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn every_scenario_but_packet_loss_is_supported_and_packet_loss_says_why() {
        for k in ScenarioKind::every().filter(|k| *k != ScenarioKind::PacketLoss) {
            assert_eq!(SandboxApplier::support(k), Support::Yes, "{k}");
        }
        assert!(
            matches!(SandboxApplier::support(ScenarioKind::PacketLoss), Support::No(r) if r.contains("runtime: docker") && r.contains("network namespace")),
            "packet-loss is refused with the reason"
        );
    }

    #[tokio::test]
    async fn stress_worker_burns_cpu_in_its_own_group_under_its_marker() {
        let marker = new_marker("test", "stress");
        let (mut child, pid) = spawn_stress_worker(&marker).unwrap();
        let cmd = crate::faults::process_cmdline(pid).unwrap();
        assert!(cmd.iter().any(|a| a == STRESS_SCRIPT), "{cmd:?}");
        assert_eq!(crate::faults::marked_pids(&marker), vec![pid]);
        // Own process group, so a group kill cannot reach us.
        // SAFETY: getpgid on a child pid.
        assert_eq!(unsafe { libc::getpgid(pid as i32) }, pid as i32);
        assert_eq!(kill_marked(&marker), 1);
        let status = child.wait().await.unwrap();
        assert!(!status.success());
    }
}
