//! The Docker backend of the fault engine: how each scenario is applied to
//! containers, and removed again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::ExecConfig;
use bollard::query_parameters::StopContainerOptions;
use bollard::Docker;

use super::dependency::Helper;
use super::netns::{interfaces, local_pid, own_network, tagged_rule};
use super::steps::{undo_steps, UndoStep};
use super::targets::targets;
use crate::docker::delivery;
use crate::docker::lifecycle::ContainerView;
use crate::docker::runtime::Inner;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::sanitize::strip_all;
use crate::faults::{
    kill_pid, marked_pids, new_marker, Applied, FaultApplier, FaultRecord, Journal, Prepared,
    UndoResult,
};
use crate::runtime::{RuntimeError, Support};

/// How long a burner gets to show up in `/proc` after its exec starts.
const BURNER_START: Duration = Duration::from_secs(5);

type Record = FaultRecord<UndoStep>;

/// Applies faults to the containers of one Docker runtime.
pub(crate) struct DockerApplier<'a> {
    pub inner: &'a Arc<Inner>,
    /// The containers `prepare` chose, for `apply`.
    chosen: Vec<ContainerView>,
}

impl<'a> DockerApplier<'a> {
    pub fn new(inner: &'a Arc<Inner>) -> Self {
        DockerApplier {
            inner,
            chosen: Vec::new(),
        }
    }

    async fn stop_all(&self, docker: &Docker) -> Result<String, String> {
        let mut names = Vec::new();
        for t in &self.chosen {
            let opts = StopContainerOptions {
                t: Some(2),
                signal: None,
            };
            docker
                .stop_container(&t.id, Some(opts))
                .await
                .map_err(|e| format!("stopping {}: {}", t.display, strip_all(&e.to_string())))?;
            names.push(t.display.clone());
        }
        Ok(format!("stopped {}", names.join(", ")))
    }

    /// Read the targets of a fault again at once, so `status` shows its
    /// effect (or its end) without waiting for the engine's events.
    pub async fn refresh(&self, record: &Record) {
        let Ok(docker) = self.inner.docker() else {
            return;
        };
        let mut ids: Vec<String> = self
            .inner
            .containers()
            .into_iter()
            .filter(|c| record.targets.contains(&c.display))
            .map(|c| c.id)
            .collect();
        for s in &record.undo {
            if let UndoStep::StartContainers { ids: started } = s {
                ids.extend(started.iter().cloned());
            }
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            crate::docker::runtime::refresh_container(self.inner, &docker, &id).await;
        }
    }
}

/// Start a detached shell script inside the container, in its own session,
/// with `marker` in its command line so it can be found (and killed) from the host.
async fn exec_marked(
    docker: &Docker,
    c: &ContainerView,
    script: &str,
    marker: &str,
) -> Result<(), String> {
    let cfg = ExecConfig {
        cmd: Some(
            ["setsid", "sh", "-c", script, marker]
                .map(String::from)
                .to_vec(),
        ),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        ..Default::default()
    };
    let fail = |what: &str, e: bollard::errors::Error| {
        format!("{what} in {}: {}", c.display, strip_all(&e.to_string()))
    };
    let exec = docker
        .create_exec(&c.id, cfg)
        .await
        .map_err(|e| fail("exec (needs setsid and sh in the image)", e))?;
    let start = bollard::exec::StartExecOptions {
        detach: true,
        ..Default::default()
    };
    docker
        .start_exec(&exec.id, Some(start))
        .await
        .map_err(|e| fail("starting exec", e))?;
    let deadline = tokio::time::Instant::now() + BURNER_START;
    while marked_pids(marker).is_empty() {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the process started in {} did not appear (does the image have setsid and sh?)",
                c.display
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn marker_of(record: &Record) -> Result<String, String> {
    record
        .undo
        .iter()
        .find_map(|s| match s {
            UndoStep::KillMarked { marker } => Some(marker.clone()),
            _ => None,
        })
        .ok_or_else(|| "internal: the fault has no process marker".to_string())
}

/// Undo steps known before the fault is applied.
fn planned_undo(
    scenario: ScenarioKind,
    targets: &[ContainerView],
    marker: String,
) -> Vec<UndoStep> {
    match scenario {
        ScenarioKind::PodKill | ScenarioKind::NetworkPartition => Vec::new(),
        ScenarioKind::NetworkLatency | ScenarioKind::PacketLoss | ScenarioKind::DbLatency => {
            targets[..1]
                .iter()
                .flat_map(|c| {
                    let devs = c.pid.map(interfaces).unwrap_or_default();
                    devs.into_iter().map(|dev| UndoStep::DeleteQdisc {
                        container_id: c.id.clone(),
                        dev,
                    })
                })
                .collect()
        }
        ScenarioKind::CpuStress | ScenarioKind::MemoryPressure => {
            vec![UndoStep::KillMarked { marker }]
        }
        ScenarioKind::DbDown | ScenarioKind::KafkaDown => vec![UndoStep::StartContainers {
            ids: targets.iter().map(|t| t.id.clone()).collect(),
        }],
        ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop => {
            vec![UndoStep::ClearRouterFault]
        }
        // Each iptables rule's removal is journalled as the rule is added.
        ScenarioKind::DnsFailure | ScenarioKind::DependencyTimeout => Vec::new(),
    }
}

#[async_trait]
impl FaultApplier for DockerApplier<'_> {
    type Undo = UndoStep;
    type Handle = Vec<Helper>;
    const BACKEND: &'static str = "docker";
    const MAX_CPU_WORKERS: u32 = 16;

    fn support(_kind: ScenarioKind) -> Support {
        Support::Yes
    }

    async fn prepare(
        &mut self,
        scope: &str,
        id: &str,
        scenario: ScenarioKind,
        params: &FaultParams,
    ) -> Result<Prepared<UndoStep>, RuntimeError> {
        self.inner.docker()?;
        self.chosen = targets(self.inner, scenario, params)?;
        Ok(Prepared {
            targets: self.chosen.iter().map(|c| c.display.clone()).collect(),
            undo: planned_undo(scenario, &self.chosen, new_marker(scope, id)),
        })
    }

    async fn apply(
        &mut self,
        record: &mut Record,
        journal: &Journal<UndoStep>,
    ) -> Result<Applied<Vec<Helper>>, String> {
        let docker = self.inner.docker().map_err(|e| e.to_string())?;
        let c = self
            .chosen
            .first()
            .cloned()
            .ok_or_else(|| "internal: no target was prepared".to_string())?;
        let p = record.params.clone();
        let mut relay = None;
        let mut helpers = Vec::new();
        // Rules and qdiscs in a namespace shared with the host would act on
        // the host itself: refuse before changing anything.
        if matches!(
            record.scenario,
            ScenarioKind::NetworkPartition
                | ScenarioKind::NetworkLatency
                | ScenarioKind::PacketLoss
                | ScenarioKind::DbLatency
        ) {
            own_network(&c.display, local_pid(&c)?)?;
        }
        let what = match record.scenario {
            ScenarioKind::PodKill => {
                let pid = local_pid(&c)?;
                kill_pid(pid, libc::SIGKILL).map_err(|e| format!("killing {pid}: {e}"))?;
                // Known dead now, before the engine's event says so: the
                // first sample counts it even if the event comes late.
                self.inner
                    .state()
                    .last_died
                    .insert(c.display.clone(), crate::clock::now_ms());
                Ok(format!(
                    "killed {} (pid {pid}); restart policy: {}",
                    c.display, c.restart_policy
                ))
            }
            ScenarioKind::NetworkLatency | ScenarioKind::PacketLoss | ScenarioKind::DbLatency => {
                self.netem((record, journal), &c, &mut relay).await
            }
            ScenarioKind::NetworkPartition => {
                // Below 1, each packet is dropped with that chance.
                let probability = format!("{:.4}", p.rate);
                let share: &[&str] = match p.rate >= 1.0 {
                    true => &[],
                    false => &[
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &probability,
                    ],
                };
                for (flag, chain) in [("-i", "INPUT"), ("-o", "OUTPUT")] {
                    let rule = tagged_rule(flag, &record.id, share, &["DROP"]);
                    self.add_rule((record, journal), &c, (None, chain), rule)
                        .await?;
                }
                Ok(match p.rate >= 1.0 {
                    true => format!(
                        "{} cut off its networks (all traffic but loopback dropped)",
                        c.display
                    ),
                    false => format!(
                        "{} partitioned: {:.0}% of its packets in and out (but loopback) dropped",
                        c.display,
                        p.rate * 100.0
                    ),
                })
            }
            ScenarioKind::CpuStress => {
                let script = format!(
                    "i=0; while [ $i -lt {} ]; do (while :; do :; done) & i=$((i+1)); done; wait",
                    p.cpu_workers
                );
                exec_marked(&docker, &c, &script, &marker_of(record)?).await?;
                Ok(format!("{} busy loop(s) in {}", p.cpu_workers, c.display))
            }
            ScenarioKind::MemoryPressure => {
                // dd fills one block of the requested size and blocks writing it
                // into a pipe nobody reads: the memory stays held until killed.
                let script = format!(
                    "dd if=/dev/zero bs={}M count=1 2>/dev/null | sleep 2147483647",
                    p.memory_mib
                );
                exec_marked(&docker, &c, &script, &marker_of(record)?).await?;
                Ok(format!("holding {} MiB in {}", p.memory_mib, c.display))
            }
            ScenarioKind::DbDown | ScenarioKind::KafkaDown => self.stop_all(&docker).await,
            ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop => {
                delivery::set_router_fault(self.inner, record.scenario, &p)?;
                Ok(match record.scenario {
                    ScenarioKind::ErrorInjection => {
                        format!("router answers {:.0}% of requests with 503", p.rate * 100.0)
                    }
                    _ => format!("router drops {:.0}% of connections", p.rate * 100.0),
                })
            }
            ScenarioKind::DnsFailure => self.dns_failure((record, journal), &c, &mut helpers).await,
            ScenarioKind::DependencyTimeout => {
                let chosen = self.chosen.clone();
                self.dependency_timeout((record, journal), &chosen, &mut helpers)
                    .await
            }
        };
        self.refresh(record).await;
        helpers.extend(relay.map(Helper::Delay));
        Ok(Applied {
            what: what?,
            handle: (!helpers.is_empty()).then_some(helpers),
        })
    }

    async fn undo(&mut self, record: &Record, helpers: &mut Option<Vec<Helper>>) -> UndoResult {
        if record.undo.contains(&UndoStep::ClearRouterFault) {
            delivery::clear_router_fault(self.inner);
        }
        let docker = self.inner.docker().ok();
        let mut r = undo_steps(docker.as_ref(), &record.undo).await;
        // Relays and sinks stop when dropped: only once their REDIRECT
        // rules are gone, or connections would be sent to a closed port.
        if let Ok(done) = &mut r {
            done.extend(
                helpers
                    .take()
                    .unwrap_or_default()
                    .iter()
                    .map(Helper::summary),
            );
        }
        self.refresh(record).await;
        r
    }

    async fn undo_leftover(&mut self, record: &Record) -> UndoResult {
        let docker = self.inner.docker().ok();
        let r = undo_steps(docker.as_ref(), &record.undo).await;
        self.refresh(record).await;
        r
    }
}
