//! The `chaos:` and `comparison:` sections: fault defaults, the FMEA
//! suite's keys, and the thresholds a version must meet to move on.

use serde::{Deserialize, Serialize};

use crate::domain::chaos::{ChaosSlo, FaultParams, ScenarioKind};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    pub slo: ChaosSlo,
    pub defaults: FaultParams,
    /// `false` refuses every chaos action, from the console and the CLI.
    pub enabled: bool,
    /// The suite `chaos --env E` runs; empty: every scenario the runtime offers.
    pub scenarios: Vec<ScenarioKind>,
    /// How long each fault lasts (`90s`, `5m`); when set, it wins over
    /// `defaults.duration_secs`.
    pub default_duration: Option<String>,
    /// Concurrent users the suite's load generator keeps busy (0: only the
    /// environment's own traffic).
    pub load_during_chaos: u32,
    /// A critical breach stops the suite and removes the fault at once.
    pub abort_on_critical_failure: bool,
    /// Seconds of metrics each scenario's baseline is taken over.
    pub baseline_secs: u64,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            slo: ChaosSlo::default(),
            defaults: FaultParams::default(),
            enabled: true,
            scenarios: Vec::new(),
            default_duration: None,
            load_during_chaos: 0,
            abort_on_critical_failure: false,
            baseline_secs: 5,
        }
    }
}

impl ChaosConfig {
    /// The fault parameters to use: `defaults`, with `default_duration`
    /// when it is set (checked when the config was loaded).
    pub fn params(&self) -> FaultParams {
        let mut p = self.defaults.clone();
        if let Some(secs) = self
            .default_duration
            .as_deref()
            .and_then(|d| crate::domain::duration::parse_whole_secs(d).ok())
        {
            p.duration_secs = secs;
        }
        p
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonConfig {
    /// New p95 may be at most this much worse than old, in percent.
    pub max_p95_regression_pct: f64,
    pub max_p99_regression_pct: f64,
    pub max_error_rate: f64,
    pub min_throughput_ratio: f64,
    pub auto_promote: bool,
    pub thresholds: ComparisonThresholds,
}

impl Default for ComparisonConfig {
    fn default() -> Self {
        ComparisonConfig {
            max_p95_regression_pct: 10.0,
            max_p99_regression_pct: 15.0,
            max_error_rate: 0.01,
            min_throughput_ratio: 0.95,
            auto_promote: false,
            thresholds: ComparisonThresholds::default(),
        }
    }
}

/// Absolute limits a version must meet to move on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonThresholds {
    /// `promote` refuses when the source environment's latest FMEA scored
    /// below this (0..=100), unless overridden with confirmation.
    pub min_resilience_score: f64,
}

impl Default for ComparisonThresholds {
    fn default() -> Self {
        ComparisonThresholds {
            min_resilience_score: 80.0,
        }
    }
}
