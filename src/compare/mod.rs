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

use crate::cli::{exit, OutputMode};
use crate::config::{Config, EnvironmentConfig};
use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::comparison::{
    assess, bootstrap_quantile_diff, mann_whitney, two_proportion_p, ComparisonThresholds,
    Evidence, Reservoir, SideStats, Verdict, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
    RESERVOIR_CAPACITY,
};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::sanitize::sanitize_str;
use crate::paths::StatePaths;
use crate::perf::generator::{self, Live};
use crate::perf::{
    parse_duration, parse_endpoint, Endpoint, LoadSpec, Pacing, RunStats, Stop, Target,
};
use crate::runtime::{Actor, Runtime, RuntimeEvent};
use crate::sandbox::{SandboxOptions, SandboxRuntime};

pub use report::{ChaosLine, ComparisonReport, LoadDescription, Promotion};

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
    check_version("old", &args.old)?;
    check_version("new", &args.new)?;
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
    err: &mut dyn Write,
) -> i32 {
    let plan = match plan(args, &ctx.config) {
        Ok(p) => p,
        Err(e) => return fail(&e, mode, out, err),
    };
    let mut report = match run_isolated(&plan, ctx, err).await {
        Ok(r) => r,
        Err(e) => return fail(&e, mode, out, err),
    };
    report.promotion = promote(args, ctx, &report).await;
    let written = match mode {
        OutputMode::Table => out.write_all(report.table().as_bytes()),
        OutputMode::Json => serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|s| writeln!(out, "{s}")),
    };
    let _ = out.flush();
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::FAILED,
        _ if !report.assessment.thresholds_passed => exit::FAILED,
        _ => exit::OK,
    }
}

fn fail(e: &CompareError, mode: OutputMode, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    crate::cli::output::report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err)
}

/// Start the comparison sandbox, measure, and tear everything down whatever
/// happened (Ctrl-C included).
async fn run_isolated(
    plan: &Plan,
    ctx: &CompareContext,
    err: &mut dyn Write,
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
    let _ = writeln!(
        err,
        "starting {} (old) and {} (new) side by side in {}",
        plan.old,
        plan.new,
        dir.display()
    );
    let opts = SandboxOptions {
        config: Arc::new(comparison_config(&ctx.config, &plan.old, &plan.new)),
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
                r = measure(&rt, plan, &ctx.config, err) => r,
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
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            let _ = writeln!(err, "warning: could not remove {}: {e}", dir.display());
        }
    }
    result
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

fn live_with_reservoir(seed: u64) -> Arc<Live> {
    Arc::new(Live {
        samples: Some(Mutex::new(Reservoir::new(RESERVOIR_CAPACITY, seed))),
        ..Live::default()
    })
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
    err: &mut dyn Write,
) -> Result<ComparisonReport, CompareError> {
    let events = rt
        .subscribe()
        .await
        .map_err(|e| CompareError::Failed(format!("subscribing to sandbox events: {e}")))?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let collector = tokio::spawn(collect(events, stop_rx));
    let envs = wait_ready(rt).await?;
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
    let (live_old, live_new) = (live_with_reservoir(1), live_with_reservoir(2));
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
    let (run_old, run_new, injected) = tokio::join!(
        generator::run(&spec_old, live_old.clone()),
        generator::run(&spec_new, live_new.clone()),
        chaos
    );
    let window_end = now_millis();
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
    })
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
