//! The `chaos:` and `comparison:` sections: fault defaults, the FMEA
//! suite's keys, and the thresholds a version must meet to move on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::chaos::{ChaosSlo, FaultParams, ScenarioKind};
use crate::domain::comparison::{Limits, Metric, Rules};
use crate::domain::duration::parse_duration;

/// Who makes the faults. `auto` is each runtime's own way: the fault engine
/// for the sandbox and Docker, Chaos Mesh resources on Kubernetes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChaosTool {
    #[default]
    Auto,
    /// Chaos Mesh resources: Kubernetes only.
    ChaosMesh,
    /// blissful-infra's own fault engine (proxies, netem, signals): the
    /// sandbox and Docker.
    Builtin,
}

impl ChaosTool {
    pub fn name(self) -> &'static str {
        match self {
            ChaosTool::Auto => "auto",
            ChaosTool::ChaosMesh => "chaos-mesh",
            ChaosTool::Builtin => "builtin",
        }
    }
}

/// The seed's spelling of the chaos SLOs (`chaos.slos`), in percent and
/// seconds; folded into `chaos.slo` when the file is loaded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedSlos {
    pub max_error_rate_percent: Option<f64>,
    pub max_p99_latency_ms: Option<f64>,
    pub max_recovery_time_s: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    pub slo: ChaosSlo,
    /// The seed's spelling of `slo`; see [`SeedSlos`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slos: Option<SeedSlos>,
    pub tool: ChaosTool,
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
            slos: None,
            tool: ChaosTool::Auto,
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
    /// Move the seed's `slos:` into `slo` (a fraction, ms, seconds); the
    /// loader calls it once the values were checked.
    pub fn fold_seed_slos(&mut self) {
        let Some(s) = self.slos.take() else { return };
        if let Some(p) = s.max_error_rate_percent {
            self.slo.max_error_rate = p / 100.0;
        }
        if let Some(ms) = s.max_p99_latency_ms {
            self.slo.max_p99_ms = ms;
        }
        if let Some(secs) = s.max_recovery_time_s {
            self.slo.max_recovery_secs = secs;
        }
    }

    /// Why this project refuses chaos on `runtime` (its name, e.g.
    /// `sandbox` or `kubernetes (ctx)`), naming the key to change; `None`
    /// when chaos may run.
    pub fn refusal(&self, runtime: &str) -> Option<String> {
        if !self.enabled {
            return Some("chaos is disabled for this project (chaos.enabled: false)".into());
        }
        let kubernetes = runtime.starts_with("kubernetes");
        match self.tool {
            ChaosTool::ChaosMesh if !kubernetes => Some(format!(
                "chaos.tool: chaos-mesh makes faults as Chaos Mesh resources, which needs \
                 runtime: kubernetes; the {runtime} runtime uses blissful-infra's own fault \
                 engine (chaos.tool: builtin or auto)"
            )),
            ChaosTool::Builtin if kubernetes => Some(
                "chaos.tool: builtin is blissful-infra's own fault engine for the sandbox and \
                 Docker; on Kubernetes faults are Chaos Mesh resources (chaos.tool: chaos-mesh \
                 or auto)"
                    .into(),
            ),
            _ => None,
        }
    }

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
    /// `compare --warmup` when the flag is not given (`2s`, `90s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_duration: Option<String>,
    /// `compare --duration` when the flag is not given (`10s`, `5m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_duration: Option<String>,
    /// `compare --concurrency` when the flag is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_users: Option<usize>,
    /// Run the FMEA suite against each version after measuring; the new
    /// version's score is judged against `thresholds.min_resilience_score`.
    pub include_chaos: bool,
    /// The metrics whose failure fails the comparison; a failure of another
    /// is a warning. Not set: every metric is critical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical_metrics: Option<Vec<Metric>>,
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
            warmup_duration: None,
            test_duration: None,
            concurrent_users: None,
            include_chaos: false,
            critical_metrics: None,
        }
    }
}

/// Built-in `compare` defaults when neither a flag nor the config says.
pub const COMPARE_WARMUP: Duration = Duration::from_secs(2);
pub const COMPARE_DURATION: Duration = Duration::from_secs(10);
pub const COMPARE_USERS: usize = 4;

impl ComparisonConfig {
    /// `warmup_duration`, or the built-in 2s (checked when loaded).
    pub fn warmup(&self) -> Duration {
        self.warmup_duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(COMPARE_WARMUP)
    }

    /// `test_duration`, or the built-in 10s (checked when loaded).
    pub fn duration(&self) -> Duration {
        self.test_duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(COMPARE_DURATION)
    }

    /// `concurrent_users`, or the built-in 4.
    pub fn users(&self) -> usize {
        self.concurrent_users.unwrap_or(COMPARE_USERS)
    }

    /// The rules a verdict is judged by.
    pub fn rules(&self) -> Rules {
        let t = &self.thresholds;
        Rules {
            relative: crate::domain::comparison::ComparisonThresholds {
                max_p95_regression_pct: self.max_p95_regression_pct,
                max_p99_regression_pct: self.max_p99_regression_pct,
                max_error_rate: self.max_error_rate,
                min_throughput_ratio: self.min_throughput_ratio,
            },
            limits: Limits {
                p95_latency_ms: t.p95_latency_ms,
                p99_latency_ms: t.p99_latency_ms,
                min_throughput_rps: t.min_throughput_rps,
                max_error_rate_percent: t.max_error_rate_percent,
                max_cpu_percent: t.max_cpu_percent,
                max_memory_mb: t.max_memory_mb,
                min_resilience_score: self.include_chaos.then_some(t.min_resilience_score),
            },
            critical: self.critical_metrics.clone().unwrap_or_default(),
        }
    }
}

/// Limits a version must meet to move on, whatever the other version did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonThresholds {
    /// `promote` refuses when the source environment's latest FMEA scored
    /// below this (0..=100), unless overridden with confirmation; `compare`
    /// with `include_chaos` judges the new version's score by it.
    pub min_resilience_score: f64,
    /// The new version's p95, ms, at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_latency_ms: Option<f64>,
    /// The new version's throughput, requests per second, at least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_throughput_rps: Option<f64>,
    /// The new version's error rate, percent, at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error_rate_percent: Option<f64>,
    /// Mean CPU of the new version's instances in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cpu_percent: Option<f64>,
    /// Mean memory, megabytes (10^6 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<f64>,
}

impl Default for ComparisonThresholds {
    fn default() -> Self {
        ComparisonThresholds {
            min_resilience_score: 80.0,
            p95_latency_ms: None,
            p99_latency_ms: None,
            min_throughput_rps: None,
            max_error_rate_percent: None,
            max_cpu_percent: None,
            max_memory_mb: None,
        }
    }
}
