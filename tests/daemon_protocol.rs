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

// ---------------------------------------------------------------------------
// RecordingRuntime: a test double. Records every call with its actor, and
// plays a short, fixed script of events for deploy/promote/rollback/inject.
// ---------------------------------------------------------------------------

type Subscribers = Arc<Mutex<Vec<mpsc::Sender<RuntimeEvent>>>>;

struct RecordingRuntime {
    envs: Vec<EnvironmentStatus>,
    logs: Vec<LogLine>,
    read_only: bool,
    subscriber_capacity: usize,
    calls: Mutex<Vec<String>>,
    subscribers: Subscribers,
    /// Events the double itself could not deliver (must stay 0 for a fair test).
    undelivered: Arc<AtomicU64>,
    shutdowns: AtomicU32,
    next_id: AtomicU64,
    history: Arc<Mutex<History>>,
}

fn instance(id: &str, version: &str, restarts: u32) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase: InstancePhase::Ready,
        restarts,
        detail: blissful_infra::domain::environment::InstanceDetail::Process {
            pid: Some(4242),
            port: 40100,
        },
    }
}

fn sample_envs() -> Vec<EnvironmentStatus> {
    let env = |name: &str, port: u16, restarts: u32| EnvironmentStatus {
        name: name.into(),
        traffic: TrafficSplit {
            stable: Some(Version::new("v1")),
            canary: None,
            canary_weight: 0,
        },
        previous: Some(Version::new("v0")),
        step: None,
        health: Health::Healthy,
        instances: vec![
            instance(&format!("{name}-v1-1"), "v1", restarts),
            instance(&format!("{name}-v1-2"), "v1", 0),
        ],
        replicas: 2,
        last_change: 1_700_000_000_000,
        router_addr: format!("127.0.0.1:{port}"),
        metrics_addr: format!("127.0.0.1:{}", port + 1),
        faults: vec![],
        revisions: Vec::new(),
        observed: None,
    };
    vec![env("staging", 41000, 1), env("prod", 42000, 0)]
}

fn sample_logs() -> Vec<LogLine> {
    let line = |ts: i64, env: &str, text: &str, level: Level| {
        LogLine::new(
            ts,
            env.into(),
            "v1".into(),
            format!("{env}-v1-1").into(),
            level,
            text,
        )
    };
    vec![
        line(1_000, "staging", "GET /healthz 200", Level::Info),
        line(2_000, "prod", "GET /orders 200", Level::Info),
        line(
            3_000,
            "staging",
            "GET /orders 503 upstream timeout",
            Level::Error,
        ),
        line(4_000, "staging", "GET /orders 200", Level::Info),
    ]
}

fn verdict(p99_ms: f64) -> Verdict {
    let canary = VersionSample {
        requests: 400,
        errors: 0,
        p50_ms: 20.0,
        p95_ms: 80.0,
        p99_ms,
        ..Default::default()
    };
    analyze(&canary, None, &Thresholds::default())
}

impl RecordingRuntime {
    fn new() -> Self {
        RecordingRuntime {
            envs: sample_envs(),
            logs: sample_logs(),
            read_only: false,
            subscriber_capacity: 4096,
            calls: Mutex::new(Vec::new()),
            subscribers: Arc::new(Mutex::new(Vec::new())),
            undelivered: Arc::new(AtomicU64::new(0)),
            shutdowns: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            history: Arc::new(Mutex::new(History::default())),
        }
    }

    fn read_only() -> Self {
        RecordingRuntime {
            read_only: true,
            ..RecordingRuntime::new()
        }
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn check_env(&self, env: &str) -> Result<&EnvironmentStatus, RuntimeError> {
        self.envs
            .iter()
            .find(|e| e.name == env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))
    }

    fn check_writable(&self, what: &str) -> Result<(), RuntimeError> {
        if self.read_only {
            Err(RuntimeError::ReadOnly(what.to_string()))
        } else {
            Ok(())
        }
    }

    fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap().len()
    }

    fn emit(&self, ev: RuntimeEvent) {
        emit_to(&self.subscribers, &self.undelivered, ev);
    }

    /// Whether every subscriber channel has been drained by its reader.
    fn drained(&self) -> bool {
        self.subscribers
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.capacity() == s.max_capacity())
    }

    fn close_subscribers(&self) {
        self.subscribers.lock().unwrap().clear();
    }

    /// Play `events` to subscribers in the background, a few ms apart.
    fn play(&self, events: Vec<RuntimeEvent>) {
        let subs = self.subscribers.clone();
        let undelivered = self.undelivered.clone();
        tokio::spawn(async move {
            for ev in events {
                tokio::time::sleep(Duration::from_millis(5)).await;
                emit_to(&subs, &undelivered, ev);
            }
        });
    }

    /// The script of a canary rollout of `version`: version `bad` fails its
    /// analysis on p99 latency and is rolled back, anything else is promoted.
    fn rollout(
        &self,
        env: &EnvironmentStatus,
        version: &Version,
        kind: PipelineKind,
    ) -> ActionAccepted {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let stable = env
            .traffic
            .stable
            .clone()
            .unwrap_or_else(|| Version::new("v0"));
        let mut run = PipelineRun::new(
            id,
            kind,
            &env.name,
            &format!("deploy {version}"),
            &["canary 50%", "promote"],
            0,
        );
        let mut events = Vec::new();
        run.start_stage(0, 1);
        events.push(RuntimeEvent::Pipeline { run: run.clone() });
        let bad = version.as_str() == "bad";
        let v = verdict(if bad { 612.0 } else { 100.0 });
        events.push(RuntimeEvent::Verdict {
            env: env.name.clone(),
            step: 0,
            verdict: v.clone(),
        });
        let outcome = if bad {
            run.finish_stage(0, StageStatus::Failed("analysis".into()), v.summary(), 2);
            run.finish(StageStatus::Failed(v.summary()), 2);
            RolloutOutcome::RolledBack {
                version: version.clone(),
                reason: v.summary(),
                verdict: Some(Box::new(v)),
            }
        } else {
            run.finish_stage(0, StageStatus::Succeeded, "analysis passed", 2);
            run.start_stage(1, 2);
            run.finish_stage(1, StageStatus::Succeeded, "", 3);
            run.finish(StageStatus::Succeeded, 3);
            RolloutOutcome::Promoted {
                version: version.clone(),
            }
        };
        events.push(RuntimeEvent::Pipeline { run: run.clone() });
        events.push(RuntimeEvent::RolloutFinished {
            env: env.name.clone(),
            pipeline_id: id,
            outcome,
        });
        self.history.lock().unwrap().pipelines.push(run);
        self.play(events);
        ActionAccepted {
            pipeline_id: id,
            env: env.name.clone(),
            from_version: Some(stable),
            to_version: Some(version.clone()),
            message: format!("canary rollout of {version} started"),
        }
    }
}

fn emit_to(subs: &Subscribers, undelivered: &AtomicU64, ev: RuntimeEvent) {
    let mut subs = subs.lock().unwrap();
    subs.retain(|s| !s.is_closed());
    for s in subs.iter() {
        if s.try_send(ev.clone()).is_err() {
            undelivered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Runtime for RecordingRuntime {
    fn name(&self) -> &str {
        "recording"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with(
            DeliveryMode::Driven,
            &[IntentKind::Deploy, IntentKind::Undo, IntentKind::Switch],
            |k| format!("the recording runtime has no {}", k.name()),
        )
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        match intent {
            Intent::Deploy { version } => self.deploy(actor, env, &version).await,
            Intent::Undo { to_revision: None } => self.rollback(actor, env).await,
            Intent::Switch { to_canary } => self.switch_traffic(actor, env, to_canary).await,
            other => {
                self.record(format!("intent {} {env}", other.describe()));
                Err(RuntimeError::Refused(
                    self.capabilities()
                        .check(other.kind())
                        .err()
                        .unwrap_or_default(),
                ))
            }
        }
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.record("status".into());
        Ok(self.envs.clone())
    }

    async fn deploy(
        &self,
        actor: &Actor,
        env: &str,
        version: &Version,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "deploy {env} {version} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("deploy")?;
        let env = self.check_env(env)?;
        Ok(self.rollout(env, version, PipelineKind::Rollout))
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "promote {from} {to} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("promote")?;
        let version = self
            .check_env(from)?
            .traffic
            .stable
            .clone()
            .ok_or_else(|| RuntimeError::Refused(format!("{from} has no stable version")))?;
        let target = self.check_env(to)?;
        Ok(self.rollout(target, &version, PipelineKind::Promotion))
    }

    async fn rollback(&self, actor: &Actor, env: &str) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!("rollback {env} by {}/{}", actor.user, actor.via));
        self.check_writable("rollback")?;
        let env = self.check_env(env)?;
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut run = PipelineRun::new(
            id,
            PipelineKind::Rollback,
            &env.name,
            "rollback",
            &["restore"],
            0,
        );
        run.start_stage(0, 1);
        let started = run.clone();
        run.finish_stage(0, StageStatus::Succeeded, "v0 serving", 2);
        run.finish(StageStatus::Succeeded, 2);
        self.history.lock().unwrap().pipelines.push(run.clone());
        self.play(vec![
            RuntimeEvent::Pipeline { run: started },
            RuntimeEvent::Pipeline { run },
        ]);
        Ok(ActionAccepted {
            pipeline_id: id,
            env: env.name.clone(),
            from_version: env.traffic.stable.clone(),
            to_version: env.previous.clone(),
            message: "rolling back".into(),
        })
    }

    async fn switch_traffic(
        &self,
        actor: &Actor,
        env: &str,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "switch {env} {to_canary} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("switch")?;
        let env = self.check_env(env)?;
        Ok(ActionAccepted {
            pipeline_id: self.next_id.fetch_add(1, Ordering::SeqCst),
            env: env.name.clone(),
            from_version: None,
            to_version: None,
            message: "traffic switched".into(),
        })
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        self.record(format!(
            "inject {env} {scenario} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("inject")?;
        self.check_env(env)?;
        let id = format!("exp-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let x = Experiment::new(id, env, scenario, params.clone(), 0);
        let mut recovering = x.clone();
        recovering.state = ExperimentState::Recovering;
        recovering.detection_ms = Some(800);
        recovering.peak_error_rate = params.rate;
        recovering.failed_requests = 40;
        let mut done = recovering.clone();
        done.state = ExperimentState::Completed;
        // A rate of 0.9 or more never recovers in this script.
        if params.rate >= 0.9 {
            done.result = Some(ExperimentResult::NotRecovered);
        } else {
            done.recovery_ms = Some(1500);
            done.result = Some(ExperimentResult::Resilient);
        }
        self.history.lock().unwrap().experiments.push(done.clone());
        self.play(vec![
            RuntimeEvent::Experiment {
                experiment: x.clone(),
            },
            RuntimeEvent::Experiment {
                experiment: recovering,
            },
            RuntimeEvent::Experiment { experiment: done },
        ]);
        Ok(x)
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        self.record(format!(
            "undo {experiment_id} by {}/{}",
            actor.user, actor.via
        ));
        if experiment_id.starts_with("exp-") {
            Ok(())
        } else {
            Err(RuntimeError::NotFound(format!(
                "experiment {experiment_id}"
            )))
        }
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.record(format!("recent_logs {env:?} {limit}"));
        let matching: Vec<LogLine> = self
            .logs
            .iter()
            .filter(|l| env.is_none_or(|e| *l.env == *e))
            .cloned()
            .collect();
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).collect())
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.record("history".into());
        Ok(self.history.lock().unwrap().clone())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        self.record("subscribe".into());
        let (tx, rx) = mpsc::channel(self.subscriber_capacity);
        self.subscribers.lock().unwrap().push(tx);
        Ok(rx)
    }

    async fn shutdown(&self) {
        self.record("shutdown".into());
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        self.close_subscribers();
    }
}

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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn status_round_trips_and_socket_is_private() {
    let h = start(RecordingRuntime::new()).await;
    let mode = std::fs::metadata(&h.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    let remote = RemoteRuntime::connect(&h.path).await.unwrap();
    let info = remote.ping().await.unwrap();
    assert_eq!(info.pid, std::process::id());
    assert_eq!(info.runtime, "recording");
    assert_eq!(info.project, "demo");
    assert_eq!(info.v, 1);
    assert!(info.started_at > 1_600_000_000_000);
    assert_eq!(remote.name(), "recording");
    assert!(is_running(&h.path).await);

    assert_eq!(remote.status().await.unwrap(), sample_envs());
    assert_eq!(
        remote.recent_logs(Some("prod"), 10).await.unwrap(),
        vec![sample_logs()[1].clone()]
    );
    assert!(remote.history().await.unwrap().pipelines.is_empty());
}

#[tokio::test]
async fn history_verdicts_keep_their_step_over_the_socket() {
    let runtime = RecordingRuntime::new();
    runtime.history.lock().unwrap().verdicts = vec![
        RecordedVerdict {
            env: "staging".into(),
            step: 3,
            verdict: verdict(90.0),
        },
        RecordedVerdict {
            env: "prod".into(),
            step: 1,
            verdict: verdict(2_000.0),
        },
    ];
    let h = start(runtime).await;
    let remote = h.remote().await;
    let got = remote.history().await.unwrap().verdicts;
    let steps: Vec<(&str, usize)> = got.iter().map(|v| (v.env.as_str(), v.step)).collect();
    assert_eq!(steps, vec![("staging", 3), ("prod", 1)]);
    assert_eq!(got, h.runtime.history.lock().unwrap().verdicts);
}

#[test]
fn a_verdict_from_an_older_daemon_reads_as_step_zero() {
    // Older daemons sent each verdict as an `[env, verdict]` pair.
    let old = serde_json::json!({
        "pipelines": [],
        "experiments": [],
        "verdicts": [["staging", verdict(90.0)]],
    });
    let h: History = serde_json::from_value(old).unwrap();
    assert_eq!(h.verdicts.len(), 1);
    assert_eq!(h.verdicts[0].env, "staging");
    assert_eq!(h.verdicts[0].step, 0);
    assert_eq!(h.verdicts[0].verdict, verdict(90.0));
}

#[tokio::test]
async fn status_command_prints_a_table_or_json() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::status(&rt, &mut s));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        "\
ENV      STABLE  CANARY  WEIGHT  STEP  HEALTH   READY  RESTARTS  ROUTER           METRICS          FAULTS
staging  v1      -       -       -     Healthy  2/2    1         127.0.0.1:41000  127.0.0.1:41001  -
prod     v1      -       -       -     Healthy  2/2    0         127.0.0.1:42000  127.0.0.1:42001  -

runtime recording (driven) · offers: deploy, undo, switch · not offered: promote, promote --full, pause, resume, abort, retry, restart
"
    );
    // The table as `status_table` draws it, then what the runtime offers.
    assert!(out.starts_with(&status_table(&sample_envs())), "{out}");

    // The positional entry point `main` calls prints the same.
    let mut buf = Vec::new();
    assert_eq!(
        cli::cmd_status(&rt, OutputMode::Table, &mut buf).await,
        exit::OK
    );
    assert_eq!(String::from_utf8(buf).unwrap(), out);

    let (code, out, _) = run!(OutputMode::Json, |s| commands::status(&rt, &mut s));
    assert_eq!(code, exit::OK);
    let back: Vec<EnvironmentStatus> = serde_json::from_str(&out).unwrap();
    assert_eq!(back, sample_envs());
    assert!(
        out.starts_with("[\n  {\n    \"name\": \"staging\""),
        "{out}"
    );
}

#[tokio::test]
async fn deploy_waits_for_promotion() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "out: {out}\nerr: {err}");
    assert_eq!(out, "promoted v2 in staging\n");
    assert!(
        err.contains("pipeline #1 staging: canary rollout of v2 started (v1 -> v2); waiting"),
        "{err}"
    );
    assert!(err.contains("  [1/2] canary 50%: running\n"), "{err}");
    assert!(
        err.contains("  [1/2] canary 50%: succeeded - analysis passed\n"),
        "{err}"
    );
    assert!(
        err.contains("  analysis after step 1: passed: 4 checks on 400 requests\n"),
        "{err}"
    );
    // The subscription was opened before the deploy, and the actor travelled.
    let calls = h.runtime.calls();
    let sub = calls.iter().position(|c| c == "subscribe").unwrap();
    let dep = calls
        .iter()
        .position(|c| c == "deploy staging v2 by ana/cli")
        .unwrap();
    assert!(sub < dep, "{calls:?}");
}

#[tokio::test]
async fn deploy_that_is_rolled_back_fails_with_the_verdict() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "bad",
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED, "out: {out}\nerr: {err}");
    assert_eq!(
        out,
        "\
bad rolled back in staging: failed: p99 latency 612ms > 500ms (+112ms)
  p99 latency 612ms > 500ms (+112ms)
  canary: 400 requests, 0 errors, p95 80ms, p99 612ms
"
    );
    assert!(
        err.contains("  analysis after step 1: failed: p99 latency 612ms > 500ms (+112ms)"),
        "{err}"
    );
    assert!(err.contains("[1/2] canary 50%: failed (analysis)"), "{err}");
}

#[tokio::test]
async fn deploy_json_report_and_no_wait() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, _) = run!(OutputMode::Json, |s| commands::deploy(
        &rt,
        &actor(),
        "prod",
        "bad",
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["finished"], true);
    assert_eq!(doc["outcome"]["outcome"], "rolled_back");
    assert_eq!(doc["outcome"]["verdict"]["outcome"], "fail");
    assert_eq!(doc["accepted"]["env"], "prod");
    assert_eq!(doc["verdicts"][0]["step"], 0);
    assert_eq!(doc["pipeline"]["status"]["status"], "failed");

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::cmd_deploy(
        &rt,
        &actor(),
        "prod",
        "v3",
        false,
        OutputMode::Json,
        &mut out,
        &mut err,
    )
    .await;
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, exit::OK, "{err}");
    let accepted: ActionAccepted = serde_json::from_str(&out).unwrap();
    assert_eq!(accepted.to_version, Some(Version::new("v3")));
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn promote_and_rollback_wait_for_their_pipelines() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::promote(
        &rt,
        &actor(),
        "staging",
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(out, "promoted v1 in prod\n");

    // The rollback script sends no RolloutFinished: the pipeline's status decides.
    let (code, out, err) = run!(OutputMode::Table, |s| commands::rollback(
        &rt,
        &actor(),
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(out, "pipeline #2 rollback: succeeded\n");
    assert!(
        err.contains("[1/1] restore: succeeded - v0 serving"),
        "{err}"
    );

    let (code, out, _) = run!(OutputMode::Table, |s| commands::switch_traffic(
        &rt,
        &actor(),
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK);
    assert_eq!(out, "pipeline #3 prod: traffic switched\n");

    let calls = h.runtime.calls();
    assert!(
        calls.contains(&"promote staging prod by ana/cli".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"rollback prod by ana/cli".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"switch prod true by ana/cli".to_string()),
        "{calls:?}"
    );
}

#[tokio::test]
async fn errors_map_to_exit_codes() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "qa",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        err,
        "error: unknown environment `qa`\nknown environments: staging, prod\n"
    );

    let (code, out, _) = run!(OutputMode::Json, |s| commands::rollback(
        &rt,
        &actor(),
        "qa",
        false,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "unknown_environment");
    assert_eq!(doc["error"]["message"], "qa");

    let (code, _, err) = run!(OutputMode::Table, |s| commands::undo(
        &rt,
        &actor(),
        "nope",
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(err, "error: not found: experiment nope\n");

    let logs = LogsOptions {
        env: Some("qa".into()),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, _, err) = run!(OutputMode::Table, |s| commands::logs(&rt, &logs, &mut s));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(
        err,
        "error: unknown environment `qa`\nknown environments: staging, prod\n"
    );

    let ro = start(RecordingRuntime::read_only()).await;
    let rt = ro.remote().await;
    let (code, _, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(err, "error: read-only mode: deploy is not allowed\n");
    let (code, _, _) = run!(OutputMode::Table, |s| commands::chaos(
        &rt,
        &actor(),
        "staging",
        ScenarioKind::PodKill,
        FaultParams::default(),
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
}

#[tokio::test]
async fn chaos_waits_for_the_experiment_result() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let params = FaultParams {
        rate: 0.3,
        ..FaultParams::default()
    };
    let (code, out, err) = run!(OutputMode::Table, |s| commands::chaos(
        &rt,
        &actor(),
        "staging",
        ScenarioKind::ErrorInjection,
        params,
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        "\
ID     ENV      SCENARIO         STATE      RESULT     DETECTION  RECOVERY  PEAK ERR  PEAK P99  FAILED
exp-1  staging  error-injection  completed  resilient  800ms      1500ms    30.0%     0ms       40
"
    );
    assert!(
        err.contains("started error-injection on staging as exp-1"),
        "{err}"
    );
    assert!(
        err.contains("  exp-1 error-injection: recovering (impact detected after 800ms"),
        "{err}"
    );

    let never = FaultParams {
        rate: 0.95,
        ..FaultParams::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::chaos(
        &rt,
        &actor(),
        "prod",
        ScenarioKind::ConnectionDrop,
        never,
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED);
    let x: Experiment = serde_json::from_str(&out).unwrap();
    assert_eq!(x.result, Some(ExperimentResult::NotRecovered));
    assert_eq!(x.id, "exp-2");
}

#[tokio::test]
async fn logs_print_recent_lines_with_grep_and_json() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let opts = LogsOptions {
        env: Some("staging".into()),
        tail: 2,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Table, |s| commands::logs(&rt, &opts, &mut s));
    assert_eq!(code, exit::OK);
    let logs = sample_logs();
    let expect: String = [&logs[2], &logs[3]]
        .iter()
        .map(|l| {
            format!(
                "{}\n",
                format_log_line(l, LogStyle { color: false }, &chrono::Local)
            )
        })
        .collect();
    assert_eq!(out, expect);
    assert!(
        out.contains("staging-v1-1 ERROR GET /orders 503 upstream timeout"),
        "{out}"
    );

    let grep = LogsOptions {
        env: None,
        grep: Some(regex::Regex::new("orders 200").unwrap()),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::logs(&rt, &grep, &mut s));
    assert_eq!(code, exit::OK);
    let lines: Vec<LogLine> = serde_json::from_str(&out).unwrap();
    assert_eq!(lines, vec![logs[1].clone(), logs[3].clone()]);

    // --since: the sample lines are from 1970, so the last hour has none.
    let recent = LogsOptions {
        since: Some(std::time::Duration::from_secs(3600)),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::logs(&rt, &recent, &mut s));
    assert_eq!(code, exit::OK);
    let lines: Vec<LogLine> = serde_json::from_str(&out).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
}

#[tokio::test]
async fn logs_follow_streams_new_lines_once() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let opts = LogsOptions {
        env: Some("staging".into()),
        follow: true,
        tail: 1,
        ..LogsOptions::default()
    };
    let runtime = h.runtime.clone();
    let driver = async move {
        eventually("the logs subscription", || runtime.subscriber_count() == 1).await;
        let logs = sample_logs();
        // Already printed from the buffer: must not be printed again.
        runtime.emit(RuntimeEvent::Log {
            line: logs[3].clone(),
        });
        let mut fresh = logs[3].clone();
        fresh.ts = 5_000;
        fresh.text = "GET /orders 201 created".into();
        runtime.emit(RuntimeEvent::Log { line: fresh });
        let mut other = logs[1].clone();
        other.ts = 6_000;
        runtime.emit(RuntimeEvent::Log { line: other });
        runtime.emit(RuntimeEvent::Lagged { count: 3 });
        eventually("the events to be read", || runtime.drained()).await;
        runtime.close_subscribers();
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = {
        let mut s = Streams::new(OutputMode::Json, &mut out, &mut err);
        let (code, ()) = tokio::join!(commands::logs(&rt, &opts, &mut s), driver);
        code
    };
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, exit::OK, "{err}");
    let lines: Vec<LogLine> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|l| &*l.text).collect();
    assert_eq!(
        texts,
        vec!["GET /orders 200", "GET /orders 201 created"],
        "{out}"
    );
    assert!(err.contains("warning: 3 events were lost"), "{err}");
    assert!(err.contains("log stream ended"), "{err}");
}

#[tokio::test]
async fn subscribe_streams_events_in_order() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let mut rx = rt.subscribe().await.unwrap();
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;
    let events: Vec<RuntimeEvent> = (0..50)
        .map(|i| RuntimeEvent::Lagged { count: i + 1 })
        .chain(std::iter::once(RuntimeEvent::Pipeline {
            run: PipelineRun::new(9, PipelineKind::Ci, "staging", "build", &["compile"], 0),
        }))
        .collect();
    for ev in &events {
        h.runtime.emit(ev.clone());
    }
    let mut got = Vec::new();
    while got.len() < events.len() {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(ev);
    }
    // Upstream Lagged events may be merged but never lost, and order holds.
    let lost: u64 = got
        .iter()
        .map(|e| match e {
            RuntimeEvent::Lagged { count } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(lost, (1..=50).sum::<u64>());
    assert!(
        matches!(got.last(), Some(RuntimeEvent::Pipeline { .. })),
        "{got:?}"
    );
    // Dropping the receiver hangs up; the server releases the subscription.
    drop(rx);
    eventually("the server to drop the subscription", || {
        h.runtime.emit(RuntimeEvent::Lagged { count: 1 });
        h.runtime.subscriber_count() == 0
    })
    .await;
}

#[tokio::test]
async fn a_slow_subscriber_gets_lagged_instead_of_unbounded_buffering() {
    let runtime = RecordingRuntime {
        subscriber_capacity: 32_768,
        ..RecordingRuntime::new()
    };
    let h = start(runtime).await;
    let stream = UnixStream::connect(&h.path).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    wr.write_all(
        b"{\"v\":1,\"actor\":{\"user\":\"ana\",\"via\":\"cli\"},\"op\":{\"op\":\"subscribe\"}}\n",
    )
    .await
    .unwrap();
    let mut reader = BufReader::new(rd);
    let mut ack = String::new();
    reader.read_line(&mut ack).await.unwrap();
    assert_eq!(ack, "{\"ok\":null}\n");
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;

    // 20k events of ~500 bytes (10 MB) while the client reads nothing.
    const N: u64 = 20_000;
    let text = "x".repeat(500);
    for i in 0..N {
        let mut line = sample_logs()[0].clone();
        line.ts = i as i64;
        line.text = text.as_str().into();
        h.runtime.emit(RuntimeEvent::Log { line });
    }
    assert_eq!(h.runtime.undelivered.load(Ordering::SeqCst), 0);
    // The server keeps draining the runtime even though the client is stuck.
    eventually("the server to drain the runtime's channel", || {
        h.runtime.drained()
    })
    .await;

    let mut delivered = 0u64;
    let mut lagged = Vec::new();
    let mut line = String::new();
    while delivered + lagged.iter().sum::<u64>() < N {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream ended early");
        match serde_json::from_str::<RuntimeEvent>(&line).unwrap() {
            RuntimeEvent::Lagged { count } => lagged.push(count),
            RuntimeEvent::Log { .. } => delivered += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        delivered + lagged.iter().sum::<u64>(),
        N,
        "every event delivered or counted"
    );
    assert!(!lagged.is_empty(), "a slow client must see Lagged");
    // Bounded: only the per-subscriber queue plus socket buffers got through.
    assert!(delivered < N / 2, "delivered {delivered} of {N}");
}

#[tokio::test]
async fn malformed_requests_get_an_error_and_the_server_keeps_serving() {
    let h = start(RecordingRuntime::new()).await;

    let reply = raw_request(&h.path, b"{not json}\n").await;
    let parsed: Reply<()> = serde_json::from_str(&reply).unwrap();
    match parsed.into_result() {
        Err(RuntimeError::Failed(msg)) => {
            assert!(msg.starts_with("invalid request at column 2: "), "{msg}")
        }
        other => panic!("unexpected {other:?}"),
    }

    let reply = raw_request(
        &h.path,
        b"{\"v\":1,\"actor\":{\"user\":\"a\",\"via\":\"b\"},\"op\":{\"op\":\"fly\"}}\n",
    )
    .await;
    assert!(
        reply.contains("invalid request at column") && reply.contains("unknown variant `fly`"),
        "{reply}"
    );

    // A request line over 1 MiB is refused without reading it all.
    let stream = UnixStream::connect(&h.path).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let big = vec![b'x'; 2 * 1024 * 1024];
        // The server stops reading after 1 MiB, so this write may fail.
        let _ = wr.write_all(&big).await;
    });
    let mut reader = BufReader::new(rd);
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert!(reply.contains("exceeds 1048576 bytes"), "{reply}");
    drop(reader);
    writer.await.unwrap();

    // Still serving.
    let rt = h.remote().await;
    assert_eq!(rt.status().await.unwrap().len(), 2);
}

#[tokio::test]
async fn shutdown_op_stops_the_server_and_the_runtime() {
    let h = start(RecordingRuntime::new()).await;
    let mut requested = h.shutdown_requested.clone();
    let (code, out, err) = run!(OutputMode::Table, |s| commands::down(&h.path, &mut s));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        format!("recording runtime stopped (pid {})\n", std::process::id())
    );
    assert_eq!(h.runtime.shutdowns.load(Ordering::SeqCst), 1);
    tokio::time::timeout(Duration::from_secs(5), requested.wait_for(|v| *v))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!h.path.exists(), "socket file removed");
    assert!(!is_running(&h.path).await);

    let (code, out, _) = run!(OutputMode::Table, |s| commands::down(&h.path, &mut s));
    assert_eq!(code, exit::OK);
    assert_eq!(out, "no sandbox is running\n");
}

#[tokio::test]
async fn external_shutdown_ends_subscriptions_without_stopping_the_runtime() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let mut rx = rt.subscribe().await.unwrap();
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;
    h.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    assert_eq!(h.runtime.shutdowns.load(Ordering::SeqCst), 0);
    assert!(!h.path.exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    // What a crashed sandbox leaves behind: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let h = start_at(dir, path.clone(), RecordingRuntime::new()).await;
    let rt = h.remote().await;
    assert_eq!(rt.status().await.unwrap().len(), 2);

    let second = ControlServer::bind(
        &path,
        Arc::new(RecordingRuntime::new()),
        ServerInfo::new("recording", "other"),
    )
    .await;
    match second {
        Err(DaemonError::AlreadyRunning { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second server took over a live socket"),
    }
    // The first server still answers.
    assert_eq!(
        RemoteRuntime::connect(&path).await.unwrap().info().project,
        "demo"
    );
}

#[tokio::test]
async fn connecting_without_a_sandbox_gives_the_friendly_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    let err = RemoteRuntime::connect(&path).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no sandbox is running (no control socket at {}); start one with `blissful-infra demo` or `blissful-infra up`",
            path.display()
        )
    );
    let (code, out, err) = run!(OutputMode::Json, |s| async {
        match commands::connect(&path, &mut s).await {
            Ok(_) => exit::OK,
            Err(code) => code,
        }
    });
    assert_eq!(code, exit::UNAVAILABLE);
    assert!(err.starts_with("error: no sandbox is running"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "unavailable");
}

#[tokio::test]
async fn headless_daemon_runs_until_a_shutdown_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    let runtime = Arc::new(RecordingRuntime::new());
    let shared: SharedRuntime = runtime.clone();
    let daemon = tokio::spawn({
        let path = path.clone();
        async move { run_headless(&path, shared, ServerInfo::new("recording", "demo")).await }
    });
    eventually("the daemon's socket", || path.exists()).await;
    let remote = RemoteRuntime::connect(&path).await.unwrap();
    remote.request_shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Stopped exactly once, even though both the op and the daemon stop it.
    assert_eq!(runtime.shutdowns.load(Ordering::SeqCst), 1);
    assert!(!path.exists());
}
