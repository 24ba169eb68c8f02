//! The `perf` command: built-in engine or k6, output and exit codes.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::execute::{execute, STAGES};
use super::plan::{plan, router_target};
use super::{k6, Engine, PerfArgs, PerfError, Summary, Thresholds};
use crate::clock::now_ms;
use crate::config::Config;
use crate::domain::pipeline::{PipelineKind, StageStatus};
use crate::domain::sanitize::sanitize_str;
use crate::report::{exit, OutputMode};
use crate::runtime::publisher::RunPublisher;
use crate::runtime::{Actor, SharedRuntime, LOAD_TEST_SERIES};

fn fail(e: &PerfError, mode: OutputMode, out: &mut dyn Write, err: &mut (dyn Write + Send)) -> i32 {
    crate::report::report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err)
}

/// Where `--env` finds its environment's runtime.
pub enum EnvSource<'a> {
    /// The daemon behind this control socket (the sandbox, Docker).
    Daemon(&'a Path),
    /// A runtime this process opened (Kubernetes: no daemon).
    Open(SharedRuntime),
}

/// `blissful-infra perf`. `source` is used only with `--env`.
/// Results go to `out`; progress, notes and threshold failures to `err`.
/// Exit codes: 0 passed, 1 a threshold failed or the target is unreachable,
/// 2 unknown environment, 3 no sandbox running, 64 bad flags.
#[allow(clippy::too_many_arguments)]
pub async fn cmd_perf(
    args: &PerfArgs,
    config: &Config,
    project_dir: &Path,
    source: &EnvSource<'_>,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
    progress: bool,
) -> i32 {
    if args.engine == Engine::K6 {
        return cmd_perf_k6(args, config, project_dir, source, mode, out, err).await;
    }
    let result = match &args.env {
        Some(name) => {
            let rt = match connect(source).await {
                Ok(rt) => rt,
                Err(e) => return fail(&e, mode, out, err),
            };
            match run_on_env(rt, name, args, config, Actor::current("cli"), err, progress).await {
                Ok((summary, problem)) => {
                    // A runtime opened here has no console to show the run.
                    let daemon = matches!(source, EnvSource::Daemon(_));
                    if let Some(problem) = problem.filter(|_| daemon) {
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
    source: &EnvSource<'_>,
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
                let rt = connect(source).await?;
                let envs = rt
                    .status()
                    .await
                    .map_err(|e| PerfError::Unavailable(e.to_string()))?;
                router_target(&envs, env, rt.name())
            };
            match routed.await {
                // k6 resolves the name itself; the host is the one written.
                Ok(target) => format!("http://{}", target.host),
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

async fn connect(source: &EnvSource<'_>) -> Result<SharedRuntime, PerfError> {
    let socket = match source {
        EnvSource::Open(rt) => return Ok(rt.clone()),
        EnvSource::Daemon(socket) => socket,
    };
    let rt = crate::daemon::client::RemoteRuntime::connect(socket)
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
    let router = router_target(&envs, env, rt.name())?;
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
