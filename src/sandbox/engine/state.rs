//! Per-environment state owned by the engine, and how it is reported.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::EnvironmentConfig;
use crate::domain::environment::{
    ActiveFault, EnvironmentStatus, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use crate::domain::EpochMillis;
use crate::router::RouterHandle;
use crate::sandbox::supervisor::InstanceHandle;

/// Pids of each version's instances (plus stress workers), read by the metrics sampler.
pub(super) type VersionPids = BTreeMap<String, Vec<u32>>;

pub(super) struct Instance {
    pub status: InstanceStatus,
    pub handle: InstanceHandle,
}

/// A long-running operation on an environment, run by its own task.
pub(super) struct Op {
    /// Id of the pipeline run that tracks it.
    pub id: u64,
    pub kind: OpKind,
    pub task: JoinHandle<()>,
    /// Who asked for it (for the controller's audit entries).
    pub user: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum OpKind {
    Rollout { canary: Version },
    Rollback { target: Version },
}

pub(super) struct EnvState {
    pub name: Arc<str>,
    pub cfg: EnvironmentConfig,
    pub router: RouterHandle,
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub weight: u8,
    pub step: Option<(usize, usize)>,
    pub previous: Option<Version>,
    /// Keyed by the instance's unique token (creation order).
    pub instances: BTreeMap<u64, Instance>,
    pub op: Option<Op>,
    pub last_change: EpochMillis,
    /// Something visible changed since the last `Environment` event.
    pub dirty: bool,
    pub pids: watch::Sender<VersionPids>,
}

impl EnvState {
    pub fn new(
        cfg: EnvironmentConfig,
        router: RouterHandle,
        now: EpochMillis,
    ) -> (EnvState, watch::Receiver<VersionPids>) {
        let (pids, pids_rx) = watch::channel(VersionPids::new());
        (
            EnvState {
                name: Arc::from(cfg.name.as_str()),
                cfg,
                router,
                stable: None,
                canary: None,
                weight: 0,
                step: None,
                previous: None,
                instances: BTreeMap::new(),
                op: None,
                last_change: now,
                dirty: true,
                pids,
            },
            pids_rx,
        )
    }

    pub fn has_version(&self, v: &Version) -> bool {
        self.instances.values().any(|i| &i.status.version == v)
    }

    pub fn ready_count(&self, v: &Version) -> u32 {
        self.instances
            .values()
            .filter(|i| &i.status.version == v && i.status.phase == InstancePhase::Ready)
            .count() as u32
    }

    pub fn ready_addrs(&self, v: &Version) -> Vec<SocketAddr> {
        self.instances
            .values()
            .filter(|i| {
                &i.status.version == v
                    && i.status.phase == InstancePhase::Ready
                    && i.status.port != 0
            })
            .map(|i| SocketAddr::from(([127, 0, 0, 1], i.status.port)))
            .collect()
    }

    /// Ready and desired instances across the versions that get traffic.
    pub fn ready_desired(&self) -> (u32, u32) {
        let versions: Vec<&Version> = self.stable.iter().chain(self.canary.iter()).collect();
        let ready = versions.iter().map(|v| self.ready_count(v)).sum();
        (ready, versions.len() as u32 * self.cfg.replicas)
    }

    pub fn instance_pids(&self) -> VersionPids {
        let mut map = VersionPids::new();
        for i in self.instances.values() {
            if let Some(pid) = i.status.pid {
                map.entry(i.status.version.0.clone()).or_default().push(pid);
            }
        }
        map
    }

    /// What the Environments pane shows while something is in progress.
    pub fn progress(&self) -> Option<String> {
        match (&self.op, &self.canary) {
            (Some(op), _) => Some(match &op.kind {
                OpKind::Rollout { canary } => match self.step {
                    Some((i, n)) => {
                        format!("canary {canary} {}% (step {}/{n})", self.weight, i + 1)
                    }
                    None => format!("starting canary {canary}"),
                },
                OpKind::Rollback { target } => format!("rolling back to {target}"),
            }),
            (None, Some(c)) => Some(format!("canary {c} held at {}% (blue/green)", self.weight)),
            (None, None) => None,
        }
    }

    pub fn status(&self, faults: Vec<ActiveFault>) -> EnvironmentStatus {
        let (ready, desired) = self.ready_desired();
        let health = compute_health(self.progress(), ready, desired, &faults);
        let mut instances: Vec<InstanceStatus> =
            self.instances.values().map(|i| i.status.clone()).collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        EnvironmentStatus {
            name: self.cfg.name.clone(),
            traffic: TrafficSplit {
                stable: self.stable.clone(),
                canary: self.canary.clone(),
                canary_weight: self.weight,
            },
            previous: self.previous.clone(),
            step: self.step,
            health,
            instances,
            replicas: self.cfg.replicas,
            last_change: self.last_change,
            router_addr: self.router.addr().to_string(),
            metrics_addr: self.router.metrics_addr().to_string(),
            faults,
        }
    }
}

/// Health from what is in progress, ready/desired instances and active faults.
pub(super) fn compute_health(
    progress: Option<String>,
    ready: u32,
    desired: u32,
    faults: &[ActiveFault],
) -> Health {
    if let Some(p) = progress {
        return Health::Progressing(p);
    }
    if desired == 0 {
        return Health::Down("no version deployed".into());
    }
    if ready == 0 {
        return Health::Down(format!("0/{desired} instances ready"));
    }
    if !faults.is_empty() {
        let names: Vec<&str> = faults.iter().map(|f| f.scenario.as_str()).collect();
        return Health::Degraded(format!("fault active: {}", names.join(", ")));
    }
    if ready < desired {
        return Health::Degraded(format!("{ready}/{desired} instances ready"));
    }
    Health::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(s: &str) -> ActiveFault {
        ActiveFault {
            id: format!("{s}-1"),
            scenario: s.into(),
            ends_at: 0,
        }
    }

    #[test]
    fn health_follows_progress_readiness_and_faults() {
        assert_eq!(compute_health(None, 2, 2, &[]), Health::Healthy);
        assert_eq!(
            compute_health(Some("canary v2 20% (step 2/4)".into()), 0, 4, &[]),
            Health::Progressing("canary v2 20% (step 2/4)".into())
        );
        assert_eq!(
            compute_health(None, 0, 2, &[]),
            Health::Down("0/2 instances ready".into())
        );
        assert_eq!(
            compute_health(None, 1, 2, &[]),
            Health::Degraded("1/2 instances ready".into())
        );
        assert_eq!(
            compute_health(None, 2, 2, &[fault("network-latency")]),
            Health::Degraded("fault active: network-latency".into())
        );
        assert!(matches!(compute_health(None, 0, 0, &[]), Health::Down(_)));
    }
}
