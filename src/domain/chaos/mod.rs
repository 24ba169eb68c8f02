//! Chaos: the scenario kinds, the catalogue of their parameters and ranges,
//! the SLOs experiments are judged by, and the experiments themselves.

mod catalogue;
mod experiment;
mod fmea;
mod gate;
mod scenario;
mod scorecard;
mod shutdown;
mod slo;

pub use catalogue::{
    catalogue, check_params, FaultParams, Param, ScenarioSpec, DB_LATENCY_DEFAULT_MS,
    MAX_FAULT_LATENCY_MS, MAX_FAULT_MEMORY_MIB, MAX_FAULT_SECS,
};
pub use experiment::{Experiment, ExperimentResult, ExperimentState};
pub use fmea::{
    combine_versions, expected_behaviour, resilience_score, weight, with_suite_figures,
    CheckOutcome, ExpectedCheck, Figures, Observed, RequestFigures, ScenarioResult,
    ScenarioVerdict, Severity, Tolerance,
};
pub use gate::{resilience_gate, Gate, LastScore};
pub use scenario::{ScenarioKind, UnknownScenario};
pub use scorecard::{merge, mitigations_for, Basis, Finding, Practice, PracticeCheck, Scorecard};
pub use shutdown::SigtermStop;
pub use slo::{ChaosSlo, SloCheck, SloMetric};
