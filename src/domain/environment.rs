//! Environments, versions and instances as the runtime reports them.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::EpochMillis;

/// A deployable version of the service, e.g. `v2` or a git short SHA.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub String);

impl Version {
    pub fn new(v: impl Into<String>) -> Self {
        Version(v.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Overall health of an environment, with the reason when it is not healthy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Progressing(String),
    /// A rollout holds its weight until resumed (by a person or a pause step).
    Paused(String),
    /// A person (or a script) aborted the rollout; the reason is theirs.
    /// Kept apart from `Degraded`, which is what the service itself shows.
    Aborted(String),
    Degraded(String),
    Down(String),
    Unknown,
}

impl Health {
    pub fn label(&self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Progressing(_) => "Progressing",
            Health::Paused(_) => "Paused",
            Health::Aborted(_) => "Aborted",
            Health::Degraded(_) => "Degraded",
            Health::Down(_) => "Down",
            Health::Unknown => "Unknown",
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Progressing(r)
            | Health::Paused(r)
            | Health::Aborted(r)
            | Health::Degraded(r)
            | Health::Down(r) => Some(r),
            _ => None,
        }
    }
}

/// Lifecycle of one supervised instance (the sandbox's "pod").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum InstancePhase {
    Starting,
    Ready,
    /// Exited; will be restarted at `restart_at`.
    BackingOff {
        exit_code: Option<i32>,
        restart_at: EpochMillis,
    },
    Stopped,
}

impl InstancePhase {
    pub fn label(&self) -> &'static str {
        match self {
            InstancePhase::Starting => "Starting",
            InstancePhase::Ready => "Ready",
            InstancePhase::BackingOff { .. } => "CrashLoop",
            InstancePhase::Stopped => "Stopped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// Stable name, e.g. `staging-v2-1`.
    pub id: String,
    pub version: Version,
    pub phase: InstancePhase,
    pub restarts: u32,
    /// What only this kind of runtime knows about the instance.
    pub detail: InstanceDetail,
}

/// The runtime-specific part of an instance's status; everything else in
/// [`EnvironmentStatus`] is the same for every runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstanceDetail {
    /// A supervised local process (the sandbox); port 0 until it listens.
    Process { pid: Option<u32>, port: u16 },
    /// A container: its id, the host port it publishes, its main process.
    Container {
        id: String,
        host_port: Option<u16>,
        pid: Option<u32>,
    },
    /// A Kubernetes pod: its node, and why it is not running well
    /// (`CrashLoopBackOff`, `OOMKilled`), when it says.
    Pod {
        node: Option<String>,
        reason: Option<String>,
    },
}

impl InstanceStatus {
    /// The process serving the instance, when the runtime knows it.
    pub fn pid(&self) -> Option<u32> {
        match &self.detail {
            InstanceDetail::Process { pid, .. } | InstanceDetail::Container { pid, .. } => *pid,
            InstanceDetail::Pod { .. } => None,
        }
    }

    /// The port on this host that reaches the instance, when it has one.
    pub fn port(&self) -> Option<u16> {
        match &self.detail {
            InstanceDetail::Process { port, .. } => Some(*port).filter(|p| *p != 0),
            InstanceDetail::Container { host_port, .. } => *host_port,
            InstanceDetail::Pod { .. } => None,
        }
    }
}

/// Which version gets traffic. `canary_weight` is the percentage sent to the canary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficSplit {
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub canary_weight: u8,
}

/// A fault currently applied to an environment (shown in the Environments pane).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveFault {
    pub id: String,
    pub scenario: String,
    pub ends_at: EpochMillis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentStatus {
    pub name: String,
    pub traffic: TrafficSplit,
    /// Version a rollback returns to (the stable before the last promotion).
    pub previous: Option<Version>,
    /// `(step index (0-based), total steps)` while a canary rollout runs.
    pub step: Option<(usize, usize)>,
    pub health: Health,
    pub instances: Vec<InstanceStatus>,
    /// Desired instances per running version.
    pub replicas: u32,
    pub last_change: EpochMillis,
    /// Address of the environment's edge router (where clients send traffic).
    pub router_addr: String,
    /// Address serving Prometheus text metrics for this environment.
    pub metrics_addr: String,
    pub faults: Vec<ActiveFault>,
    /// Versions that became stable, numbered (`undo --to-revision N`).
    #[serde(default)]
    pub revisions: Vec<crate::domain::rollout::Revision>,
    /// What a platform that steps the rollout itself reports (Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<super::observed::ObservedRollout>,
}

impl EnvironmentStatus {
    /// Ready and desired instance counts across the versions that get traffic.
    pub fn ready_desired(&self) -> (u32, u32) {
        if let Some(o) = &self.observed {
            return (o.ready, o.desired);
        }
        let ready = self
            .instances
            .iter()
            .filter(|i| i.phase == InstancePhase::Ready)
            .count() as u32;
        let versions = self.traffic.stable.is_some() as u32 + self.traffic.canary.is_some() as u32;
        // `replicas` comes from outside (a Rollout's `spec.replicas`).
        (ready, versions.saturating_mul(self.replicas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(detail: InstanceDetail) -> InstanceStatus {
        InstanceStatus {
            id: "staging-v1-1".into(),
            version: Version::new("v1"),
            phase: InstancePhase::Ready,
            restarts: 0,
            detail,
        }
    }

    #[test]
    fn desired_instances_saturate_instead_of_overflowing() {
        // A Rollout asking for 4294967295 replicas with a stable and a
        // canary version (an input of fuzz/kubernetes).
        let mut env = fixtures::staging_stable();
        env.traffic.canary = Some(Version::new("v2"));
        env.replicas = u32::MAX;
        assert_eq!(env.ready_desired().1, u32::MAX);
        env.replicas = 3;
        assert_eq!(env.ready_desired().1, 6);
    }

    #[test]
    fn pid_and_port_read_the_same_for_processes_and_containers() {
        let p = instance(InstanceDetail::Process {
            pid: Some(7),
            port: 0,
        });
        assert_eq!((p.pid(), p.port()), (Some(7), None));
        let c = instance(InstanceDetail::Container {
            id: "abc".into(),
            host_port: Some(8080),
            pid: None,
        });
        assert_eq!((c.pid(), c.port()), (None, Some(8080)));
    }

    #[test]
    fn the_detail_is_tagged_by_kind_in_json() {
        let json = serde_json::to_value(instance(InstanceDetail::Process {
            pid: Some(7),
            port: 4000,
        }))
        .unwrap();
        assert_eq!(json["detail"]["kind"], "process");
        assert_eq!(json["detail"]["port"], 4000);
    }
}

/// The tag (or digest) of an image reference; `latest` when it names none.
/// Trimmed: the reference comes from the cluster and may hold spaces
/// around the `:` or `@` (a version is compared and shown as it is). Shared by the
/// Kubernetes and Docker runtimes.
pub fn image_tag(image: &str) -> String {
    let tag = match image.split_once('@') {
        Some((_, digest)) => digest,
        None => {
            let last = image.rsplit('/').next().unwrap_or(image);
            last.split_once(':').map_or("", |(_, tag)| tag)
        }
    };
    match tag.trim() {
        "" => "latest".to_owned(),
        tag => tag.to_owned(),
    }
}

/// Environments for tests across the crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// `staging` on stable `v1` with nothing in flight.
    pub(crate) fn staging_stable() -> EnvironmentStatus {
        EnvironmentStatus {
            name: "staging".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: None,
                canary_weight: 0,
            },
            previous: None,
            step: None,
            health: Health::Healthy,
            instances: Vec::new(),
            replicas: 1,
            last_change: 0,
            router_addr: String::new(),
            metrics_addr: String::new(),
            faults: Vec::new(),
            revisions: Vec::new(),
            observed: None,
        }
    }

    /// `staging` with canary `v2` at `weight`% on step `step` (0-based) of `steps`.
    pub(crate) fn staging_canary(
        weight: u8,
        step: usize,
        steps: usize,
        health: &str,
    ) -> EnvironmentStatus {
        EnvironmentStatus {
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: Some(Version::new("v2")),
                canary_weight: weight,
            },
            step: Some((step, steps)),
            health: Health::Progressing(health.into()),
            ..staging_stable()
        }
    }
}
