//! `blissful-infra perf`: a built-in HTTP/1.1 load generator.
//!
//! [`generator`] sends the load and records latencies in HDR histograms;
//! [`report`] turns the result into a table or a JSON document and checks
//! it against the thresholds (`perf:` in config, overridden by flags).

pub mod generator;
pub mod k6;
pub mod report;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::environment::EnvironmentStatus;
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::{PipelineKind, StageStatus};
use crate::domain::sanitize::sanitize_str;
use crate::report::{exit, OutputMode};
use crate::runtime::publisher::RunPublisher;
use crate::runtime::{Actor, SharedRuntime, LOAD_TEST_SERIES};

pub use generator::{Endpoint, ErrorKind, LoadSpec, Pacing, RunStats, Stop, Target};
pub use report::{Summary, Thresholds};

/// Upper bounds that keep a run finite and its memory small.
pub const MAX_CONCURRENCY: usize = 1000;
pub const MAX_RATE: f64 = 1_000_000.0;

/// Check `--concurrency` and `--rate` (shared by `perf` and `compare`):
/// closed loop without a rate, open loop with one.
pub fn pacing_from_flags(concurrency: usize, rate: Option<f64>) -> Result<Pacing, String> {
    if concurrency == 0 || concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "--concurrency must be in 1..={MAX_CONCURRENCY}, got {concurrency}"
        ));
    }
    match rate {
        None => Ok(Pacing::Closed),
        Some(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(Pacing::Open { rate: r }),
        Some(r) => Err(format!("--rate must be in (0, {MAX_RATE}], got {r}")),
    }
}
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    UnknownEnvironment(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Failed(String),
}

impl PerfError {
    fn kind(&self) -> &'static str {
        match self {
            PerfError::Usage(_) => "usage",
            PerfError::Unreachable(_) => "unreachable",
            PerfError::Unavailable(_) => "unavailable",
            PerfError::UnknownEnvironment(_) => "unknown_environment",
            PerfError::Internal(_) => "internal",
            PerfError::Failed(_) => "failed",
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            PerfError::Usage(_) => exit::USAGE,
            PerfError::Unreachable(_) | PerfError::Internal(_) | PerfError::Failed(_) => {
                exit::FAILED
            }
            PerfError::Unavailable(_) => exit::UNAVAILABLE,
            PerfError::UnknownEnvironment(_) => exit::REFUSED,
        }
    }
}

/// Flags of `blissful-infra perf`.
#[derive(clap::Args, Debug, Clone)]
pub struct PerfArgs {
    /// Environment whose edge router gets the load (needs a running sandbox).
    #[arg(long, short, conflicts_with = "url", required_unless_present = "url")]
    pub env: Option<String>,
    /// Target base URL, e.g. http://127.0.0.1:8080 (plain HTTP/1.1).
    #[arg(long)]
    pub url: Option<String>,
    /// How long to measure (e.g. 10s, 500ms, 2m).
    #[arg(long, short, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Send exactly this many requests instead of running for --duration.
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Connections, each with one request in flight.
    #[arg(long, short, default_value_t = 10)]
    pub concurrency: usize,
    /// Open loop: requests per second, whatever the answers (latency is
    /// measured from when each request was due).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Load sent first and not recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// PATH=WEIGHT, repeatable (default: `/` for --url, the config's
    /// traffic paths for --env).
    #[arg(long = "endpoint", value_name = "PATH=WEIGHT", value_parser = parse_endpoint)]
    pub endpoints: Vec<Endpoint>,
    /// Per-request timeout, connecting included.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Fail when p95 latency is above this (default: perf.p95_ms in config).
    #[arg(long)]
    pub p95_ms: Option<f64>,
    /// Fail when the error rate (0..1) is above this (default: perf.max_error_rate).
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// `builtin`, or `k6` to run the project's k6 scripts (their own
    /// options apply; the target reaches them as BASE_URL).
    #[arg(long, value_enum, default_value_t = Engine::Builtin)]
    pub engine: Engine,
    /// k6 script to run, repeatable (default: every k6/*.js next to the config).
    #[arg(long = "script", value_name = "FILE")]
    pub scripts: Vec<std::path::PathBuf>,
}

/// Who generates the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Builtin,
    K6,
}

impl PerfArgs {
    /// The flags' defaults, aimed at environment `env` (the console's `L`).
    pub fn for_env(env: &str) -> PerfArgs {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: PerfArgs,
        }
        use clap::Parser;
        match Defaults::try_parse_from(["perf", "--env", env]) {
            Ok(d) => d.args,
            // Only a name clap cannot take as a value (none in practice):
            // the same defaults, written out.
            Err(_) => PerfArgs {
                env: Some(env.to_string()),
                url: None,
                duration: Duration::from_secs(10),
                requests: None,
                concurrency: 10,
                rate: None,
                warmup: Duration::from_secs(2),
                endpoints: Vec::new(),
                timeout: Duration::from_secs(10),
                p95_ms: None,
                max_error_rate: None,
                engine: Engine::Builtin,
                scripts: Vec::new(),
            },
        }
    }
}

/// `10s`, `500ms`, `2m`, `1.5s`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a duration like 10s or 500ms", sanitize_str(s)))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit in `{}` (ms, s, m, h)",
                sanitize_str(s)
            ))
        }
    };
    if !(secs.is_finite() && secs >= 0.0) || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{}` is outside 0..={}s",
            sanitize_str(s),
            MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `PATH=WEIGHT` or `PATH` (weight 1). A trailing `=N` is a weight only when
/// N is a number, so query strings keep their `=`.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let (path, weight) = match s.rsplit_once('=') {
        Some((p, w)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
            let w: u32 = w
                .parse()
                .map_err(|_| format!("weight `{w}` is too large"))?;
            (p, w)
        }
        _ => (s, 1),
    };
    if !path.starts_with('/') {
        return Err(format!(
            "endpoint `{}` must start with `/`",
            sanitize_str(path)
        ));
    }
    if path.parse::<hyper::Uri>().is_err() || path.chars().any(char::is_whitespace) {
        return Err(format!(
            "endpoint `{}` is not a valid request path",
            sanitize_str(path)
        ));
    }
    if weight == 0 || weight > 1_000_000 {
        return Err(format!("weight {weight} is outside 1..=1000000"));
    }
    Ok(Endpoint {
        path: path.to_string(),
        weight,
    })
}

/// A parsed `http://host[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `host:port` as given (the `Host` header).
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// The path, `/` when there was none.
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<ParsedUrl, PerfError> {
    let shown = sanitize_str(url);
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(PerfError::Usage(if url.starts_with("https://") {
            format!("`{shown}`: https is not supported; use a plain http:// URL")
        } else {
            format!("`{shown}` is not an http:// URL")
        }));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(PerfError::Usage(format!(
            "`{shown}` needs a host (and no user info)"
        )));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(PerfError::Usage(format!("`{shown}`: unclosed `[`")));
        };
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), port_of(p, &shown)?),
            None if after.is_empty() => (h.to_string(), 80),
            None => return Err(PerfError::Usage(format!("`{shown}`: bad host"))),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), port_of(p, &shown)?),
            None => (authority.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(PerfError::Usage(format!("`{shown}` needs a host")));
    }
    parse_endpoint(&path).map_err(|e| PerfError::Usage(format!("`{shown}`: {e}")))?;
    Ok(ParsedUrl {
        authority: authority.to_string(),
        host,
        port,
        path,
    })
}

fn port_of(p: &str, shown: &str) -> Result<u16, PerfError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PerfError::Usage(format!("`{shown}`: bad port `{}`", sanitize_str(p))))
}

/// The edge router address of environment `name`.
pub fn router_target(envs: &[EnvironmentStatus], name: &str) -> Result<SocketAddr, PerfError> {
    let Some(env) = envs.iter().find(|e| e.name == name) else {
        let known: Vec<String> = envs.iter().map(|e| sanitize_str(&e.name)).collect();
        return Err(PerfError::UnknownEnvironment(format!(
            "unknown environment `{}` (known: {})",
            sanitize_str(name),
            known.join(", ")
        )));
    };
    env.router_addr.parse().map_err(|_| {
        PerfError::Unavailable(format!(
            "environment `{}` has no usable router address (`{}`)",
            sanitize_str(name),
            sanitize_str(&env.router_addr)
        ))
    })
}

/// Everything a run needs, resolved from flags, config and (for --env) the sandbox.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Shown in output, e.g. `http://127.0.0.1:8180`.
    pub label: String,
    pub spec: LoadSpec,
    pub thresholds: Thresholds,
}

/// Check flags and build the plan. `router` is the environment's router
/// address when `--env` was given.
pub async fn plan(
    args: &PerfArgs,
    config: &Config,
    router: Option<SocketAddr>,
) -> Result<Plan, PerfError> {
    let pacing = pacing_from_flags(args.concurrency, args.rate).map_err(PerfError::Usage)?;
    let stop = match args.requests {
        Some(0) => return Err(PerfError::Usage("--requests must be at least 1".into())),
        Some(n) => Stop::Requests(n),
        None if args.duration.is_zero() => {
            return Err(PerfError::Usage("--duration must be above 0".into()))
        }
        None => Stop::Duration(args.duration),
    };
    if args.timeout.is_zero() {
        return Err(PerfError::Usage("--timeout must be above 0".into()));
    }
    let p95_ms = args.p95_ms.unwrap_or(config.perf.p95_ms);
    if !(p95_ms.is_finite() && p95_ms > 0.0) {
        return Err(PerfError::Usage(format!(
            "--p95-ms must be above 0, got {p95_ms}"
        )));
    }
    let max_error_rate = args.max_error_rate.unwrap_or(config.perf.max_error_rate);
    if !(0.0..=1.0).contains(&max_error_rate) {
        return Err(PerfError::Usage(format!(
            "--max-error-rate must be in 0..=1, got {max_error_rate}"
        )));
    }
    let (label, target, default_path) = match (router, &args.url) {
        (Some(addr), _) => (
            format!("http://{addr}"),
            Target {
                addr,
                host: addr.to_string(),
            },
            None,
        ),
        (None, Some(url)) => {
            let u = parse_url(url)?;
            let addr = tokio::net::lookup_host((u.host.as_str(), u.port))
                .await
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    PerfError::Unreachable(format!("cannot resolve `{}`", sanitize_str(&u.host)))
                })?;
            (
                format!("http://{}", sanitize_str(&u.authority)),
                Target {
                    addr,
                    host: u.authority.clone(),
                },
                Some(u.path),
            )
        }
        (None, None) => return Err(PerfError::Usage("give --env or --url".into())),
    };
    let endpoints = if !args.endpoints.is_empty() {
        args.endpoints.clone()
    } else if let Some(p) = default_path {
        vec![Endpoint { path: p, weight: 1 }]
    } else {
        // --env: the same paths the sandbox's background traffic uses.
        let eps: Vec<Endpoint> = config
            .traffic
            .paths
            .iter()
            .filter_map(|p| parse_endpoint(p).ok())
            .map(|e| Endpoint { weight: 1, ..e })
            .collect();
        if eps.is_empty() {
            vec![Endpoint {
                path: "/".into(),
                weight: 1,
            }]
        } else {
            eps
        }
    };
    Ok(Plan {
        label,
        spec: LoadSpec {
            target,
            endpoints,
            pacing,
            concurrency: args.concurrency,
            stop,
            warmup: args.warmup,
            timeout: args.timeout,
        },
        thresholds: Thresholds {
            p95_ms,
            max_error_rate,
        },
    })
}

/// Fail fast, with a clear message, when nothing listens at the target.
async fn probe(plan: &Plan) -> Result<(), PerfError> {
    let wait = plan.spec.timeout.min(Duration::from_secs(5));
    match tokio::time::timeout(wait, tokio::net::TcpStream::connect(plan.spec.target.addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(PerfError::Unreachable(format!(
            "cannot reach {} ({}): {e}",
            plan.label, plan.spec.target.addr
        ))),
        Err(_) => Err(PerfError::Unreachable(format!(
            "cannot reach {} ({}): no answer within {:.1}s",
            plan.label,
            plan.spec.target.addr,
            wait.as_secs_f64()
        ))),
    }
}

/// Stages of a load test as shown in the Pipeline pane.
pub const STAGES: [&str; 3] = ["warm-up", "load", "thresholds"];
const STAGE_WARMUP: usize = 0;
const STAGE_LOAD: usize = 1;
const STAGE_THRESHOLDS: usize = 2;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Live numbers of the last interval, for the Metrics pane.
fn interval_point(live: &generator::Live, rps: f64, err_rate: f64) -> MetricPoint {
    let (p50, p95, p99) = live.take_window_quantiles();
    MetricPoint {
        ts: now_ms(),
        rps,
        error_rate: err_rate,
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
        cpu_pct: 0.0,
        mem_mib: 0.0,
    }
}

/// `[#########-----------]  45%` for the progress line.
fn progress_bar(fraction: f64) -> String {
    const WIDTH: usize = 20;
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let done = (f * WIDTH as f64).round() as usize;
    format!(
        "[{}{}] {:3.0}%",
        "#".repeat(done),
        "-".repeat(WIDTH - done),
        f * 100.0
    )
}

/// How far the measured phase is, 0..1.
fn load_progress(spec: &LoadSpec, measured: Duration, requests: u64) -> f64 {
    match spec.stop {
        Stop::Duration(d) if !d.is_zero() => measured.as_secs_f64() / d.as_secs_f64(),
        Stop::Requests(n) if n > 0 => requests as f64 / n as f64,
        _ => 0.0,
    }
}

/// Run a plan, updating a progress line on `err` when `progress` is set and
/// reporting stages and live numbers to `publisher` (the console) if given.
pub async fn execute(
    plan: &Plan,
    err: &mut (dyn Write + Send),
    progress: bool,
    mut publisher: Option<&mut RunPublisher>,
) -> Result<Summary, PerfError> {
    if let Some(p) = publisher.as_deref_mut() {
        p.start_stage(STAGE_WARMUP, now_ms());
    }
    if let Err(e) = probe(plan).await {
        if let Some(p) = publisher.as_deref_mut() {
            p.end_stage(
                STAGE_WARMUP,
                StageStatus::Failed(e.to_string()),
                "",
                now_ms(),
            );
        }
        return Err(e);
    }
    let live = Arc::new(generator::Live {
        window: publisher
            .is_some()
            .then(|| generator::new_histogram().map(Mutex::new))
            .transpose()?,
        ..generator::Live::default()
    });
    let mut run = pin!(generator::run(&plan.spec, live.clone()));
    let watching = progress || publisher.is_some();
    let started = Instant::now();
    // Counters restart when measuring starts, about `warmup` after `started`.
    let measure_start = started + plan.spec.warmup;
    let mut was_measuring = false;
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut rps = 0.0;
    let mut err_rate = 0.0;
    let mut ticks = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let stats = loop {
        tokio::select! {
            res = &mut run => break res,
            _ = tick.tick(), if watching => {
                ticks += 1;
                let measuring = live.measuring.load(Ordering::Relaxed);
                let reqs = live.requests.load(Ordering::Relaxed);
                let errs = live.errors.load(Ordering::Relaxed);
                let now = Instant::now();
                let started_measuring = measuring && !was_measuring;
                if started_measuring {
                    // The counters were reset in between: no rate this tick.
                    was_measuring = true;
                    if let Some(p) = publisher.as_deref_mut() {
                        let warm = format!("{:.1}s", plan.spec.warmup.as_secs_f64());
                        p.end_stage(STAGE_WARMUP, StageStatus::Succeeded, &warm, now_ms());
                        p.start_stage(STAGE_LOAD, now_ms());
                    }
                } else {
                    let dt = (now - last.0).as_secs_f64();
                    let dreq = reqs.saturating_sub(last.1);
                    if dt > 0.0 {
                        rps = dreq as f64 / dt;
                    }
                    err_rate = if dreq > 0 {
                        errs.saturating_sub(last.2) as f64 / dreq as f64
                    } else {
                        0.0
                    };
                }
                last = (now, reqs, errs);
                let measured = measuring.then(|| now.saturating_duration_since(measure_start));
                if progress {
                    let line = match measured {
                        Some(m) => format!(
                            "{} {:6.1}s  {reqs:>9} requests  {rps:>9.0} req/s  {errs} errors",
                            progress_bar(load_progress(&plan.spec, m, reqs)),
                            m.as_secs_f64()
                        ),
                        None => format!(
                            "{} warmup {:4.1}s  {rps:>9.0} req/s",
                            progress_bar(0.0),
                            (now - started).as_secs_f64()
                        ),
                    };
                    let _ = write!(err, "\r{line:<90}");
                    let _ = err.flush();
                }
                if let Some(p) = publisher.as_deref_mut() {
                    if ticks % 4 == 0 {
                        p.point(interval_point(&live, rps, err_rate));
                        if let Some(m) = measured {
                            let detail = format!("{reqs} requests, {rps:.0} req/s, {errs} errors");
                            p.progress(STAGE_LOAD, load_progress(&plan.spec, m, reqs), &detail);
                        } else {
                            let frac = (now - started).as_secs_f64()
                                / plan.spec.warmup.as_secs_f64().max(0.001);
                            p.progress(STAGE_WARMUP, frac, &format!("{rps:.0} req/s"));
                        }
                    }
                }
            }
        }
    };
    if progress {
        let _ = write!(err, "\r{:<90}\r", "");
        let _ = err.flush();
    }
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            if let Some(p) = publisher.as_deref_mut() {
                let stage = if was_measuring {
                    STAGE_LOAD
                } else {
                    STAGE_WARMUP
                };
                p.end_stage(stage, StageStatus::Failed(e.to_string()), "", now_ms());
            }
            return Err(e);
        }
    };
    let summary = Summary::build(
        &plan.label,
        plan.spec.pacing,
        plan.spec.concurrency,
        &plan.spec.endpoints,
        &stats,
        plan.thresholds,
    );
    if let Some(p) = publisher {
        let now = now_ms();
        if !was_measuring {
            let skipped = if plan.spec.warmup.is_zero() {
                StageStatus::Skipped
            } else {
                StageStatus::Succeeded
            };
            p.end_stage(STAGE_WARMUP, skipped, "", now);
        }
        let detail = format!(
            "{} requests, {:.0} req/s, p95 {}, errors {:.2}%",
            summary.requests,
            summary.rps,
            report::ms(summary.latency_ms.p95),
            summary.error_rate * 100.0
        );
        p.end_stage(STAGE_LOAD, StageStatus::Succeeded, &detail, now);
        let status = if summary.thresholds.passed {
            StageStatus::Succeeded
        } else {
            let why: Vec<&str> = summary
                .thresholds
                .failures
                .iter()
                .map(|f| f.message.as_str())
                .collect();
            StageStatus::Failed(why.join("; "))
        };
        p.start_stage(STAGE_THRESHOLDS, now);
        p.end_stage(STAGE_THRESHOLDS, status, "", now);
    }
    Ok(summary)
}

fn fail(e: &PerfError, mode: OutputMode, out: &mut dyn Write, err: &mut (dyn Write + Send)) -> i32 {
    crate::report::report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err)
}

/// `blissful-infra perf`. `control_socket` is used only with `--env`.
/// Results go to `out`; progress, notes and threshold failures to `err`.
/// Exit codes: 0 passed, 1 a threshold failed or the target is unreachable,
/// 2 unknown environment, 3 no sandbox running, 64 bad flags.
#[allow(clippy::too_many_arguments)]
pub async fn cmd_perf(
    args: &PerfArgs,
    config: &Config,
    project_dir: &Path,
    control_socket: &Path,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
    progress: bool,
) -> i32 {
    if args.engine == Engine::K6 {
        return cmd_perf_k6(args, config, project_dir, control_socket, mode, out, err).await;
    }
    let result = match &args.env {
        Some(name) => {
            let rt = match connect(control_socket).await {
                Ok(rt) => rt,
                Err(e) => return fail(&e, mode, out, err),
            };
            match run_on_env(rt, name, args, config, Actor::current("cli"), err, progress).await {
                Ok((summary, problem)) => {
                    if let Some(problem) = problem {
                        let _ =
                            writeln!(err, "note: the console does not show this run: {problem}");
                    }
                    Ok(summary)
                }
                Err(e) => Err(e),
            }
        }
        None => match plan(args, config, None).await {
            Ok(p) => execute(&p, err, progress, None).await,
            Err(e) => Err(e),
        },
    };
    let summary = match result {
        Ok(s) => s,
        Err(e) => return fail(&e, mode, out, err),
    };
    if summary.responses == 0 {
        let kinds: Vec<String> = summary
            .error_kinds
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let e = PerfError::Unreachable(format!(
            "no request to {} got a response ({})",
            summary.target,
            kinds.join(", ")
        ));
        return fail(&e, mode, out, err);
    }
    let written = match mode {
        OutputMode::Table => out.write_all(summary.table().as_bytes()),
        OutputMode::Json => crate::report::json_document(&summary)
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
    };
    let _ = out.flush();
    let client = summary.client_errors();
    if client > 0 {
        let _ = writeln!(
            err,
            "note: {client} responses were 4xx (listed under status codes, not counted as errors)"
        );
    }
    for f in &summary.thresholds.failures {
        let _ = writeln!(err, "threshold failed: {}", f.message);
    }
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::FAILED,
        _ if !summary.thresholds.passed => exit::FAILED,
        _ => exit::OK,
    }
}

/// `perf --engine k6`: the same target and thresholds, k6 generating the load.
async fn cmd_perf_k6(
    args: &PerfArgs,
    config: &Config,
    project_dir: &Path,
    control_socket: &Path,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> i32 {
    let k6 = match k6::find_k6() {
        Ok(k) => k,
        Err(e) => return fail(&e, mode, out, err),
    };
    let scripts = match k6::find_scripts(&args.scripts, project_dir) {
        Ok(s) => s,
        Err(e) => return fail(&e, mode, out, err),
    };
    let base_url = match (&args.env, &args.url) {
        (Some(env), _) => {
            let routed = async {
                let rt = connect(control_socket).await?;
                let envs = rt
                    .status()
                    .await
                    .map_err(|e| PerfError::Unavailable(e.to_string()))?;
                router_target(&envs, env)
            };
            match routed.await {
                Ok(addr) => format!("http://{addr}"),
                Err(e) => return fail(&e, mode, out, err),
            }
        }
        (None, Some(url)) => url.trim_end_matches('/').to_string(),
        (None, None) => {
            return fail(
                &PerfError::Usage("give --env or --url".into()),
                mode,
                out,
                err,
            )
        }
    };
    let limits = Thresholds {
        p95_ms: args.p95_ms.unwrap_or(config.perf.p95_ms),
        max_error_rate: args.max_error_rate.unwrap_or(config.perf.max_error_rate),
    };
    let mut runs = Vec::with_capacity(scripts.len());
    for script in &scripts {
        let _ = writeln!(err, "k6: running {} against {base_url}", script.display());
        match k6::run_script(&k6, script, &base_url, limits).await {
            Ok(run) => runs.push(run),
            Err(e) => return fail(&e, mode, out, err),
        }
    }
    let written = match mode {
        OutputMode::Table => runs.iter().try_for_each(|r| {
            writeln!(out, "script  {}", sanitize_str(&r.script))?;
            out.write_all(r.summary.table().as_bytes())
        }),
        OutputMode::Json => crate::report::json_document(&runs)
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
    };
    let _ = out.flush();
    for r in &runs {
        for f in &r.summary.thresholds.failures {
            let _ = writeln!(
                err,
                "threshold failed ({}): {}",
                sanitize_str(&r.script),
                f.message
            );
        }
    }
    let passed = runs.iter().all(|r| r.summary.thresholds.passed);
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::FAILED,
        _ if !passed => exit::FAILED,
        _ => exit::OK,
    }
}

async fn connect(control_socket: &Path) -> Result<SharedRuntime, PerfError> {
    let rt = crate::daemon::client::RemoteRuntime::connect(control_socket)
        .await
        .map_err(|e| PerfError::Unavailable(format!("{e} (start it with `blissful-infra up`)")))?;
    Ok(Arc::new(rt))
}

/// Load-test environment `env` of `rt` and show the run to every console
/// attached to it (Pipeline pane, and a `load test` series in Metrics).
/// Returns the summary and, if the runtime would not show the run, why.
pub async fn run_on_env(
    rt: SharedRuntime,
    env: &str,
    args: &PerfArgs,
    config: &Config,
    actor: Actor,
    err: &mut (dyn Write + Send),
    progress: bool,
) -> Result<(Summary, Option<String>), PerfError> {
    let envs = rt
        .status()
        .await
        .map_err(|e| PerfError::Unavailable(e.to_string()))?;
    let router = router_target(&envs, env)?;
    let plan = plan(args, config, Some(router)).await?;
    let mut publisher = RunPublisher::start(
        rt,
        actor,
        PipelineKind::Perf,
        env,
        &format!("perf {env} ({})", plan.spec.pacing_label()),
        &STAGES,
        Some(LOAD_TEST_SERIES),
        now_ms(),
    );
    let result = execute(&plan, err, progress, Some(&mut publisher)).await;
    let status = match &result {
        Ok(s) if s.thresholds.passed => StageStatus::Succeeded,
        Ok(_) => StageStatus::Failed("a threshold failed".into()),
        Err(e) => StageStatus::Failed(e.to_string()),
    };
    let outcome = publisher.finish(status, now_ms()).await;
    result.map(|s| (s, outcome.problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("2h").is_err());
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("/hello=3").unwrap(),
            Endpoint {
                path: "/hello".into(),
                weight: 3
            }
        );
        assert_eq!(parse_endpoint("/health").unwrap().weight, 1);
        let q = parse_endpoint("/search?q=x").unwrap();
        assert_eq!((q.path.as_str(), q.weight), ("/search?q=x", 1));
        assert!(parse_endpoint("hello=1").is_err());
        assert!(parse_endpoint("/a=0").is_err());
        assert!(parse_endpoint("/a b").is_err());
        assert!(parse_endpoint("/a=99999999999").is_err());
    }

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        let u = parse_url("http://localhost/api/x?y=1").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/api/x?y=1"));
        assert_eq!(u.authority, "localhost");
        let u = parse_url("http://[::1]:9000/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert!(matches!(
            parse_url("https://x"),
            Err(PerfError::Usage(m)) if m.contains("https")
        ));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("http://h:0").is_err());
        assert!(parse_url("http://u@h:1").is_err());
    }

    fn env(name: &str, addr: &str) -> EnvironmentStatus {
        use crate::domain::environment::{Health, TrafficSplit};
        EnvironmentStatus {
            name: name.into(),
            traffic: TrafficSplit {
                stable: None,
                canary: None,
                canary_weight: 0,
            },
            previous: None,
            step: None,
            health: Health::Unknown,
            instances: vec![],
            replicas: 1,
            last_change: 0,
            router_addr: addr.into(),
            metrics_addr: String::new(),
            faults: vec![],
        }
    }

    #[test]
    fn router_of_environment() {
        let envs = vec![env("staging", "127.0.0.1:8180"), env("prod", "bogus")];
        assert_eq!(
            router_target(&envs, "staging").unwrap(),
            "127.0.0.1:8180".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            router_target(&envs, "nope"),
            Err(PerfError::UnknownEnvironment(m)) if m.contains("staging, prod")
        ));
        assert!(matches!(
            router_target(&envs, "prod"),
            Err(PerfError::Unavailable(_))
        ));
    }

    #[test]
    fn progress_bars_fill_with_the_run() {
        assert_eq!(progress_bar(0.0), "[--------------------]   0%");
        assert_eq!(progress_bar(0.45), "[#########-----------]  45%");
        assert_eq!(progress_bar(1.7), "[####################] 100%");
        assert_eq!(progress_bar(f64::NAN), "[--------------------]   0%");
    }

    #[test]
    fn console_defaults_are_the_flags_defaults() {
        let a = PerfArgs::for_env("staging");
        assert_eq!(a.env.as_deref(), Some("staging"));
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.concurrency, 10);
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.engine, Engine::Builtin);
    }

    #[tokio::test]
    async fn env_plan_uses_config_paths_and_thresholds() {
        let args = PerfArgs {
            env: Some("staging".into()),
            url: None,
            duration: Duration::from_secs(1),
            requests: None,
            concurrency: 3,
            rate: Some(50.0),
            warmup: Duration::ZERO,
            endpoints: vec![],
            timeout: Duration::from_secs(1),
            p95_ms: None,
            max_error_rate: Some(0.05),
            engine: Engine::Builtin,
            scripts: vec![],
        };
        let cfg = Config::default();
        let p = plan(&args, &cfg, Some("127.0.0.1:8180".parse().unwrap()))
            .await
            .unwrap();
        let paths: Vec<&str> = p.spec.endpoints.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, cfg.traffic.paths);
        assert_eq!(p.thresholds.p95_ms, cfg.perf.p95_ms);
        assert_eq!(p.thresholds.max_error_rate, 0.05);
        assert_eq!(p.spec.pacing, Pacing::Open { rate: 50.0 });
        assert_eq!(p.label, "http://127.0.0.1:8180");

        let bad = PerfArgs {
            concurrency: 0,
            ..args.clone()
        };
        assert!(matches!(
            plan(&bad, &cfg, None).await,
            Err(PerfError::Usage(_))
        ));
        let bad = PerfArgs {
            rate: Some(-1.0),
            ..args
        };
        assert!(matches!(
            plan(&bad, &cfg, Some("127.0.0.1:1".parse().unwrap())).await,
            Err(PerfError::Usage(_))
        ));
    }
}
