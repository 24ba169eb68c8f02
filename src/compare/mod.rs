//! `blissful-infra compare --old <ref> --new <ref>`: run two versions side by
//! side under identical load and decide, with statistics, whether the new one
//! is better, worse, or indistinguishable.
//!
//! How a run goes:
//! 1. A **separate** sandbox runtime starts in a fresh state directory
//!    `<state>/compare-<pid>`, with exactly two environments, `compare-old`
//!    and `compare-new` (replicas from the project config, ephemeral router
//!    ports, no background traffic). It never touches a running sandbox.
//! 2. Once every instance of both is Ready, the built-in load generator
//!    ([`crate::perf::generator`]) drives the same load at both routers at the
//!    same time (warmup first, not recorded), keeping a bounded reservoir of
//!    raw latencies per side; CPU and memory come from the runtime's metric
//!    events in the measured window.
//! 3. The statistics in [`crate::domain::comparison`] (Mann-Whitney U, a
//!    bootstrap CI of the p95 difference, a two-proportion test on errors)
//!    and the `comparison:` thresholds of the config give the verdict.
//! 4. The runtime is shut down and its state directory removed, always: on
//!    success, on errors and on Ctrl-C.
//!
//! `<ref>` is a version name of the built-in sample service for now (`v1`,
//! `v2`, `v3-slow`, ...; behaviours come from `service.versions`) or whatever
//! `service.command` makes of `$VERSION`. Git refs built from a worktree come
//! with the templates work.
//!
//! Exit codes: 0 the new version is not worse (every threshold holds), 1 a
//! threshold failed or the run failed, 64 bad flags, 130 interrupted.

pub mod report;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, EnvironmentConfig};
use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::comparison::{
    assess, bootstrap_quantile_diff, mann_whitney, two_proportion_p, ComparisonThresholds,
    Evidence, Reservoir, SideStats, Verdict, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
    RESERVOIR_CAPACITY,
};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::StageStatus;
use crate::domain::sanitize::sanitize_str;
use crate::paths::StatePaths;
use crate::perf::generator::{self, Live};
use crate::perf::{
    parse_duration, parse_endpoint, Endpoint, LoadSpec, Pacing, RunStats, Stop, Target,
};
use crate::report::{exit, OutputMode};
use crate::runtime::{Actor, Runtime, RuntimeEvent};
use crate::sandbox::{SandboxOptions, SandboxRuntime};

mod git;

pub use report::{ChaosLine, ComparisonReport, LoadDescription, Promotion, SideSeries};

/// Stages of a comparison, as shown in the Pipeline pane and the console's
/// comparison view.
pub const STAGES: [&str; 5] = ["start both", "warm-up", "measure", "statistics", "verdict"];
pub const STAGE_START: usize = 0;
pub const STAGE_WARMUP: usize = 1;
pub const STAGE_MEASURE: usize = 2;
pub const STAGE_STATISTICS: usize = 3;
pub const STAGE_VERDICT: usize = 4;

/// Which of the two versions a point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

/// Progress of a comparison for whoever watches it (the console, or the CLI
/// relaying it to consoles attached to the sandbox).
#[derive(Clone, Debug, PartialEq)]
pub enum CompareEvent {
    StageStarted(usize),
    StageEnded {
        index: usize,
        status: StageStatus,
        detail: String,
    },
    /// One second of load on one side (client-side numbers).
    Point {
        side: Side,
        point: MetricPoint,
    },
}

/// Sends progress without ever waiting: a watcher that falls behind loses
/// points (counted), never the comparison.
#[derive(Clone, Debug, Default)]
pub struct Watcher {
    tx: Option<mpsc::Sender<CompareEvent>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Watcher {
    pub fn new(tx: mpsc::Sender<CompareEvent>) -> Self {
        Watcher {
            tx: Some(tx),
            dropped: Arc::default(),
        }
    }

    fn send(&self, ev: CompareEvent) {
        if let Some(tx) = &self.tx {
            if tx.try_send(ev).is_err() {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn started(&self, index: usize) {
        self.send(CompareEvent::StageStarted(index));
    }

    fn ended(&self, index: usize, status: StageStatus, detail: impl Into<String>) {
        self.send(CompareEvent::StageEnded {
            index,
            status,
            detail: detail.into(),
        });
    }

    /// Progress events the watcher could not take.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Environment names inside the comparison sandbox.
pub const OLD_ENV: &str = "compare-old";
pub const NEW_ENV: &str = "compare-new";
/// How long both environments get to become Ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on stopping the comparison sandbox.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Metric points kept per environment (one a second: an hour).
const MAX_POINTS_PER_ENV: usize = 3600;
/// Experiment snapshots kept (only the latest per id matters).
const MAX_EXPERIMENTS: usize = 64;
/// Longest accepted version name.
const MAX_VERSION_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Interrupted,
}

impl CompareError {
    fn kind(&self) -> &'static str {
        match self {
            CompareError::Usage(_) => "usage",
            CompareError::Failed(_) => "failed",
            CompareError::Interrupted => "interrupted",
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CompareError::Usage(_) => exit::USAGE,
            CompareError::Failed(_) => exit::FAILED,
            CompareError::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// Flags of `blissful-infra compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// The version running today (a sample-service version such as v1).
    #[arg(long)]
    pub old: String,
    /// The candidate version (e.g. v2, v3-slow).
    #[arg(long)]
    pub new: String,
    /// How long to measure (e.g. 10s, 500ms, 2m).
    #[arg(long, short, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Connections per side, each with one request in flight.
    #[arg(long, short, default_value_t = 4)]
    pub concurrency: usize,
    /// Open loop: requests per second per side, whatever the answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Load sent to both sides first and not recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Per-request timeout, connecting included.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Environment of the running sandbox to deploy the new version to when
    /// it clearly wins and `comparison.auto_promote` is on.
    #[arg(long, short)]
    pub env: Option<String>,
    /// Inject this chaos scenario into both sides when measuring starts
    /// (pod-kill, network-latency, error-injection, connection-drop, cpu-stress).
    #[arg(long)]
    pub chaos: Option<String>,
}

impl CompareArgs {
    /// The flags' defaults for comparing `old` with `new` (the console's `C`);
    /// `env` is where an automatic promotion would go.
    pub fn for_versions(old: &str, new: &str, env: Option<&str>) -> CompareArgs {
        CompareArgs {
            old: old.to_string(),
            new: new.to_string(),
            duration: Duration::from_secs(10),
            concurrency: 4,
            rate: None,
            warmup: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            env: env.map(str::to_string),
            chaos: None,
        }
    }
}

/// What the command needs besides its flags.
#[derive(Clone, Debug)]
pub struct CompareContext {
    pub config: Config,
    /// Directory of the config file (`service.workdir` is relative to it).
    pub config_dir: PathBuf,
    /// The `blissful-infra` binary (runs the built-in sample service).
    pub service_program: PathBuf,
    /// The normal state directory: the comparison runs in a subdirectory,
    /// promotion talks to the sandbox of this one.
    pub state: StatePaths,
    pub read_only: bool,
}

/// Flags checked and resolved.
#[derive(Clone, Debug)]
struct Plan {
    old: String,
    new: String,
    pacing: Pacing,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    timeout: Duration,
    endpoints: Vec<Endpoint>,
    chaos: Option<ScenarioKind>,
}

fn check_version(flag: &str, v: &str) -> Result<(), CompareError> {
    let ok = !v.is_empty()
        && v.len() <= MAX_VERSION_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(CompareError::Usage(format!(
            "--{flag} `{}` is not a version name (letters, digits, `.`, `-`, `_`; at most {MAX_VERSION_LEN})",
            sanitize_str(v)
        )))
    }
}

fn plan(args: &CompareArgs, config: &Config) -> Result<Plan, CompareError> {
    if config.service.command.trim().is_empty() {
        check_version("old", &args.old)?;
        check_version("new", &args.new)?;
    } else {
        // A project's own service: the two sides are git refs.
        git::check_ref("old", &args.old)?;
        git::check_ref("new", &args.new)?;
    }
    let pacing =
        crate::perf::pacing_from_flags(args.concurrency, args.rate).map_err(CompareError::Usage)?;
    if args.duration.is_zero() {
        return Err(CompareError::Usage("--duration must be above 0".into()));
    }
    if args.timeout.is_zero() {
        return Err(CompareError::Usage("--timeout must be above 0".into()));
    }
    let chaos = args
        .chaos
        .as_deref()
        .map(str::parse::<ScenarioKind>)
        .transpose()
        .map_err(|e| CompareError::Usage(e.to_string()))?;
    // The same paths the sandbox's background traffic would use.
    let mut endpoints: Vec<Endpoint> = config
        .traffic
        .paths
        .iter()
        .filter_map(|p| parse_endpoint(p).ok())
        .map(|e| Endpoint { weight: 1, ..e })
        .collect();
    if endpoints.is_empty() {
        endpoints.push(Endpoint {
            path: "/".into(),
            weight: 1,
        });
    }
    Ok(Plan {
        old: args.old.clone(),
        new: args.new.clone(),
        pacing,
        concurrency: args.concurrency,
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
        endpoints,
        chaos,
    })
}

/// The project config reduced to the two comparison environments, with no
/// background traffic (the comparison drives all load itself).
pub fn comparison_config(config: &Config, old: &str, new: &str) -> Config {
    let replicas = config
        .environments
        .first()
        .map(|e| e.replicas)
        .unwrap_or_else(|| EnvironmentConfig::default().replicas)
        .max(1);
    let env = |name: &str, version: &str| EnvironmentConfig {
        name: name.into(),
        replicas,
        router_port: 0,
        metrics_port: 0,
        initial_version: version.into(),
        protected: false,
    };
    let mut c = config.clone();
    c.environments = vec![env(OLD_ENV, old), env(NEW_ENV, new)];
    c.traffic.rate_per_sec = 0.0;
    c
}

/// `blissful-infra compare`. The report goes to `out`; progress and notes
/// to `err`.
pub async fn cmd_compare(
    args: &CompareArgs,
    ctx: &CompareContext,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> i32 {
    let (tx, rx) = mpsc::channel(256);
    let relay = tokio::spawn(relay_to_sandbox(
        ctx.state.control_socket(),
        args.clone(),
        rx,
    ));
    let result = run(args, ctx, &Watcher::new(tx), err).await;
    // The watcher's sender is gone with `run`; the relay ends after the last event.
    if let Ok(Some(problem)) = relay.await {
        let _ = writeln!(err, "note: consoles do not show this comparison: {problem}");
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(&e, mode, out, err),
    };
    let written = match mode {
        OutputMode::Table => out.write_all(report.table().as_bytes()),
        OutputMode::Json => crate::report::json_document(&report)
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
    };
    let _ = out.flush();
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::FAILED,
        _ if !report.assessment.thresholds_passed => exit::FAILED,
        _ => exit::OK,
    }
}

/// Plan, measure in a separate sandbox, decide, and promote when allowed:
/// everything `compare` does but the printing. The console calls this too.
pub async fn run(
    args: &CompareArgs,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let plan = plan(args, &ctx.config)?;
    let mut report = run_isolated(&plan, ctx, watch, err).await?;
    report.promotion = promote(args, ctx, &report).await;
    let detail = format!(
        "{} ({}){}",
        report.assessment.verdict.label(),
        if report.assessment.thresholds_passed {
            "thresholds hold"
        } else {
            "a threshold failed"
        },
        if report.promotion.promoted {
            format!("; {}", report.promotion.message)
        } else {
            String::new()
        }
    );
    let status = if report.assessment.thresholds_passed {
        StageStatus::Succeeded
    } else {
        StageStatus::Failed(detail.clone())
    };
    watch.started(STAGE_VERDICT);
    watch.ended(STAGE_VERDICT, status, detail);
    Ok(report)
}

/// Show a CLI comparison to consoles attached to the running sandbox, if
/// there is one. Returns why it could not, when it tried and failed.
async fn relay_to_sandbox(
    socket: PathBuf,
    args: CompareArgs,
    mut rx: mpsc::Receiver<CompareEvent>,
) -> Option<String> {
    use crate::runtime::publisher::RunPublisher;
    let remote = match crate::daemon::client::RemoteRuntime::connect(&socket).await {
        Ok(r) => r,
        Err(_) => {
            // No sandbox running: nobody to show it to. Drain and stop.
            while rx.recv().await.is_some() {}
            return None;
        }
    };
    let env = args.env.clone().unwrap_or_else(|| "-".into());
    let mut publisher = RunPublisher::start(
        Arc::new(remote),
        Actor::current("cli"),
        crate::domain::pipeline::PipelineKind::Comparison,
        &env,
        &format!("compare {} → {}", args.old, args.new),
        &STAGES,
        None,
        now_millis(),
    );
    let mut failed = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            CompareEvent::StageStarted(i) => publisher.start_stage(i, now_millis()),
            CompareEvent::StageEnded {
                index,
                status,
                detail,
            } => {
                if let StageStatus::Failed(why) = &status {
                    failed = Some(why.clone());
                }
                publisher.end_stage(index, status, &detail, now_millis());
            }
            CompareEvent::Point { .. } => {}
        }
    }
    let status = match failed {
        Some(why) => StageStatus::Failed(why),
        None => StageStatus::Succeeded,
    };
    publisher.finish(status, now_millis()).await.problem
}

fn fail(
    e: &CompareError,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> i32 {
    crate::report::report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err)
}

/// Start the comparison sandbox, measure, and tear everything down whatever
/// happened (Ctrl-C included).
async fn run_isolated(
    plan: &Plan,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    watch.started(STAGE_START);
    let result = run_isolated_inner(plan, ctx, watch, err).await;
    if let Err(e) = &result {
        // Whatever stage was running ends with the error.
        for i in [STAGE_START, STAGE_WARMUP, STAGE_MEASURE, STAGE_STATISTICS] {
            watch.ended(i, StageStatus::Failed(e.to_string()), "");
        }
    }
    result
}

async fn run_isolated_inner(
    plan: &Plan,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let dir = ctx
        .state
        .dir
        .join(format!("compare-{}", std::process::id()));
    // A leftover of a crashed run whose pid was reused: start fresh.
    if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
        tokio::fs::remove_dir_all(&dir)
            .await
            .map_err(|e| CompareError::Failed(format!("removing stale {}: {e}", dir.display())))?;
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| CompareError::Failed(format!("creating {}: {e}", dir.display())))?;
    // Git refs: worktrees (and builds) first; Ctrl-C stops a long build too.
    let prepared = tokio::select! {
        p = git::prepare(&ctx.config, &ctx.config_dir, &plan.old, &plan.new, &dir, err) => p,
        _ = tokio::signal::ctrl_c() => Err(CompareError::Interrupted),
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            let _ = git_prune(&ctx.config_dir).await;
            return Err(e);
        }
    };
    let mut plan = plan.clone();
    plan.old = prepared.old.clone();
    plan.new = prepared.new.clone();
    let plan = &plan;
    let mut config = comparison_config(&ctx.config, &plan.old, &plan.new);
    for (version, workdir) in &prepared.workdirs {
        config
            .service
            .versions
            .entry(version.clone())
            .or_default()
            .workdir = workdir.display().to_string();
    }
    let _ = writeln!(
        err,
        "starting {} (old) and {} (new) side by side in {}",
        plan.old,
        plan.new,
        dir.display()
    );
    let opts = SandboxOptions {
        config: Arc::new(config),
        config_dir: ctx.config_dir.clone(),
        service_program: ctx.service_program.clone(),
        state: StatePaths::at(&dir),
        read_only: false,
    };
    let result = match SandboxRuntime::start(opts).await {
        Err(e) => Err(CompareError::Failed(format!(
            "starting the comparison sandbox: {e}"
        ))),
        Ok(rt) => {
            let result = tokio::select! {
                r = measure(&rt, plan, &ctx.config, watch, err) => r,
                _ = tokio::signal::ctrl_c() => Err(CompareError::Interrupted),
            };
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, rt.shutdown())
                .await
                .is_err()
            {
                let _ = writeln!(
                    err,
                    "warning: the comparison sandbox did not stop within {}s",
                    SHUTDOWN_TIMEOUT.as_secs()
                );
            }
            result
        }
    };
    prepared.cleanup(err).await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            let _ = writeln!(err, "warning: could not remove {}: {e}", dir.display());
        }
    }
    result
}

/// After a failed preparation some worktrees may be half made: let git
/// forget the ones whose directories are gone.
async fn git_prune(config_dir: &std::path::Path) -> std::io::Result<()> {
    tokio::process::Command::new("git")
        .arg("-C")
        .arg(config_dir)
        .args(["worktree", "prune"])
        .output()
        .await
        .map(|_| ())
}

/// Everything the event collector saw.
#[derive(Debug, Default)]
struct Collected {
    /// Per environment: `(ts, cpu_pct, mem_mib)`.
    points: BTreeMap<String, Vec<(i64, f64, f64)>>,
    /// Points not kept because an environment's buffer was full.
    dropped_points: u64,
    /// Events the runtime dropped because we lagged.
    lagged: u64,
    /// Latest snapshot of each experiment.
    experiments: BTreeMap<String, Experiment>,
}

async fn collect(
    mut rx: mpsc::Receiver<RuntimeEvent>,
    mut stop: oneshot::Receiver<()>,
) -> Collected {
    let mut c = Collected::default();
    loop {
        let ev = tokio::select! {
            biased;
            _ = &mut stop => break,
            ev = rx.recv() => ev,
        };
        match ev {
            None => break,
            Some(RuntimeEvent::Metrics { env, point, .. }) => {
                let v = c.points.entry(env).or_default();
                if v.len() < MAX_POINTS_PER_ENV {
                    v.push((point.ts, point.cpu_pct, point.mem_mib));
                } else {
                    c.dropped_points += 1;
                }
            }
            Some(RuntimeEvent::Lagged { count }) => c.lagged += count,
            Some(RuntimeEvent::Experiment { experiment }) => {
                if c.experiments.len() < MAX_EXPERIMENTS
                    || c.experiments.contains_key(&experiment.id)
                {
                    c.experiments.insert(experiment.id.clone(), experiment);
                }
            }
            Some(_) => {}
        }
    }
    c
}

/// Mean CPU and memory of `env`'s points within `[from, to]` (epoch ms).
fn resource_means(c: &Collected, env: &str, from: i64, to: i64) -> (Option<f64>, Option<f64>) {
    let pts: Vec<&(i64, f64, f64)> = c
        .points
        .get(env)
        .map(|v| v.iter().filter(|p| p.0 >= from && p.0 <= to).collect())
        .unwrap_or_default();
    if pts.is_empty() {
        return (None, None);
    }
    let n = pts.len() as f64;
    (
        Some(pts.iter().map(|p| p.1).sum::<f64>() / n),
        Some(pts.iter().map(|p| p.2).sum::<f64>() / n),
    )
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn wait_ready(rt: &SandboxRuntime) -> Result<Vec<EnvironmentStatus>, CompareError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let envs = rt
            .status()
            .await
            .map_err(|e| CompareError::Failed(format!("reading the sandbox status: {e}")))?;
        let ready = [OLD_ENV, NEW_ENV].iter().all(|name| {
            envs.iter().find(|e| e.name == *name).is_some_and(|e| {
                let (ready, desired) = e.ready_desired();
                desired > 0 && ready >= desired
            })
        });
        if ready {
            return Ok(envs);
        }
        if Instant::now() >= deadline {
            let detail: Vec<String> = envs
                .iter()
                .map(|e| {
                    let phases: Vec<String> = e
                        .instances
                        .iter()
                        .map(|i| format!("{} {}", sanitize_str(&i.id), i.phase.label()))
                        .collect();
                    format!("{}: [{}]", sanitize_str(&e.name), phases.join(", "))
                })
                .collect();
            return Err(CompareError::Failed(format!(
                "the two versions were not Ready within {}s ({})",
                READY_TIMEOUT.as_secs(),
                detail.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn router(envs: &[EnvironmentStatus], name: &str) -> Result<SocketAddr, CompareError> {
    crate::perf::router_target(envs, name).map_err(|e| CompareError::Failed(e.to_string()))
}

fn live_with_reservoir(seed: u64) -> Result<Arc<Live>, CompareError> {
    let window = generator::new_histogram()
        .map_err(|e| CompareError::Failed(format!("latency histogram: {e}")))?;
    Ok(Arc::new(Live {
        samples: Some(Mutex::new(Reservoir::new(RESERVOIR_CAPACITY, seed))),
        window: Some(Mutex::new(window)),
        ..Live::default()
    }))
}

/// Latency samples in ms, taken out of a run's reservoir.
fn samples_ms(live: &Live) -> Vec<f64> {
    live.samples
        .as_ref()
        .map(|r| {
            r.lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .into_iter()
                .map(|us| us as f64 / 1000.0)
                .collect()
        })
        .unwrap_or_default()
}

fn side_stats(version: &str, stats: &RunStats, samples: usize) -> SideStats {
    let server_errors: u64 = stats.statuses.range(500..).map(|(_, n)| n).sum();
    let errors = server_errors + stats.transport_errors();
    let secs = stats.elapsed.as_secs_f64();
    let q = |p: f64| stats.corrected.value_at_quantile(p) as f64 / 1000.0;
    let has = !stats.corrected.is_empty();
    SideStats {
        version: version.to_string(),
        requests: stats.requests,
        errors,
        duration_secs: secs,
        rps: if secs > 0.0 {
            stats.requests as f64 / secs
        } else {
            0.0
        },
        error_rate: if stats.requests > 0 {
            errors as f64 / stats.requests as f64
        } else {
            0.0
        },
        p50_ms: if has { q(0.50) } else { 0.0 },
        p95_ms: if has { q(0.95) } else { 0.0 },
        p99_ms: if has { q(0.99) } else { 0.0 },
        cpu_pct: None,
        mem_mib: None,
        samples,
    }
}

/// Inject `scenario` into both environments once measuring starts.
async fn inject_both(
    rt: &SandboxRuntime,
    scenario: ScenarioKind,
    config: &Config,
    warmup: Duration,
    measured: Duration,
) -> Vec<Result<String, String>> {
    tokio::time::sleep(warmup).await;
    let mut params = config.chaos.defaults.clone();
    // The fault must end inside the window so recovery can be seen.
    params.duration_secs = params.duration_secs.min(measured.as_secs() / 2).max(1);
    let actor = Actor::current("compare");
    let mut ids = Vec::with_capacity(2);
    for env in [OLD_ENV, NEW_ENV] {
        ids.push(
            rt.inject(&actor, env, scenario, params.clone())
                .await
                .map(|e| e.id)
                .map_err(|e| e.to_string()),
        );
    }
    ids
}

async fn measure(
    rt: &SandboxRuntime,
    plan: &Plan,
    config: &Config,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let events = rt
        .subscribe()
        .await
        .map_err(|e| CompareError::Failed(format!("subscribing to sandbox events: {e}")))?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let collector = tokio::spawn(collect(events, stop_rx));
    let envs = wait_ready(rt).await?;
    watch.ended(
        STAGE_START,
        StageStatus::Succeeded,
        format!("{} and {} Ready", plan.old, plan.new),
    );
    watch.started(STAGE_WARMUP);
    let targets = [router(&envs, OLD_ENV)?, router(&envs, NEW_ENV)?];
    let spec = |addr: SocketAddr| LoadSpec {
        target: Target {
            addr,
            host: addr.to_string(),
        },
        endpoints: plan.endpoints.clone(),
        pacing: plan.pacing,
        concurrency: plan.concurrency,
        stop: Stop::Duration(plan.duration),
        warmup: plan.warmup,
        timeout: plan.timeout,
    };
    let (spec_old, spec_new) = (spec(targets[0]), spec(targets[1]));
    let (live_old, live_new) = (live_with_reservoir(1)?, live_with_reservoir(2)?);
    let _ = writeln!(
        err,
        "both Ready; warming up {:.1}s, then measuring {:.1}s",
        plan.warmup.as_secs_f64(),
        plan.duration.as_secs_f64()
    );
    let started = now_millis();
    let window_start = started + i64::try_from(plan.warmup.as_millis()).unwrap_or(i64::MAX);
    let chaos = async {
        match plan.chaos {
            Some(s) => inject_both(rt, s, config, plan.warmup, plan.duration).await,
            None => Vec::new(),
        }
    };
    let (ticker_stop, ticker_stopped) = oneshot::channel();
    let ticker = tokio::spawn(tick_points(
        [live_old.clone(), live_new.clone()],
        plan.warmup,
        watch.clone(),
        ticker_stopped,
    ));
    let (run_old, run_new, injected) = tokio::join!(
        generator::run(&spec_old, live_old.clone()),
        generator::run(&spec_new, live_new.clone()),
        chaos
    );
    let window_end = now_millis();
    let _ = ticker_stop.send(());
    let series = ticker.await.unwrap_or_default();
    let run_old = run_old.map_err(|e| CompareError::Failed(format!("load on old: {e}")))?;
    let run_new = run_new.map_err(|e| CompareError::Failed(format!("load on new: {e}")))?;
    // A last metrics tick may still be on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let collected = collector.await.unwrap_or_default();
    for (run, side) in [(&run_old, "old"), (&run_new, "new")] {
        if run.responses() == 0 {
            let kinds: Vec<String> = run
                .errors
                .iter()
                .map(|(k, v)| format!("{}: {v}", k.as_str()))
                .collect();
            return Err(CompareError::Failed(format!(
                "no request to the {side} version got a response ({})",
                kinds.join(", ")
            )));
        }
    }

    let old_samples = samples_ms(&live_old);
    let new_samples = samples_ms(&live_new);
    let mut old = side_stats(&plan.old, &run_old, old_samples.len());
    let mut new = side_stats(&plan.new, &run_new, new_samples.len());
    (old.cpu_pct, old.mem_mib) = resource_means(&collected, OLD_ENV, window_start, window_end);
    (new.cpu_pct, new.mem_mib) = resource_means(&collected, NEW_ENV, window_start, window_end);
    let error_rate_p_value = two_proportion_p(old.errors, old.requests, new.errors, new.requests);
    let _ = writeln!(err, "measured; computing statistics");
    watch.ended(
        STAGE_MEASURE,
        StageStatus::Succeeded,
        format!(
            "{} {:.0} req/s p95 {:.1}ms · {} {:.0} req/s p95 {:.1}ms",
            plan.old, old.rps, old.p95_ms, plan.new, new.rps, new.p95_ms
        ),
    );
    watch.started(STAGE_STATISTICS);
    // Ranking and 1000 bootstrap resamples are CPU work: off the executor.
    let (mann_whitney, p95_ci) = tokio::task::spawn_blocking(move || {
        (
            mann_whitney(&old_samples, &new_samples),
            bootstrap_quantile_diff(
                &old_samples,
                &new_samples,
                0.95,
                BOOTSTRAP_RESAMPLES,
                0.95,
                BOOTSTRAP_SEED,
            ),
        )
    })
    .await
    .map_err(|e| CompareError::Failed(format!("computing statistics: {e}")))?;
    let evidence = Evidence {
        mann_whitney,
        p95_diff_ci_ms: p95_ci,
        error_rate_p_value,
    };
    let thresholds = ComparisonThresholds {
        max_p95_regression_pct: config.comparison.max_p95_regression_pct,
        max_p99_regression_pct: config.comparison.max_p99_regression_pct,
        max_error_rate: config.comparison.max_error_rate,
        min_throughput_ratio: config.comparison.min_throughput_ratio,
    };
    let assessment = assess(&old, &new, &thresholds, &evidence);
    watch.ended(
        STAGE_STATISTICS,
        StageStatus::Succeeded,
        "Mann-Whitney U, bootstrap CI of the p95 difference",
    );
    let chaos = plan.chaos.map(|scenario| {
        [OLD_ENV, NEW_ENV]
            .iter()
            .zip(injected)
            .map(|(env, r)| ChaosLine::from_run(env, scenario, r, &collected.experiments))
            .collect()
    });
    Ok(ComparisonReport {
        old,
        new,
        load: LoadDescription {
            pacing: match plan.pacing {
                Pacing::Closed => "closed",
                Pacing::Open { .. } => "open",
            },
            rate_per_side: match plan.pacing {
                Pacing::Open { rate } => Some(rate),
                Pacing::Closed => None,
            },
            concurrency_per_side: plan.concurrency,
            warmup_secs: plan.warmup.as_secs_f64(),
            duration_secs: plan.duration.as_secs_f64(),
            endpoints: plan.endpoints.iter().map(|e| e.path.clone()).collect(),
        },
        thresholds,
        evidence,
        assessment,
        chaos,
        events_lost: collected.lagged + collected.dropped_points,
        promotion: Promotion::default(),
        series,
    })
}

/// Longest series kept per side (one point a second).
const MAX_SERIES_POINTS: usize = 3600;

/// One point a second per side from the generators' live counters, sent to
/// the watcher and kept for the report, until `stop`.
async fn tick_points(
    lives: [Arc<Live>; 2],
    warmup: Duration,
    watch: Watcher,
    mut stop: oneshot::Receiver<()>,
) -> SideSeries {
    let mut series = SideSeries::default();
    let mut last = [(0u64, 0u64); 2];
    let mut was_measuring = false;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => return series,
            _ = tick.tick() => {}
        }
        let measuring = lives[0]
            .measuring
            .load(std::sync::atomic::Ordering::Relaxed);
        if measuring && !was_measuring {
            // The counters restart when measuring starts.
            was_measuring = true;
            last = [(0, 0); 2];
            watch.ended(
                STAGE_WARMUP,
                StageStatus::Succeeded,
                format!(
                    "{:.1}s",
                    warmup.as_secs_f64().max(started.elapsed().as_secs_f64())
                ),
            );
            watch.started(STAGE_MEASURE);
        }
        for (i, (live, side)) in lives.iter().zip([Side::Old, Side::New]).enumerate() {
            let reqs = live.requests.load(std::sync::atomic::Ordering::Relaxed);
            let errs = live.errors.load(std::sync::atomic::Ordering::Relaxed);
            let dreq = reqs.saturating_sub(last[i].0);
            let derr = errs.saturating_sub(last[i].1);
            last[i] = (reqs, errs);
            let (p50, p95, p99) = live.take_window_quantiles();
            let point = MetricPoint {
                ts: now_millis(),
                rps: dreq as f64,
                error_rate: if dreq > 0 {
                    derr as f64 / dreq as f64
                } else {
                    0.0
                },
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
                cpu_pct: 0.0,
                mem_mib: 0.0,
            };
            let kept = match side {
                Side::Old => &mut series.old,
                Side::New => &mut series.new,
            };
            if kept.len() < MAX_SERIES_POINTS {
                kept.push(point.clone());
            }
            watch.send(CompareEvent::Point { side, point });
        }
    }
}

/// Deploy the new version to `--env` of the running sandbox when the
/// config allows it and the new version clearly won; say why not otherwise.
async fn promote(args: &CompareArgs, ctx: &CompareContext, report: &ComparisonReport) -> Promotion {
    let not = |reason: String| Promotion {
        attempted: false,
        promoted: false,
        env: args.env.clone(),
        message: reason,
    };
    if !ctx.config.comparison.auto_promote {
        return not("comparison.auto_promote is off in the config".into());
    }
    if report.assessment.verdict != Verdict::NewWins || !report.assessment.thresholds_passed {
        return not(format!(
            "the verdict is `{}`; only a clear win is promoted",
            report.assessment.verdict.label()
        ));
    }
    let Some(env) = &args.env else {
        return not("no --env given to promote to".into());
    };
    if ctx.read_only {
        return not("read-only mode".into());
    }
    let socket = ctx.state.control_socket();
    let remote = match crate::daemon::client::RemoteRuntime::connect(&socket).await {
        Ok(r) => r,
        Err(e) => return not(format!("no running sandbox to promote in: {e}")),
    };
    let actor = Actor::current("compare");
    match remote
        .deploy(&actor, env, &Version::new(report.new.version.clone()))
        .await
    {
        Ok(accepted) => Promotion {
            attempted: true,
            promoted: true,
            env: Some(env.clone()),
            message: format!(
                "deploying {} to {} (pipeline {})",
                report.new.version,
                sanitize_str(env),
                accepted.pipeline_id
            ),
        },
        Err(e) => Promotion {
            attempted: true,
            promoted: false,
            env: Some(env.clone()),
            message: format!("deploy refused: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> CompareArgs {
        CompareArgs {
            old: "v1".into(),
            new: "v3-slow".into(),
            duration: Duration::from_secs(3),
            concurrency: 4,
            rate: None,
            warmup: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
            env: None,
            chaos: None,
        }
    }

    #[test]
    fn plan_checks_flags() {
        let cfg = Config::default();
        let p = plan(&args(), &cfg).unwrap();
        assert_eq!(p.pacing, Pacing::Closed);
        let paths: Vec<&str> = p.endpoints.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, cfg.traffic.paths);
        for bad in [
            CompareArgs {
                old: "v1; rm -rf /".into(),
                ..args()
            },
            CompareArgs {
                new: String::new(),
                ..args()
            },
            CompareArgs {
                concurrency: 0,
                ..args()
            },
            CompareArgs {
                rate: Some(f64::NAN),
                ..args()
            },
            CompareArgs {
                duration: Duration::ZERO,
                ..args()
            },
            CompareArgs {
                chaos: Some("meteor".into()),
                ..args()
            },
        ] {
            assert!(
                matches!(plan(&bad, &cfg), Err(CompareError::Usage(_))),
                "{bad:?}"
            );
        }
        let with_chaos = CompareArgs {
            chaos: Some("pod-kill".into()),
            rate: Some(50.0),
            ..args()
        };
        let p = plan(&with_chaos, &cfg).unwrap();
        assert_eq!(p.chaos, Some(ScenarioKind::PodKill));
        assert_eq!(p.pacing, Pacing::Open { rate: 50.0 });
    }

    #[test]
    fn comparison_config_has_two_quiet_environments() {
        let cfg = Config::default();
        let c = comparison_config(&cfg, "v1", "v2");
        let names: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, [OLD_ENV, NEW_ENV]);
        assert_eq!(c.environments[0].initial_version, "v1");
        assert_eq!(c.environments[1].initial_version, "v2");
        assert!(c
            .environments
            .iter()
            .all(|e| e.router_port == 0 && e.metrics_port == 0 && !e.protected));
        assert_eq!(c.environments[0].replicas, cfg.environments[0].replicas);
        assert_eq!(c.traffic.rate_per_sec, 0.0);
        assert_eq!(c.service, cfg.service);
    }

    #[test]
    fn resources_average_inside_the_window() {
        let mut c = Collected::default();
        c.points.insert(
            OLD_ENV.into(),
            vec![(0, 99.0, 99.0), (1000, 10.0, 20.0), (2000, 30.0, 40.0)],
        );
        assert_eq!(
            resource_means(&c, OLD_ENV, 500, 2500),
            (Some(20.0), Some(30.0))
        );
        assert_eq!(resource_means(&c, NEW_ENV, 0, 2500), (None, None));
    }

    #[tokio::test]
    async fn collector_keeps_metrics_and_counts_lag() {
        use crate::domain::metrics::MetricPoint;
        let (tx, rx) = mpsc::channel(16);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(collect(rx, stop_rx));
        tx.send(RuntimeEvent::Metrics {
            env: OLD_ENV.into(),
            version: "v1".into(),
            point: MetricPoint {
                ts: 5,
                cpu_pct: 12.0,
                mem_mib: 8.0,
                ..Default::default()
            },
        })
        .await
        .unwrap();
        tx.send(RuntimeEvent::Lagged { count: 3 }).await.unwrap();
        // Let the collector drain before it is told to stop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(()).unwrap();
        let c = task.await.unwrap();
        assert_eq!(c.points[OLD_ENV], vec![(5, 12.0, 8.0)]);
        assert_eq!(c.lagged, 3);
    }
}
