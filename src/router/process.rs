//! Process CPU and memory per version, as the runtime that owns the processes
//! sampled them, rendered on the router's `/metrics` with `env` and `version`
//! labels (the series the default Prometheus CPU and memory queries read).
//! The router measures nothing here itself: a version the runtime has not
//! sampled has no series.

use std::collections::BTreeMap;

use super::histogram::{write_header, write_sample};

const CPU_SECONDS: &str = "process_cpu_seconds_total";
const RESIDENT_BYTES: &str = "process_resident_memory_bytes";

/// What the runtime measured for the processes of one version.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessUsage {
    /// User + system CPU seconds of the version's processes since the
    /// runtime started watching them (only ever grows, a Prometheus counter).
    pub cpu_seconds_total: f64,
    /// Resident memory of the version's processes now, summed.
    pub resident_bytes: u64,
}

/// Append both families for `env`; nothing at all when no version was sampled.
pub(super) fn write_process_metrics(
    out: &mut String,
    env: &str,
    usage: &BTreeMap<String, ProcessUsage>,
) {
    if usage.is_empty() {
        return;
    }
    write_header(
        out,
        CPU_SECONDS,
        "counter",
        "User and system CPU seconds of the version's processes.",
    );
    for (version, u) in usage {
        write_sample(
            out,
            CPU_SECONDS,
            &[("env", env), ("version", version)],
            u.cpu_seconds_total,
        );
    }
    write_header(
        out,
        RESIDENT_BYTES,
        "gauge",
        "Resident memory of the version's processes, in bytes.",
    );
    for (version, u) in usage {
        write_sample(
            out,
            RESIDENT_BYTES,
            &[("env", env), ("version", version)],
            u.resident_bytes as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_per_sampled_version_with_env_and_version() {
        let mut usage = BTreeMap::new();
        usage.insert(
            "v1".to_string(),
            ProcessUsage {
                cpu_seconds_total: 1.25,
                resident_bytes: 31_457_280,
            },
        );
        usage.insert(
            "v2\"x".to_string(),
            ProcessUsage {
                cpu_seconds_total: 0.5,
                resident_bytes: 1024,
            },
        );
        let mut out = String::new();
        write_process_metrics(&mut out, "staging", &usage);
        let expected = "\
# HELP process_cpu_seconds_total User and system CPU seconds of the version's processes.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total{env=\"staging\",version=\"v1\"} 1.25
process_cpu_seconds_total{env=\"staging\",version=\"v2\\\"x\"} 0.5
# HELP process_resident_memory_bytes Resident memory of the version's processes, in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes{env=\"staging\",version=\"v1\"} 31457280
process_resident_memory_bytes{env=\"staging\",version=\"v2\\\"x\"} 1024
";
        assert_eq!(out, expected);
    }

    #[test]
    fn nothing_sampled_means_no_family_at_all() {
        let mut out = String::new();
        write_process_metrics(&mut out, "staging", &BTreeMap::new());
        assert_eq!(out, "");
    }
}
