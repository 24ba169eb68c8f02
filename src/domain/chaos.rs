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
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 5] = [
        ScenarioKind::PodKill,
        ScenarioKind::NetworkLatency,
        ScenarioKind::ErrorInjection,
        ScenarioKind::ConnectionDrop,
        ScenarioKind::CpuStress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::PodKill => "pod-kill",
            ScenarioKind::NetworkLatency => "network-latency",
            ScenarioKind::ErrorInjection => "error-injection",
            ScenarioKind::ConnectionDrop => "connection-drop",
            ScenarioKind::CpuStress => "cpu-stress",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ScenarioKind::PodKill => "kill one instance; the supervisor must bring it back",
            ScenarioKind::NetworkLatency => "add latency to every request at the router",
            ScenarioKind::ErrorInjection => "answer a share of requests with HTTP 503",
            ScenarioKind::ConnectionDrop => "close a share of connections without answering",
            ScenarioKind::CpuStress => "burn CPU next to the instances",
        }
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chaos scenario `{0}` (known: pod-kill, network-latency, error-injection, connection-drop, cpu-stress)")]
pub struct UnknownScenario(pub String);

impl FromStr for ScenarioKind {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScenarioKind::ALL
            .into_iter()
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
}

impl Default for FaultParams {
    fn default() -> Self {
        FaultParams {
            duration_secs: 30,
            latency_ms: 300,
            rate: 0.3,
            cpu_workers: 1,
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
    pub fn new(id: String, env: &str, scenario: ScenarioKind, params: FaultParams, now: EpochMillis) -> Self {
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
    pub fn observe(&mut self, now: EpochMillis, error_rate: f64, p99_ms: f64, errors: u64, instances_short: bool, slo: &ChaosSlo) {
        if matches!(self.state, ExperimentState::Completed | ExperimentState::Aborted) {
            return;
        }
        self.peak_error_rate = self.peak_error_rate.max(error_rate);
        self.peak_p99_ms = self.peak_p99_ms.max(p99_ms);
        self.failed_requests += errors;
        let impacted = error_rate > slo.max_error_rate || p99_ms > slo.max_p99_ms || instances_short;
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
                let still_impacted_after_fault = self.last_impact_at.is_some_and(|t| t >= fault_end);
                self.recovery_ms = Some(if still_impacted_after_fault { now - fault_end } else { 0 });
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
