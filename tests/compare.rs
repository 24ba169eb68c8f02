//! `blissful-infra compare` end to end: the real binary starts its own
//! comparison sandbox (real sample-service processes, routers on ephemeral
//! ports) in a temporary state directory, drives load and decides.
//!
//! Every run sets a unique marker variable on the command; instances inherit
//! it, so after the run no process on the machine may still carry it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const MARKER_VAR: &str = "BLISSFUL_COMPARE_TEST_MARKER";

/// One comparison at a time: two sandboxes at once on a 2-core machine would
/// turn the latency measurements into a test of the scheduler.
static SERIAL: Mutex<()> = Mutex::new(());

const CONFIG: &str = "\
project: compare-test
environments:
  - name: staging
    replicas: 1
service:
  versions:
    slow:
      latency_ms: 60
";

fn marker(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn command(dir: &Path, marker: &str, args: &[&str]) -> Command {
    let cfg = dir.join("blissful-infra.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
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
fn processes_with(marker: &str) -> Vec<u32> {
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
fn assert_cleaned_up(dir: &Path, marker: &str) {
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

fn run_json(old: &str, new: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = marker("run");
    let mut args = vec![
        "--old",
        old,
        "--new",
        new,
        "--duration",
        "3s",
        "--warmup",
        "500ms",
        "--concurrency",
        "4",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = command(dir.path(), &m, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}); exit {code}; stderr:\n{stderr}"));
    assert_cleaned_up(dir.path(), &m);
    (code, doc)
}

fn row<'a>(doc: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    doc["assessment"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .unwrap_or_else(|| panic!("no row {metric}: {doc:#}"))
}

#[test]
fn a_slower_new_version_loses() {
    let (code, doc) = run_json("v1", "slow", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["assessment"]["verdict"], "old_wins", "{doc:#}");
    assert_eq!(doc["assessment"]["thresholds_passed"], false);
    let p95 = row(&doc, "p95_ms");
    assert_eq!(p95["passed"], false, "{doc:#}");
    // 60 ms added per request: the difference must show, whatever the noise.
    assert!(p95["diff"].as_f64().unwrap() > 40.0, "{doc:#}");
    assert!(doc["evidence"]["mann_whitney"]["p_value"].as_f64().unwrap() < 0.05);
    let ci = &doc["evidence"]["p95_diff_ci_ms"];
    assert!(ci["low"].as_f64().unwrap() > 0.0, "{doc:#}");
    assert!(doc["old"]["samples"].as_u64().unwrap() > 0);
    assert!(doc["new"]["samples"].as_u64().unwrap() > 0);
    assert!(doc["old"]["samples"].as_u64().unwrap() <= 10_000);
    assert_eq!(doc["old"]["version"], "v1");
    assert_eq!(doc["new"]["version"], "slow");
    assert_eq!(doc["promotion"]["promoted"], false);
}

#[test]
fn two_healthy_versions_show_no_significant_difference() {
    let (code, doc) = run_json("v1", "v2", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["assessment"]["verdict"], "no_significant_difference",
        "{doc:#}"
    );
    assert_eq!(doc["assessment"]["thresholds_passed"], true);
    for metric in ["p95_ms", "p99_ms", "throughput_rps", "error_rate"] {
        assert_eq!(row(&doc, metric)["passed"], true, "{metric}: {doc:#}");
    }
    assert_eq!(doc["old"]["errors"], 0);
    assert!(doc["old"]["requests"].as_u64().unwrap() > 100, "{doc:#}");
    assert!(doc["new"]["requests"].as_u64().unwrap() > 100, "{doc:#}");
    // CPU and memory come from the runtime's metric points in the window.
    let mem = doc["old"]["mem_mib"].as_f64();
    assert!(mem.is_some_and(|m| m > 0.0), "{doc:#}");
}

#[test]
fn bad_flags_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker("usage");
    let out = command(dir.path(), &m, &["--old", "v1;reboot", "--new", "v2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a version name"));
    assert_cleaned_up(dir.path(), &m);
}

#[test]
fn ctrl_c_tears_everything_down() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = marker("sigint");
    let mut child = command(
        dir.path(),
        &m,
        &["--old", "v1", "--new", "v2", "--duration", "60s"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Wait until load runs (the instances exist), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(Instant::now() < deadline, "compare never became Ready");
        match lines.next() {
            Some(Ok(l)) if l.contains("both Ready") => break,
            Some(Ok(_)) => {}
            other => panic!("stderr ended early: {other:?}"),
        }
    }
    // One instance per environment, besides the compare process itself.
    let instances: Vec<u32> = processes_with(&m)
        .into_iter()
        .filter(|p| *p != child.id())
        .collect();
    assert!(
        instances.len() >= 2,
        "instances should be running before the interrupt: {instances:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let waited = Instant::now();
    let status = child.wait().unwrap();
    assert!(waited.elapsed() < Duration::from_secs(15));
    assert_eq!(status.code(), Some(130));
    assert_cleaned_up(dir.path(), &m);
}

#[test]
fn chaos_is_injected_into_both_sides() {
    let (_code, doc) = run_json("v1", "v2", &["--chaos", "pod-kill"]);
    let lines = doc["chaos"].as_array().unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(lines.len(), 2, "{doc:#}");
    for (line, env) in lines.iter().zip(["compare-old", "compare-new"]) {
        assert_eq!(line["env"], env);
        assert_eq!(line["scenario"], "pod-kill");
        assert!(line["experiment_id"].is_string(), "{doc:#}");
        assert_ne!(line["state"], "not_started", "{doc:#}");
        assert!(line["error"].is_null(), "{doc:#}");
    }
}

/// Stops the background sandbox even when an assertion fails.
struct Daemon<'a> {
    dir: &'a Path,
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .arg("down")
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .output();
    }
}

#[test]
fn a_clear_win_is_promoted_when_the_config_allows_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blissful-infra.yaml");
    std::fs::write(
        &cfg,
        format!("{CONFIG}comparison:\n  auto_promote: true\n")
            .replace("replicas: 1", "replicas: 1\n    initial_version: v2"),
    )
    .unwrap();
    let up = Command::new(BIN)
        .args(["up", "--config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let _daemon = Daemon { dir: dir.path() };
    assert_eq!(up.status.code(), Some(0), "{up:?}");

    let m = marker("promote");
    let out = Command::new(BIN)
        .args([
            "compare", "--old", "slow", "--new", "v1", "--env", "staging",
        ])
        .args(["--duration", "3s", "--warmup", "500ms", "-o", "json"])
        .arg("--config")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env(MARKER_VAR, &m)
        .env_remove("BLISSFUL_INFRA_STATE_DIR")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["assessment"]["verdict"], "new_wins", "{doc:#}");
    assert_eq!(doc["promotion"]["promoted"], true, "{doc:#}");
    assert!(doc["promotion"]["message"]
        .as_str()
        .unwrap()
        .contains("pipeline"));
    assert_cleaned_up(dir.path(), &m);

    // The running sandbox got the deploy: v1 is now its canary (or stable).
    let status = Command::new(BIN)
        .args(["status", "-o", "json", "--state-dir"])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("\"v1\""), "{text}");
}
