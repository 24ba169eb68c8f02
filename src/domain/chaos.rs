//! Chaos scenarios, experiments and their results.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::EpochMillis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    PodKill,
    NetworkLatency,
    ErrorInjection,
    ConnectionDrop,
    CpuStress,
    /// Docker runtime: cut a container off its network.
    NetworkPartition,
    /// Docker runtime: drop a share of a container's inbound packets.
    PacketLoss,
    /// Docker runtime: hold memory inside a container.
    MemoryPressure,
    /// Docker runtime: stop the Kafka (broker) dependency container.
    KafkaDown,
    /// Docker runtime: stop the database dependency container.
    DbDown,
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

    /// Scenarios only the Docker runtime implements.
    pub const DOCKER_ONLY: [ScenarioKind; 5] = [
        ScenarioKind::NetworkPartition,
        ScenarioKind::PacketLoss,
        ScenarioKind::MemoryPressure,
        ScenarioKind::KafkaDown,
        ScenarioKind::DbDown,
    ];

    /// Every scenario, in `ALL` then `DOCKER_ONLY` order.
    pub fn every() -> impl Iterator<Item = ScenarioKind> {
        Self::ALL.into_iter().chain(Self::DOCKER_ONLY)
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
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ScenarioKind::PodKill => "kill one instance; the supervisor must bring it back",
            ScenarioKind::NetworkLatency => "add latency to every request at the router",
            ScenarioKind::ErrorInjection => "answer a share of requests with HTTP 503",
            ScenarioKind::ConnectionDrop => "close a share of connections without answering",
            ScenarioKind::CpuStress => "burn CPU next to the instances",
            ScenarioKind::NetworkPartition => "disconnect a container from its network",
            ScenarioKind::PacketLoss => "drop a share of a container's inbound packets",
            ScenarioKind::MemoryPressure => "hold memory inside a container",
            ScenarioKind::KafkaDown => "stop the Kafka dependency container",
            ScenarioKind::DbDown => "stop the database dependency container",
        }
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chaos scenario `{0}` (known: pod-kill, network-latency, error-injection, connection-drop, cpu-stress; docker only: network-partition, packet-loss, memory-pressure, kafka-down, db-down)")]
pub struct UnknownScenario(pub String);

impl FromStr for ScenarioKind {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScenarioKind::every()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

/// Parameters of an injection; unused fields are ignored by a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultParams {
    pub duration_secs: u64,
    pub latency_ms: u64,
    /// Fraction 0..1 for error-injection and connection-drop.
    pub rate: f64,
    /// Threads burning CPU for cpu-stress.
    pub cpu_workers: u32,
    /// MiB held by memory-pressure.
    pub memory_mib: u64,
    /// Service (container) the fault targets; empty means the runtime's default.
    pub target: String,
}

impl Default for FaultParams {
    fn default() -> Self {
        FaultParams {
            duration_secs: 30,
            latency_ms: 300,
            rate: 0.3,
            cpu_workers: 1,
            memory_mib: 256,
            target: String::new(),
        }
    }
}

/// Chaos SLOs: what counts as impact, and how fast recovery must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosSlo {
    pub max_error_rate: f64,
    pub max_p99_ms: f64,
    pub max_recovery_secs: u64,
}

impl Default for ChaosSlo {
    fn default() -> Self {
        ChaosSlo {
            max_error_rate: 0.05,
            max_p99_ms: 250.0,
            max_recovery_secs: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentState {
    Running,
    /// Fault removed, waiting for metrics to return within the SLO.
    Recovering,
    Completed,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentResult {
    /// Impact seen and recovered within the SLO.
    Resilient,
    /// No impact seen at all.
    NoImpact,
    /// Recovery took longer than the SLO, or never came.
    NotRecovered,
}

impl ExperimentResult {
    pub fn label(self) -> &'static str {
        match self {
            ExperimentResult::Resilient => "resilient",
            ExperimentResult::NoImpact => "no impact",
            ExperimentResult::NotRecovered => "not recovered",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: String,
    pub env: String,
    pub scenario: ScenarioKind,
    pub params: FaultParams,
    pub started_at: EpochMillis,
    pub ends_at: EpochMillis,
    pub state: ExperimentState,
    /// ms from start until impact was first seen.
    pub detection_ms: Option<i64>,
    /// ms from the end of the fault (or of the impact, for pod-kill) until back within SLO.
    pub recovery_ms: Option<i64>,
    /// Worst error rate and p99 seen while the experiment ran.
    pub peak_error_rate: f64,
    pub peak_p99_ms: f64,
    pub failed_requests: u64,
    pub result: Option<ExperimentResult>,
    /// Set while the experiment is in its impacted window (internal bookkeeping).
    #[serde(default)]
    pub impacted_since: Option<EpochMillis>,
    #[serde(default)]
    pub last_impact_at: Option<EpochMillis>,
}

impl Experiment {
    pub fn new(
        id: String,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
        now: EpochMillis,
    ) -> Self {
        let ends_at = now + (params.duration_secs as i64) * 1000;
        Experiment {
            id,
            env: env.to_string(),
            scenario,
            params,
            started_at: now,
            ends_at,
            state: ExperimentState::Running,
            detection_ms: None,
            recovery_ms: None,
            peak_error_rate: 0.0,
            peak_p99_ms: 0.0,
            failed_requests: 0,
            result: None,
            impacted_since: None,
            last_impact_at: None,
        }
    }

    /// Fold one environment-wide observation into the experiment.
    /// `healthy_instances_short` is true while fewer instances are ready than desired.
    pub fn observe(
        &mut self,
        now: EpochMillis,
        error_rate: f64,
        p99_ms: f64,
        errors: u64,
        instances_short: bool,
        slo: &ChaosSlo,
    ) {
        if matches!(
            self.state,
            ExperimentState::Completed | ExperimentState::Aborted
        ) {
            return;
        }
        self.peak_error_rate = self.peak_error_rate.max(error_rate);
        self.peak_p99_ms = self.peak_p99_ms.max(p99_ms);
        self.failed_requests += errors;
        let impacted =
            error_rate > slo.max_error_rate || p99_ms > slo.max_p99_ms || instances_short;
        if impacted {
            if self.detection_ms.is_none() {
                self.detection_ms = Some(now - self.started_at);
            }
            self.last_impact_at = Some(now);
        }
        if self.state == ExperimentState::Recovering {
            let fault_end = self.ends_at.min(now);
            if !impacted {
                // Recovered now, unless the impact had already ended with the fault.
                let still_impacted_after_fault =
                    self.last_impact_at.is_some_and(|t| t >= fault_end);
                self.recovery_ms = Some(if still_impacted_after_fault {
                    now - fault_end
                } else {
                    0
                });
                self.state = ExperimentState::Completed;
                self.result = Some(if self.detection_ms.is_some() {
                    if self.recovery_ms.unwrap_or(0) <= (slo.max_recovery_secs as i64) * 1000 {
                        ExperimentResult::Resilient
                    } else {
                        ExperimentResult::NotRecovered
                    }
                } else {
                    ExperimentResult::NoImpact
                });
            } else if now - fault_end > (slo.max_recovery_secs as i64) * 1000 {
                self.state = ExperimentState::Completed;
                self.result = Some(ExperimentResult::NotRecovered);
            }
        }
    }

    /// The fault has been removed; from now on the experiment waits for recovery.
    pub fn fault_removed(&mut self, now: EpochMillis) {
        if self.state == ExperimentState::Running {
            self.ends_at = now;
            self.state = ExperimentState::Recovering;
        }
    }

    pub fn impact_summary(&self) -> String {
        format!(
            "peak err {:.1}%, peak p99 {:.0}ms, {} failed",
            self.peak_error_rate * 100.0,
            self.peak_p99_ms,
            self.failed_requests
        )
    }
}

/// Longest fault, in seconds.
pub const MAX_FAULT_SECS: u64 = 3600;
/// Largest added latency, in ms.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;
/// Largest memory a memory-pressure fault holds, in MiB.
pub const MAX_FAULT_MEMORY_MIB: u64 = 16 * 1024;

/// Whether `p` is usable for `scenario`; `max_cpu_workers` is the runtime's
/// own limit. The error names the parameter and its range.
pub fn check_params(
    scenario: ScenarioKind,
    p: &FaultParams,
    max_cpu_workers: u32,
) -> Result<(), String> {
    if scenario != ScenarioKind::PodKill && !(1..=MAX_FAULT_SECS).contains(&p.duration_secs) {
        return Err(format!(
            "duration must be 1..={MAX_FAULT_SECS}s, not {}s",
            p.duration_secs
        ));
    }
    match scenario {
        ScenarioKind::NetworkLatency if !(1..=MAX_FAULT_LATENCY_MS).contains(&p.latency_ms) => {
            Err(format!(
                "latency must be 1..={MAX_FAULT_LATENCY_MS}ms, not {}ms",
                p.latency_ms
            ))
        }
        ScenarioKind::PacketLoss | ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop
            if !(p.rate > 0.0 && p.rate <= 1.0) =>
        {
            Err(format!("rate must be within (0, 1], not {}", p.rate))
        }
        ScenarioKind::CpuStress if !(1..=max_cpu_workers).contains(&p.cpu_workers) => Err(format!(
            "cpu_workers must be 1..={max_cpu_workers}, not {}",
            p.cpu_workers
        )),
        ScenarioKind::MemoryPressure if !(1..=MAX_FAULT_MEMORY_MIB).contains(&p.memory_mib) => {
            Err(format!(
                "memory_mib must be 1..={MAX_FAULT_MEMORY_MIB}, not {}",
                p.memory_mib
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_parameters_are_checked_with_their_range() {
        let ok = FaultParams::default();
        assert_eq!(check_params(ScenarioKind::CpuStress, &ok, 8), Ok(()));
        let p = FaultParams {
            duration_secs: 0,
            ..ok.clone()
        };
        assert!(check_params(ScenarioKind::NetworkLatency, &p, 8)
            .unwrap_err()
            .contains("duration must be 1..=3600s"));
        // pod-kill has no duration.
        assert_eq!(check_params(ScenarioKind::PodKill, &p, 8), Ok(()));
        let p = FaultParams {
            rate: 1.5,
            ..ok.clone()
        };
        assert!(check_params(ScenarioKind::PacketLoss, &p, 8).is_err());
        let p = FaultParams {
            cpu_workers: 12,
            ..ok.clone()
        };
        assert!(check_params(ScenarioKind::CpuStress, &p, 8)
            .unwrap_err()
            .contains("1..=8"));
        assert_eq!(check_params(ScenarioKind::CpuStress, &p, 16), Ok(()));
        let p = FaultParams {
            memory_mib: 0,
            ..ok
        };
        assert!(check_params(ScenarioKind::MemoryPressure, &p, 8).is_err());
    }

    const T0: EpochMillis = 1_000_000;

    fn slo() -> ChaosSlo {
        ChaosSlo {
            max_error_rate: 0.05,
            max_p99_ms: 250.0,
            max_recovery_secs: 30,
        }
    }

    fn exp(kind: ScenarioKind) -> Experiment {
        Experiment::new("x1".into(), "staging", kind, FaultParams::default(), T0)
    }

    #[test]
    fn scenario_names_round_trip() {
        for k in ScenarioKind::every() {
            assert_eq!(k.name().parse::<ScenarioKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        let err = "pod-nuke".parse::<ScenarioKind>().unwrap_err();
        assert!(err.to_string().contains("pod-nuke") && err.to_string().contains("cpu-stress"));
    }

    #[test]
    fn new_experiment_ends_after_its_duration() {
        let e = exp(ScenarioKind::NetworkLatency);
        assert_eq!(e.ends_at, T0 + 30_000);
        assert_eq!(e.state, ExperimentState::Running);
        assert_eq!(e.result, None);
    }

    #[test]
    fn resilient_with_detection_and_recovery_times() {
        let mut e = exp(ScenarioKind::ErrorInjection);
        let s = slo();
        e.observe(T0 + 1_000, 0.01, 100.0, 1, false, &s);
        assert_eq!(e.detection_ms, None);
        e.observe(T0 + 2_000, 0.30, 120.0, 30, false, &s);
        assert_eq!(e.detection_ms, Some(2_000));
        e.observe(T0 + 3_000, 0.20, 300.0, 20, false, &s);
        assert_eq!(e.detection_ms, Some(2_000), "detection is the first impact");
        e.fault_removed(T0 + 10_000);
        assert_eq!(e.state, ExperimentState::Recovering);
        assert_eq!(e.ends_at, T0 + 10_000);
        e.observe(T0 + 11_000, 0.10, 100.0, 10, false, &s);
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 14_000, 0.0, 90.0, 0, false, &s);
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.recovery_ms, Some(4_000));
        assert_eq!(e.result, Some(ExperimentResult::Resilient));
        assert_eq!(e.peak_error_rate, 0.30);
        assert_eq!(e.peak_p99_ms, 300.0);
        assert_eq!(e.failed_requests, 61);
        assert_eq!(
            e.impact_summary(),
            "peak err 30.0%, peak p99 300ms, 61 failed"
        );
        // Completed experiments ignore further observations.
        e.observe(T0 + 15_000, 0.9, 900.0, 100, true, &s);
        assert_eq!(e.failed_requests, 61);
    }

    #[test]
    fn impact_that_ends_with_the_fault_recovers_in_zero() {
        let mut e = exp(ScenarioKind::NetworkLatency);
        e.observe(T0 + 500, 0.0, 600.0, 0, false, &slo());
        e.fault_removed(T0 + 5_000);
        e.observe(T0 + 6_000, 0.0, 50.0, 0, false, &slo());
        assert_eq!(e.recovery_ms, Some(0));
        assert_eq!(e.result, Some(ExperimentResult::Resilient));
        assert_eq!(e.detection_ms, Some(500));
    }

    #[test]
    fn no_impact() {
        let mut e = exp(ScenarioKind::CpuStress);
        // Exactly at the SLO is not impact.
        e.observe(T0 + 1_000, 0.05, 250.0, 0, false, &slo());
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 3_000, 0.0, 10.0, 0, false, &slo());
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.detection_ms, None);
        assert_eq!(e.result, Some(ExperimentResult::NoImpact));
        assert_eq!(ExperimentResult::NoImpact.label(), "no impact");
    }

    #[test]
    fn pod_kill_counts_missing_instances_as_impact() {
        let mut e = exp(ScenarioKind::PodKill);
        e.fault_removed(T0 + 100);
        e.observe(T0 + 1_000, 0.0, 10.0, 0, true, &slo());
        assert_eq!(e.detection_ms, Some(1_000));
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 8_100, 0.0, 10.0, 0, false, &slo());
        assert_eq!(e.recovery_ms, Some(8_000));
        assert_eq!(e.result, Some(ExperimentResult::Resilient));
    }

    #[test]
    fn not_recovered_when_impact_outlasts_the_slo() {
        let s = slo();
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.5, 10.0, 5, false, &s);
        e.fault_removed(T0 + 2_000);
        // Exactly at the limit it is still waiting.
        e.observe(T0 + 32_000, 0.5, 10.0, 5, false, &s);
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 32_001, 0.5, 10.0, 5, false, &s);
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.result, Some(ExperimentResult::NotRecovered));
        assert_eq!(e.recovery_ms, None);

        // Recovered, but later than the SLO allows (observations were sparse).
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.5, 10.0, 5, false, &s);
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 20_000, 0.5, 10.0, 5, false, &s);
        e.observe(T0 + 32_000, 0.0, 10.0, 0, false, &s);
        assert_eq!(e.recovery_ms, Some(30_000));
        assert_eq!(
            e.result,
            Some(ExperimentResult::Resilient),
            "at the limit counts"
        );
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.5, 10.0, 5, false, &s);
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 31_000, 0.5, 10.0, 5, false, &s);
        e.observe(T0 + 32_001, 0.0, 10.0, 0, false, &s);
        assert_eq!(e.recovery_ms, Some(30_001));
        assert_eq!(e.result, Some(ExperimentResult::NotRecovered));
    }

    #[test]
    fn fault_removed_only_acts_while_running() {
        let mut e = exp(ScenarioKind::ConnectionDrop);
        e.fault_removed(T0 + 1_000);
        e.fault_removed(T0 + 9_000);
        assert_eq!(e.ends_at, T0 + 1_000);
    }
}
