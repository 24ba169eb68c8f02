//! Chaos: the scenario kinds, the catalogue of their parameters and ranges,
//! the SLOs experiments are judged by, and the experiments themselves.

mod catalogue;
mod experiment;
mod scenario;
mod slo;

pub use catalogue::{
    catalogue, check_params, FaultParams, Param, ScenarioSpec, DB_LATENCY_DEFAULT_MS,
    MAX_FAULT_LATENCY_MS, MAX_FAULT_MEMORY_MIB, MAX_FAULT_SECS,
};
pub use experiment::{Experiment, ExperimentResult, ExperimentState};
pub use scenario::{ScenarioKind, UnknownScenario};
pub use slo::{ChaosSlo, SloCheck, SloMetric};
