//! Shared by the `compare` end-to-end tests: the binary, the config, the
//! marker that finds every process a run started, and the cleanup check.
#![allow(dead_code)] // each test binary uses a part

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
pub const MARKER_VAR: &str = "BLISSFUL_COMPARE_TEST_MARKER";

/// One comparison at a time: two sandboxes at once on a 2-core machine would
/// turn the latency measurements into a test of the scheduler.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const CONFIG: &str = "\
project: compare-test
environments:
  - name: staging
    replicas: 1
service:
  versions:
    slow:
      latency_ms: 60
";

pub fn marker(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

pub fn command(dir: &Path, marker: &str, args: &[&str]) -> Command {
    command_with(dir, marker, CONFIG, args)
}

pub fn command_with(dir: &Path, marker: &str, config: &str, args: &[&str]) -> Command {
    let cfg = dir.join("blissful-infra.yaml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("compare")
        .arg("--config")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .env(MARKER_VAR, marker)
        .env_remove("BLISSFUL_INFRA_STATE_DIR")
        .stdin(Stdio::null());
    cmd
}

/// Pids of live processes whose environment carries `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false);
        if !zombie && env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Nothing of the run is left: no process, no `compare-*` directory.
pub fn assert_cleaned_up(dir: &Path, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = dir.join("state");
    let leftovers: Vec<String> = std::fs::read_dir(&state)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("compare-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "temp state left: {leftovers:?}");
}

pub fn row<'a>(doc: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    doc["assessment"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .unwrap_or_else(|| panic!("no row {metric}: {doc:#}"))
}
