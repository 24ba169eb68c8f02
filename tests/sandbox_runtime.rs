//! End-to-end tests of the sandbox runtime: real child processes of the
//! built `blissful-infra sample-service`, real routers on 127.0.0.1 (ephemeral
//! ports), real journals in a temporary state directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use blissful_infra::config::Config;
use blissful_infra::domain::analysis::{Metric, Outcome};
use blissful_infra::domain::chaos::{ExperimentState, FaultParams, ScenarioKind};
use blissful_infra::domain::environment::{EnvironmentStatus, Health, InstancePhase, Version};
use blissful_infra::domain::pipeline::{PipelineRun, StageStatus};
use blissful_infra::domain::rollout::{CanaryPlan, CanaryStep};
use blissful_infra::faults::{FaultRecord, Journal, ProcessRef};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::read_audit_journal;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, RuntimeEvent, SharedRuntime};
use blissful_infra::sandbox::fault_steps::SandboxUndo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENV: &str = "staging";

/// The records of the sandbox's fault journal.
fn fault_records(path: &std::path::Path) -> Vec<FaultRecord<SandboxUndo>> {
    Journal::at(path).read().unwrap()
}

/// The audit journal's outcome entries (without the `requested` ones
/// written before each change).
fn outcomes(state: &StatePaths) -> Vec<blissful_infra::domain::audit::AuditEntry> {
    read_audit_journal(&state.audit_journal())
        .unwrap()
        .into_iter()
        .filter(|e| e.outcome != blissful_infra::runtime::audited::REQUESTED)
        .collect()
}

fn config(replicas: u32, steps: &[(u8, u64)]) -> Config {
    let mut c = support::sandbox::one_env(ENV, replicas);
    c.rollout.steps = CanaryPlan {
        steps: steps
            .iter()
            .map(|&(weight, pause_secs)| CanaryStep { weight, pause_secs })
            .collect(),
    };
    c.rollout.analysis.min_samples = 5;
    // A busy 2-core test machine must not fail a healthy canary on jitter.
    c.rollout.analysis.latency_slack_ms = 100.0;
    c.rollout.max_extensions = 6;
    c.chaos.slo.max_recovery_secs = 20;
    c
}

struct Sandbox {
    /// Wrapped as the owning process wraps it: read-only (when asked), audited.
    rt: SharedRuntime,
    state: StatePaths,
    _dir: tempfile::TempDir,
}

async fn start(cfg: Config, read_only: bool) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    start_in(cfg, read_only, dir).await
}

async fn start_in(cfg: Config, read_only: bool, dir: tempfile::TempDir) -> Sandbox {
    let (rt, state) = support::sandbox::start(cfg, dir.path(), read_only).await;
    Sandbox {
        rt,
        state,
        _dir: dir,
    }
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

async fn env_status(rt: &dyn Runtime) -> EnvironmentStatus {
    rt.status()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == ENV)
        .unwrap()
}

async fn wait_status(
    rt: &dyn Runtime,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&EnvironmentStatus) -> bool,
) -> EnvironmentStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let s = env_status(rt).await;
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_healthy(rt: &dyn Runtime) -> EnvironmentStatus {
    wait_status(rt, "a healthy environment", Duration::from_secs(20), |s| {
        s.health == Health::Healthy
    })
    .await
}

async fn wait_pipeline(rt: &dyn Runtime, id: u64, timeout: Duration) -> PipelineRun {
    let deadline = Instant::now() + timeout;
    loop {
        let h = rt.history().await.unwrap();
        let run = h.pipelines.iter().find(|p| p.id == id).cloned();
        if let Some(run) = run.filter(|r| r.finished_at.is_some()) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "pipeline #{id} did not finish; history: {h:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tiny HTTP/1.1 client: status and the `x-served-by-version` header.
async fn get(addr: &str, path: &str) -> Result<(u16, Option<String>), String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(1 << 20)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let version = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("x-served-by-version")
            .then(|| v.trim().to_string())
    });
    Ok((status, version))
}

/// Versions that served `n` requests.
async fn served_by(addr: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, v) = get(addr, "/hello").await.unwrap();
        assert_eq!(status, 200, "served by {v:?}");
        out.push(v.unwrap_or_default());
    }
    out
}

fn count(v: &[String], version: &str) -> usize {
    v.iter().filter(|x| *x == version).count()
}

fn pid_alive(pid: u32) -> bool {
    ProcessRef {
        pid,
        start_time: None,
        cmdline: vec![],
    }
    .is_alive()
}

async fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| pid_alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} outlived the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[path = "sandbox_runtime/faults.rs"]
mod faults;
#[path = "sandbox_runtime/modes.rs"]
mod modes;
#[path = "sandbox_runtime/rollouts.rs"]
mod rollouts;

#[path = "sandbox_runtime/memory_limit.rs"]
mod memory_limit;
