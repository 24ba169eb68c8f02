//! The resilience scorecard: the seed's checklist of practices, each
//! backed by a check that was run or a file that was read (and saying
//! which), and the mitigations that bear on each failure mode. Nothing
//! here reads files or the network; the suite gathers the findings.

use serde::{Deserialize, Serialize};

use super::ScenarioKind;

/// A resilience practice of the seed's checklist (plus the disruption
/// budget, which only bears on pod-kill).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Practice {
    CircuitBreakers,
    RetryLogic,
    HealthChecks,
    GracefulShutdown,
    Caching,
    Bulkheads,
    RateLimiting,
    DisruptionBudget,
}

impl Practice {
    /// The checklist, in the seed's order.
    pub const CHECKLIST: [Practice; 7] = [
        Practice::CircuitBreakers,
        Practice::RetryLogic,
        Practice::HealthChecks,
        Practice::GracefulShutdown,
        Practice::Caching,
        Practice::Bulkheads,
        Practice::RateLimiting,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Practice::CircuitBreakers => "circuit breakers",
            Practice::RetryLogic => "retry logic",
            Practice::HealthChecks => "health checks",
            Practice::GracefulShutdown => "graceful shutdown",
            Practice::Caching => "caching",
            Practice::Bulkheads => "bulkheads",
            Practice::RateLimiting => "rate limiting",
            Practice::DisruptionBudget => "disruption budget",
        }
    }

    /// The practices that mitigate `scenario`'s failure mode.
    pub fn mitigating(scenario: ScenarioKind) -> &'static [Practice] {
        use Practice::*;
        match scenario {
            ScenarioKind::PodKill => &[HealthChecks, DisruptionBudget, GracefulShutdown],
            ScenarioKind::DependencyTimeout
            | ScenarioKind::DbDown
            | ScenarioKind::KafkaDown
            | ScenarioKind::DbLatency => &[CircuitBreakers, RetryLogic, Bulkheads],
            ScenarioKind::DnsFailure => &[Caching, RetryLogic],
            ScenarioKind::NetworkLatency
            | ScenarioKind::NetworkPartition
            | ScenarioKind::PacketLoss
            | ScenarioKind::ConnectionDrop
            | ScenarioKind::ErrorInjection => &[RetryLogic, CircuitBreakers],
            ScenarioKind::CpuStress | ScenarioKind::MemoryPressure => {
                &[RateLimiting, Bulkheads, HealthChecks]
            }
        }
    }
}

/// How a finding was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Seen in the running service: a metric it exports, its log lines.
    Measured,
    /// Read from the project's files: code, manifests, compose.
    Read,
}

impl Basis {
    pub fn label(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::Read => "read",
        }
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The practice is there; `evidence` says where (`app/resilience.py:18`).
    Present { basis: Basis, evidence: String },
    /// Looked for and not found; `looked` says what was searched.
    Absent { looked: String },
    /// No check could decide it; never counted as present.
    NotChecked { why: String },
}

/// One practice with its finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PracticeCheck {
    pub practice: Practice,
    #[serde(flatten)]
    pub finding: Finding,
}

impl PracticeCheck {
    pub fn present(&self) -> bool {
        matches!(self.finding, Finding::Present { .. })
    }

    /// `circuit breakers: measured (circuit_breaker_state on :8080)`.
    pub fn describe(&self) -> String {
        let what = match &self.finding {
            Finding::Present { basis, evidence } => format!("{} ({evidence})", basis.label()),
            Finding::Absent { looked } => format!("missing (looked in {looked})"),
            Finding::NotChecked { why } => format!("not checked ({why})"),
        };
        format!("{}: {what}", self.practice.label())
    }

    /// One word for a table cell: `yes`, `no` or `?`.
    pub fn mark(&self) -> &'static str {
        match self.finding {
            Finding::Present { .. } => "yes",
            Finding::Absent { .. } => "no",
            Finding::NotChecked { .. } => "?",
        }
    }
}

/// Several findings of one practice (a measurement and a read) merged into
/// one: a measurement wins over a read, anything present over absent,
/// absent over not checked.
pub fn merge(practice: Practice, found: &[Finding]) -> PracticeCheck {
    let rank = |f: &Finding| match f {
        Finding::Present {
            basis: Basis::Measured,
            ..
        } => 3,
        Finding::Present { .. } => 2,
        Finding::Absent { .. } => 1,
        Finding::NotChecked { .. } => 0,
    };
    let finding = found
        .iter()
        .max_by_key(|f| rank(f))
        .cloned()
        .unwrap_or_else(|| Finding::NotChecked {
            why: "no check covers it".into(),
        });
    PracticeCheck { practice, finding }
}

/// The checklist with the weighted pass rate of the scenarios.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// 0..=100; `None` when no scenario was decided by a measurement.
    pub score: Option<f64>,
    pub checklist: Vec<PracticeCheck>,
}

impl Scorecard {
    /// `4/7 practices seen`.
    pub fn tally(&self) -> String {
        let seen = self.checklist.iter().filter(|c| c.present()).count();
        format!("{seen}/{} practices seen", self.checklist.len())
    }
}

/// The findings that bear on `scenario`, out of everything found.
pub fn mitigations_for(scenario: ScenarioKind, all: &[PracticeCheck]) -> Vec<PracticeCheck> {
    Practice::mitigating(scenario)
        .iter()
        .filter_map(|p| all.iter().find(|c| c.practice == *p).cloned())
        .collect()
}

#[cfg(test)]
mod tests;
