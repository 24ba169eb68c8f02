//! `blissful-infra compare` end to end: the real binary starts its own
//! comparison sandbox (real sample-service processes, routers on ephemeral
//! ports) in a temporary state directory, drives load and decides.
//!
//! Every run sets a unique marker variable on the command; instances inherit
//! it, so after the run no process on the machine may still carry it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod compare_common;

use compare_common::*;

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
    // One point a second per side, for the console's sparklines.
    for side in ["old", "new"] {
        let pts = doc["series"][side].as_array().unwrap();
        assert!(!pts.is_empty(), "{side}: {doc:#}");
        assert!(
            pts.iter().any(|p| p["rps"].as_f64().unwrap() > 0.0),
            "{doc:#}"
        );
    }
    let new_p95 = |side: &str| {
        doc["series"][side]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["p95_ms"].as_f64().unwrap())
            .fold(0.0, f64::max)
    };
    assert!(new_p95("new") > new_p95("old") + 40.0, "{doc:#}");
}

/// The path the console's `C` takes: `compare::run` with a watcher gets the
/// stages in order and live points of both sides before the report.
#[test]
fn the_console_path_streams_stages_and_points() {
    use blissful_infra::compare::{
        run, CompareArgs, CompareContext, CompareEvent, Side, Watcher, STAGES,
    };
    use blissful_infra::domain::pipeline::StageStatus;
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("blissful-infra.yaml");
    std::fs::write(&cfg_path, CONFIG).unwrap();
    let config = blissful_infra::config::Config::load(&cfg_path).unwrap();
    let ctx = CompareContext {
        config,
        config_dir: dir.path().to_path_buf(),
        service_program: BIN.into(),
        state: blissful_infra::paths::StatePaths::at(dir.path().join("state")),
        read_only: false,
    };
    let mut args = CompareArgs::for_versions("v1", "slow", None);
    args.duration = Some(Duration::from_secs(3));
    args.warmup = Some(Duration::from_millis(1500));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (report, events) = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut sink = std::io::sink();
        let report = run(&args, &ctx, &Watcher::new(tx), &mut sink).await;
        let mut events = Vec::new();
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        (report, events)
    });
    let report = report.expect("the comparison ran");
    assert_eq!(report.assessment.verdict.label(), "old wins");
    let ended: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            CompareEvent::StageEnded { index, status, .. } => {
                assert!(
                    *index == STAGES.len() - 1 || *status == StageStatus::Succeeded,
                    "{e:?}"
                );
                Some(*index)
            }
            _ => None,
        })
        .collect();
    assert_eq!(ended, (0..STAGES.len()).collect::<Vec<_>>(), "{events:?}");
    for side in [Side::Old, Side::New] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, CompareEvent::Point { side: s, point } if *s == side && point.rps > 0.0)),
            "no live point for {side:?}: {events:?}"
        );
    }
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

/// A project with its own service: `--old`/`--new` are git refs, each built
/// and run from its own worktree; the regressed commit loses and no worktree
/// is left behind.
#[test]
fn git_refs_are_compared_from_worktrees() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let builds = dir.path().join("builds.log");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    let config = format!(
        "project: git-compare
environments:
  - name: staging
    replicas: 1
service:
  command: exec {BIN} sample-service --port $PORT --version $VERSION --latency-ms $(cat latency.txt)
  build: test -f latency.txt && pwd >> {}
",
        builds.display()
    );
    std::fs::write(repo.join("blissful-infra.yaml"), config).unwrap();
    std::fs::write(repo.join("latency.txt"), "0\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "fast"]);
    git(&["tag", "fast"]);
    std::fs::write(repo.join("latency.txt"), "60\n").unwrap();
    git(&["commit", "-q", "-am", "slow"]);
    let head = git(&["rev-parse", "--short=7", "HEAD"]);

    let out = Command::new(BIN)
        .args([
            "compare", "--old", "fast", "--new", "HEAD", "-d", "3s", "--warmup", "1s",
        ])
        .args(["-o", "json", "--config"])
        .arg(repo.join("blissful-infra.yaml"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("BLISSFUL_INFRA_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(1), "{doc:#}\n{stderr}");
    assert_eq!(doc["assessment"]["verdict"], "old_wins", "{doc:#}");
    assert!(
        doc["old"]["version"].as_str().unwrap().starts_with("fast-"),
        "{doc:#}"
    );
    assert_eq!(doc["new"]["version"], format!("HEAD-{head}"), "{doc:#}");
    assert!(
        row(&doc, "p95_ms")["diff"].as_f64().unwrap() > 40.0,
        "{doc:#}"
    );
    // Both sides were built, each in its own worktree.
    let built = std::fs::read_to_string(&builds).unwrap();
    let dirs: Vec<&str> = built.lines().collect();
    assert_eq!(dirs.len(), 2, "{built}");
    assert!(
        dirs[0].ends_with("worktrees/old") && dirs[1].ends_with("worktrees/new"),
        "{built}"
    );
    // Nothing is left: no worktree in git's list, no directory.
    let list = git(&["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    for d in dirs {
        assert!(!Path::new(d).exists(), "{d} is still there");
    }

    // A name that is no ref of the repository is refused before anything starts.
    let out = Command::new(BIN)
        .args([
            "compare",
            "--old",
            "no-such-ref",
            "--new",
            "HEAD",
            "--config",
        ])
        .arg(repo.join("blissful-infra.yaml"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("BLISSFUL_INFRA_STATE_DIR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a git ref"));
}
