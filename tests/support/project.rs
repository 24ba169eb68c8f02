//! Sandbox project configs for the tests that run the real binary.

use std::fmt::Write;

/// A sandbox project named `project`: each of `envs` (a name and the version
/// it starts on, if not the default) runs one instance on ephemeral ports,
/// traffic comes at `rate_per_sec`, and a rollout holds its 50% step for
/// `hold_secs` before it goes to 100% for a second.
pub fn sandbox_config(
    project: &str,
    envs: &[(&str, Option<&str>)],
    rate_per_sec: u32,
    hold_secs: u64,
) -> String {
    let mut yaml = format!("project: {project}\nenvironments:\n");
    for (name, version) in envs {
        let version = version
            .map(|v| format!(", initial_version: {v}"))
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = writeln!(
            yaml,
            "  - {{ name: {name}, replicas: 1, router_port: 0, metrics_port: 0{version} }}"
        );
    }
    let _ = write!(
        yaml,
        "traffic:\n  rate_per_sec: {rate_per_sec}\nrollout:\n  steps:\n    - {{ weight: 50, pause_secs: {hold_secs} }}\n    - {{ weight: 100, pause_secs: 1 }}\n"
    );
    yaml
}
