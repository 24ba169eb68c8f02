//! The catalogue of chaos scenarios: which parameters each one reads and the
//! range each parameter must be in. Every runtime validates against this one
//! table; a runtime may only narrow it (its own CPU worker limit).

use serde::{Deserialize, Serialize};

use super::ScenarioKind;

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

/// The latency db-latency adds unless asked otherwise (the seed's 2 s).
pub const DB_LATENCY_DEFAULT_MS: u64 = 2000;
/// The latency network-latency adds unless asked otherwise (the seed's 500 ms).
pub const NETWORK_LATENCY_DEFAULT_MS: u64 = 500;
/// The share of traffic network-partition loses unless asked otherwise
/// (the seed's 50%); `rate: 1` cuts the service off entirely.
pub const PARTITION_DEFAULT_LOSS: f64 = 0.5;

impl FaultParams {
    /// These defaults as `kind` uses them, the seed's figures: db-latency
    /// adds [`DB_LATENCY_DEFAULT_MS`], network-latency
    /// [`NETWORK_LATENCY_DEFAULT_MS`], and network-partition loses
    /// [`PARTITION_DEFAULT_LOSS`] of the traffic, each unless the general
    /// default was changed (then that is what was asked for).
    pub fn for_scenario(mut self, kind: ScenarioKind) -> FaultParams {
        let d = FaultParams::default();
        match kind {
            ScenarioKind::DbLatency if self.latency_ms == d.latency_ms => {
                self.latency_ms = DB_LATENCY_DEFAULT_MS;
            }
            ScenarioKind::NetworkLatency if self.latency_ms == d.latency_ms => {
                self.latency_ms = NETWORK_LATENCY_DEFAULT_MS;
            }
            ScenarioKind::NetworkPartition if self.rate == d.rate => {
                self.rate = PARTITION_DEFAULT_LOSS;
            }
            _ => {}
        }
        self
    }
}

/// Longest fault, in seconds.
pub const MAX_FAULT_SECS: u64 = 3600;
/// Largest added latency, in ms.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;
/// Largest memory a memory-pressure fault holds, in MiB.
pub const MAX_FAULT_MEMORY_MIB: u64 = 16 * 1024;

/// One parameter a scenario reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    DurationSecs,
    LatencyMs,
    Rate,
    CpuWorkers,
    MemoryMib,
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::DurationSecs => "duration",
            Param::LatencyMs => "latency",
            Param::Rate => "rate",
            Param::CpuWorkers => "cpu_workers",
            Param::MemoryMib => "memory_mib",
        }
    }

    /// Whether `p` holds a usable value; the error names the range.
    fn check(self, p: &FaultParams, max_cpu_workers: u32) -> Result<(), String> {
        let in_range = |v: u64, max: u64, unit: &str| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{} must be 1..={max}{unit}, not {v}{unit}",
                    self.name()
                ))
            }
        };
        match self {
            Param::DurationSecs => in_range(p.duration_secs, MAX_FAULT_SECS, "s"),
            Param::LatencyMs => in_range(p.latency_ms, MAX_FAULT_LATENCY_MS, "ms"),
            Param::CpuWorkers => in_range(p.cpu_workers.into(), max_cpu_workers.into(), ""),
            Param::MemoryMib => in_range(p.memory_mib, MAX_FAULT_MEMORY_MIB, ""),
            Param::Rate if p.rate > 0.0 && p.rate <= 1.0 => Ok(()),
            Param::Rate => Err(format!("rate must be within (0, 1], not {}", p.rate)),
        }
    }
}

/// One catalogue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioSpec {
    pub kind: ScenarioKind,
    /// The parameters the scenario reads, each checked against its range.
    pub params: &'static [Param],
    /// The fault is a single act (a kill) rather than a state held for a
    /// duration; recovery is watched from the moment it is applied.
    pub instant: bool,
}

impl ScenarioSpec {
    /// The entry for `kind`.
    pub fn of(kind: ScenarioKind) -> ScenarioSpec {
        use Param::*;
        let params: &'static [Param] = match kind {
            ScenarioKind::PodKill => &[],
            ScenarioKind::NetworkLatency => &[DurationSecs, LatencyMs],
            ScenarioKind::ErrorInjection
            | ScenarioKind::ConnectionDrop
            | ScenarioKind::PacketLoss
            | ScenarioKind::NetworkPartition => &[DurationSecs, Rate],
            ScenarioKind::CpuStress => &[DurationSecs, CpuWorkers],
            ScenarioKind::MemoryPressure => &[DurationSecs, MemoryMib],
            ScenarioKind::DbLatency => &[DurationSecs, LatencyMs],
            ScenarioKind::KafkaDown
            | ScenarioKind::DbDown
            | ScenarioKind::DnsFailure
            | ScenarioKind::DependencyTimeout => &[DurationSecs],
        };
        ScenarioSpec {
            kind,
            params,
            instant: kind == ScenarioKind::PodKill,
        }
    }

    /// Whether `p` is usable for this scenario; `max_cpu_workers` is the
    /// runtime's own limit. The error names the parameter and its range.
    pub fn check(&self, p: &FaultParams, max_cpu_workers: u32) -> Result<(), String> {
        self.params
            .iter()
            .try_for_each(|param| param.check(p, max_cpu_workers))
    }
}

/// The whole catalogue, in `ScenarioKind::every()` order.
pub fn catalogue() -> Vec<ScenarioSpec> {
    ScenarioKind::every().map(ScenarioSpec::of).collect()
}

/// Whether `p` is usable for `scenario` (see `ScenarioSpec::check`).
pub fn check_params(
    scenario: ScenarioKind,
    p: &FaultParams,
    max_cpu_workers: u32,
) -> Result<(), String> {
    ScenarioSpec::of(scenario).check(p, max_cpu_workers)
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
            ..ok.clone()
        };
        assert!(check_params(ScenarioKind::MemoryPressure, &p, 8).is_err());
        let p = FaultParams {
            latency_ms: MAX_FAULT_LATENCY_MS + 1,
            ..ok
        };
        assert!(check_params(ScenarioKind::NetworkLatency, &p, 8)
            .unwrap_err()
            .contains("latency must be 1..=60000ms"));
    }

    #[test]
    fn seed_defaults_apply_unless_the_general_default_was_changed() {
        let d = FaultParams::default();
        assert_eq!(
            d.clone().for_scenario(ScenarioKind::DbLatency).latency_ms,
            2000
        );
        assert_eq!(
            d.clone()
                .for_scenario(ScenarioKind::NetworkLatency)
                .latency_ms,
            500
        );
        assert_eq!(
            d.clone().for_scenario(ScenarioKind::NetworkPartition).rate,
            0.5
        );
        assert_eq!(d.clone().for_scenario(ScenarioKind::PacketLoss).rate, 0.3);
        let cut = FaultParams {
            rate: 1.0,
            ..d.clone()
        };
        assert_eq!(cut.for_scenario(ScenarioKind::NetworkPartition).rate, 1.0);
        let asked = FaultParams {
            latency_ms: 800,
            ..d
        };
        assert_eq!(asked.for_scenario(ScenarioKind::DbLatency).latency_ms, 800);
    }

    #[test]
    fn catalogue_covers_every_scenario_once_and_only_pod_kill_is_instant() {
        let all = catalogue();
        assert_eq!(all.len(), ScenarioKind::every().count());
        for (spec, kind) in all.iter().zip(ScenarioKind::every()) {
            assert_eq!(spec.kind, kind);
            assert_eq!(spec.instant, kind == ScenarioKind::PodKill);
            assert_eq!(
                spec.params.contains(&Param::DurationSecs),
                !spec.instant,
                "{kind}"
            );
        }
    }
}
