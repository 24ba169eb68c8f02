//! Per-environment state owned by the engine, and how it is reported.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

use crate::config::EnvironmentConfig;
use crate::delivery::RolloutView;
use crate::domain::environment::{
    ActiveFault, EnvironmentStatus, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use crate::domain::EpochMillis;
use crate::router::RouterHandle;
use crate::sandbox::dependencies::Dependencies;
use crate::sandbox::supervisor::InstanceHandle;

/// Pids of each version's instances (plus stress workers), read by the metrics sampler.
pub(super) type VersionPids = BTreeMap<String, Vec<u32>>;

pub(super) struct Instance {
    pub status: InstanceStatus,
    pub handle: InstanceHandle,
}

pub(super) struct EnvState {
    pub name: Arc<str>,
    pub cfg: EnvironmentConfig,
    pub router: RouterHandle,
    /// The fault proxies in front of the service's dependencies.
    pub deps: Arc<Dependencies>,
    /// What every instance is started with (`service.env`, dependency
    /// variables pointing at their proxies).
    pub instance_env: Arc<[(String, String)]>,
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub weight: u8,
    pub step: Option<(usize, usize)>,
    pub previous: Option<Version>,
    /// Keyed by the instance's unique token (creation order).
    pub instances: BTreeMap<u64, Instance>,
    /// The delivery controller's view of this environment's rollout.
    pub rollout: RolloutView,
    pub last_change: EpochMillis,
    /// Something visible changed since the last `Environment` event.
    pub dirty: bool,
    pub pids: watch::Sender<VersionPids>,
}

impl EnvState {
    pub fn new(
        cfg: EnvironmentConfig,
        router: RouterHandle,
        (deps, instance_env): (Arc<Dependencies>, Vec<(String, String)>),
        now: EpochMillis,
    ) -> (EnvState, watch::Receiver<VersionPids>) {
        let (pids, pids_rx) = watch::channel(VersionPids::new());
        (
            EnvState {
                name: Arc::from(cfg.name.as_str()),
                cfg,
                router,
                deps,
                instance_env: instance_env.into(),
                stable: None,
                canary: None,
                weight: 0,
                step: None,
                previous: None,
                instances: BTreeMap::new(),
                rollout: RolloutView::default(),
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
            .filter(|i| &i.status.version == v && i.status.phase == InstancePhase::Ready)
            .filter_map(|i| i.status.port())
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
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
            if let Some(pid) = i.status.pid() {
                map.entry(i.status.version.0.clone()).or_default().push(pid);
            }
        }
        map
    }

    pub fn status(&self, faults: Vec<ActiveFault>) -> EnvironmentStatus {
        let (ready, desired) = self.ready_desired();
        let health = compute_health(self.rollout.health(), ready, desired, &faults);
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
            revisions: self.rollout.revisions.clone(),
            observed: None,
        }
    }
}

/// Health from the rollout (progressing, paused, aborted), ready/desired
/// instances and active faults.
pub(super) fn compute_health(
    rollout: Option<Health>,
    ready: u32,
    desired: u32,
    faults: &[ActiveFault],
) -> Health {
    if let Some(h) = rollout {
        return h;
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
            compute_health(
                Some(Health::Progressing("canary v2 20% (step 2/4)".into())),
                0,
                4,
                &[]
            ),
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
        let aborted = Health::Aborted("p99 too high".into());
        assert_eq!(
            compute_health(Some(aborted.clone()), 2, 2, &[fault("x")]),
            aborted,
            "an abort is shown apart from a degraded service"
        );
    }
}
