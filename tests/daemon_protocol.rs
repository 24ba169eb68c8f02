//! The control socket end to end: a real Unix socket in a temp dir, served
//! by `ControlServer` over `RecordingRuntime` (a deterministic in-memory test
//! double defined below), driven by `RemoteRuntime` and the CLI runners.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use blissful_infra::cli::commands::{self, LogsOptions, Streams};
use blissful_infra::cli::output::{format_log_line, status_table, LogStyle};
use blissful_infra::cli::{self, exit, OutputMode};
use blissful_infra::daemon::protocol::Reply;
use blissful_infra::daemon::{
    is_running, run_headless, ControlServer, DaemonError, RemoteRuntime, ServerInfo,
};
use blissful_infra::domain::analysis::{analyze, Thresholds, Verdict, VersionSample};
use blissful_infra::domain::chaos::{
    Experiment, ExperimentResult, ExperimentState, FaultParams, ScenarioKind,
};
use blissful_infra::domain::environment::{
    EnvironmentStatus, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use blissful_infra::runtime::{
    ActionAccepted, Actor, Capabilities, DeliveryMode, History, Intent, IntentKind,
    RecordedVerdict, RolloutOutcome, Runtime, RuntimeError, RuntimeEvent, SharedRuntime,
};

#[path = "daemon_protocol/recording.rs"]
mod recording;
use recording::*;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    runtime: Arc<RecordingRuntime>,
    stop: watch::Sender<bool>,
    shutdown_requested: watch::Receiver<bool>,
    task: JoinHandle<Result<(), DaemonError>>,
}

async fn start(runtime: RecordingRuntime) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    start_at(dir, path, runtime).await
}

async fn start_at(dir: tempfile::TempDir, path: PathBuf, runtime: RecordingRuntime) -> Harness {
    let runtime = Arc::new(runtime);
    let shared: SharedRuntime = runtime.clone();
    let server = ControlServer::bind(&path, shared, ServerInfo::new("recording", "demo"))
        .await
        .unwrap();
    let shutdown_requested = server.shutdown_requested();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(server.serve(stop_rx));
    Harness {
        _dir: dir,
        path,
        runtime,
        stop,
        shutdown_requested,
        task,
    }
}

impl Harness {
    async fn remote(&self) -> SharedRuntime {
        Arc::new(RemoteRuntime::connect(&self.path).await.unwrap())
    }
}

fn actor() -> Actor {
    Actor {
        user: "ana".into(),
        via: "cli".into(),
    }
}

/// Run a CLI command with captured stdout/stderr: (exit code, out, err).
macro_rules! run {
    ($mode:expr, |$s:ident| $body:expr) => {{
        let mut out = Vec::<u8>::new();
        let mut err = Vec::<u8>::new();
        let code = {
            let mut $s = Streams::new($mode, &mut out, &mut err);
            $body.await
        };
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }};
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Send one raw line, return the first reply line.
async fn raw_request(path: &Path, line: &[u8]) -> String {
    let stream = UnixStream::connect(path).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    wr.write_all(line).await.unwrap();
    let mut reader = BufReader::new(rd);
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    reply
}

#[path = "daemon_protocol/server.rs"]
mod server;
#[path = "daemon_protocol/status.rs"]
mod status;
#[path = "daemon_protocol/streams.rs"]
mod streams;
#[path = "daemon_protocol/verbs.rs"]
mod verbs;
