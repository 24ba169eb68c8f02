//! The kinds of chaos scenario and their names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    PodKill,
    NetworkLatency,
    ErrorInjection,
    ConnectionDrop,
    CpuStress,
    /// Cut the service off its network: Docker drops all but loopback in
    /// the container; the sandbox cuts it at its router and dependency proxies.
    NetworkPartition,
    /// Docker runtime: drop a share of a container's inbound packets.
    PacketLoss,
    /// Hold memory inside a container (Docker) or next to the instances.
    MemoryPressure,
    /// The Kafka (broker) dependency goes down: Docker stops its
    /// container; the sandbox's fault proxy resets connections to it.
    KafkaDown,
    /// The database goes down: Docker stops its container; the sandbox's
    /// fault proxy resets connections to it.
    DbDown,
    /// Slow every exchange with the database dependency.
    DbLatency,
    /// The service's name lookups fail (SERVFAIL).
    DnsFailure,
    /// A dependency accepts connections and never answers.
    DependencyTimeout,
}

impl ScenarioKind {
    /// The scenarios every runtime supports (the sandbox's set, shown in the Chaos pane).
    pub const ALL: [ScenarioKind; 5] = [
        ScenarioKind::PodKill,
        ScenarioKind::NetworkLatency,
        ScenarioKind::ErrorInjection,
        ScenarioKind::ConnectionDrop,
        ScenarioKind::CpuStress,
    ];

    /// Scenarios first built for Docker; the sandbox does all of them but
    /// packet-loss, through its router, dependency proxies and processes.
    pub const DOCKER_ONLY: [ScenarioKind; 5] = [
        ScenarioKind::NetworkPartition,
        ScenarioKind::PacketLoss,
        ScenarioKind::MemoryPressure,
        ScenarioKind::KafkaDown,
        ScenarioKind::DbDown,
    ];

    /// Faults between the service and its dependencies (databases,
    /// brokers, DNS): the sandbox does db-latency and dependency-timeout at
    /// its dependency proxies and dns-failure through each instance's own
    /// resolv.conf; Docker does all three in the containers'
    /// network namespaces (netem on the database, DNS redirected to a
    /// SERVFAIL responder, dependency ports redirected to a silent one).
    pub const DEPENDENCY: [ScenarioKind; 3] = [
        ScenarioKind::DbLatency,
        ScenarioKind::DnsFailure,
        ScenarioKind::DependencyTimeout,
    ];

    /// Every scenario, in `ALL`, `DOCKER_ONLY`, `DEPENDENCY` order.
    pub fn every() -> impl Iterator<Item = ScenarioKind> {
        Self::ALL
            .into_iter()
            .chain(Self::DOCKER_ONLY)
            .chain(Self::DEPENDENCY)
    }

    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::PodKill => "pod-kill",
            ScenarioKind::NetworkLatency => "network-latency",
            ScenarioKind::ErrorInjection => "error-injection",
            ScenarioKind::ConnectionDrop => "connection-drop",
            ScenarioKind::CpuStress => "cpu-stress",
            ScenarioKind::NetworkPartition => "network-partition",
            ScenarioKind::PacketLoss => "packet-loss",
            ScenarioKind::MemoryPressure => "memory-pressure",
            ScenarioKind::KafkaDown => "kafka-down",
            ScenarioKind::DbDown => "db-down",
            ScenarioKind::DbLatency => "db-latency",
            ScenarioKind::DnsFailure => "dns-failure",
            ScenarioKind::DependencyTimeout => "dependency-timeout",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ScenarioKind::PodKill => "kill one instance; the supervisor must bring it back",
            ScenarioKind::NetworkLatency => "add latency to every request at the router",
            ScenarioKind::ErrorInjection => "answer a share of requests with HTTP 503",
            ScenarioKind::ConnectionDrop => "close a share of connections without answering",
            ScenarioKind::CpuStress => "burn CPU next to the instances",
            ScenarioKind::NetworkPartition => "cut the service off its network, both ways",
            ScenarioKind::PacketLoss => "drop a share of a container's inbound packets",
            ScenarioKind::MemoryPressure => {
                "hold memory next to the instances (inside the container on Docker)"
            }
            ScenarioKind::KafkaDown => "stop the Kafka dependency container",
            ScenarioKind::DbDown => "stop the database dependency container",
            ScenarioKind::DbLatency => "delay every exchange with the database",
            ScenarioKind::DnsFailure => "answer the service's DNS lookups with SERVFAIL",
            ScenarioKind::DependencyTimeout => "a dependency accepts connections and never answers",
        }
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chaos scenario `{0}` (known: {known})", known = known_names())]
pub struct UnknownScenario(pub String);

fn known_names() -> String {
    ScenarioKind::every()
        .map(ScenarioKind::name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ScenarioKind {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScenarioKind::every()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}
