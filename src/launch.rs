//! Wiring for each command: load config, find or start the runtime, run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, WrapErr};
use color_eyre::Result;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::state::App;
use blissful_infra::cli::{self, exit, OutputMode};
use blissful_infra::config::{Config, RuntimeKind};
use blissful_infra::daemon::client::RemoteRuntime;
use blissful_infra::daemon::server::{ControlServer, ServerInfo};
use blissful_infra::domain::chaos::ScenarioKind;
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, SharedRuntime};
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};
use blissful_infra::ui::theme::Theme;

use crate::{Cli, Cmd, GlobalArgs, Output, SwitchTarget};

pub fn main(cli: Cli, started: Instant) -> i32 {
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install error reporter: {e}");
    }
    blissful_infra::tui::install_panic_hook();
    if let Cmd::SampleService { .. } = cli.command.as_ref().unwrap_or(&Cmd::Dashboard) {
        return sample_service(cli);
    }
    // `create` needs no runtime, state directory or config.
    if let Some(Cmd::Create(args)) = &cli.command {
        return blissful_infra::scaffold::cmd_create(args, output_mode(cli.global.output));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    let code = rt.block_on(async move {
        match dispatch(cli, started).await {
            Ok(code) => code,
            Err(e) => {
                blissful_infra::tui::restore();
                eprintln!("Error: {e:?}");
                exit::FAILED
            }
        }
    });
    // Child tasks may still hold sockets; do not wait for them forever.
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

fn sample_service(cli: Cli) -> i32 {
    let Some(Cmd::SampleService {
        port,
        version,
        instance,
        latency_ms,
        error_rate,
        memory_growth_mib_per_min,
    }) = cli.command
    else {
        return exit::USAGE;
    };
    let opts = blissful_infra::sandbox::sample_service::SampleServiceOptions {
        port,
        version,
        instance,
        latency_ms,
        error_rate,
        memory_growth_mib_per_min,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    match rt.block_on(blissful_infra::sandbox::sample_service::run_sample_service(
        opts,
    )) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("sample-service: {e}");
            exit::FAILED
        }
    }
}

fn output_mode(o: Output) -> OutputMode {
    match o {
        Output::Table => OutputMode::Table,
        Output::Json => OutputMode::Json,
    }
}

fn state_paths(g: &GlobalArgs) -> Result<StatePaths> {
    match &g.state_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .wrap_err_with(|| format!("creating state directory {}", d.display()))?;
            Ok(StatePaths::at(d))
        }
        None => StatePaths::resolve().wrap_err("finding the state directory"),
    }
}

/// `--config FILE`, else blissful-infra.yaml found upwards, else defaults (the demo).
fn load_config(g: &GlobalArgs, demo: bool) -> Result<(Config, PathBuf)> {
    let cwd = std::env::current_dir().wrap_err("reading the current directory")?;
    if let Some(path) = &g.config {
        let cfg = Config::load(path).map_err(|e| eyre!("{e}"))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or(cwd);
        return Ok((cfg, dir));
    }
    if !demo {
        if let Some((path, cfg)) = Config::discover(&cwd).map_err(|e| eyre!("{e}"))? {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or(cwd);
            return Ok((cfg, dir));
        }
    }
    Ok((Config::default(), cwd))
}

async fn dispatch(cli: Cli, started: Instant) -> Result<i32> {
    let g = cli.global.clone();
    let mode = output_mode(g.output);
    let cmd = cli.command.unwrap_or(Cmd::Dashboard);
    let state = state_paths(&g)?;
    match cmd {
        Cmd::Demo => console(&g, state, true, started).await,
        Cmd::Dashboard => console(&g, state, false, started).await,
        Cmd::Daemon => daemon(&g, state).await,
        Cmd::Up => up(&g, state).await,
        Cmd::Down { volumes } => down(&g, state, mode, volumes).await,
        Cmd::SampleService { .. } => Ok(exit::USAGE),
        Cmd::Perf(args) => {
            // --url needs no sandbox; thresholds and --env paths come from config.
            let (config, config_dir) = match load_config(&g, false) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::USAGE);
                }
            };
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            let socket = state.control_socket();
            Ok(blissful_infra::perf::cmd_perf(
                &args,
                &config,
                &config_dir,
                &socket,
                mode,
                &mut out,
                &mut err,
                progress,
            )
            .await)
        }
        Cmd::Compare(args) => {
            let (config, config_dir) = match load_config(&g, false) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::USAGE);
                }
            };
            let ctx = blissful_infra::compare::CompareContext {
                config,
                config_dir,
                service_program: std::env::current_exe()
                    .wrap_err("finding the blissful-infra executable")?,
                state,
                read_only: g.read_only,
            };
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            Ok(blissful_infra::compare::cmd_compare(&args, &ctx, mode, &mut out, &mut err).await)
        }
        Cmd::Logs {
            env,
            follow,
            grep,
            tail,
            since,
            source,
        } => {
            let (config, _) = match load_config(&g, false) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::USAGE);
                }
            };
            let grep = match grep.as_deref().map(regex::Regex::new).transpose() {
                Ok(re) => re,
                Err(e) => {
                    eprintln!("error: --grep is not a valid regular expression: {e}");
                    return Ok(exit::USAGE);
                }
            };
            let opts = cli::LogsOptions {
                env,
                follow,
                grep,
                tail,
                color: std::io::IsTerminal::is_terminal(&std::io::stdout()) && no_color_unset(),
                since,
            };
            let mut out = std::io::stdout();
            Ok(cli::cmd_logs(
                &config,
                source,
                &state.control_socket(),
                &opts,
                mode,
                &mut out,
            )
            .await)
        }
        other => {
            let runtime: SharedRuntime = match RemoteRuntime::connect(&state.control_socket()).await
            {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::UNAVAILABLE);
                }
            };
            let actor = Actor::current("cli");
            let mut out = std::io::stdout();
            let mut err = std::io::stderr();
            if g.read_only && is_destructive(&other) {
                eprintln!(
                    "error: read-only mode: this command changes an environment and is refused"
                );
                return Ok(exit::REFUSED);
            }
            if let Some(verb) = crate::verbs::verb_of(&other, &actor.user) {
                // Unknown from the config: ask for the name, the safe way.
                let protected = load_config(&g, false)
                    .ok()
                    .and_then(|(cfg, _)| cfg.environment(&verb.env).map(|e| e.protected))
                    .unwrap_or(true);
                let req = cli::IntentRequest {
                    env: &verb.env,
                    intent: verb.intent,
                    protected,
                    yes: verb.yes,
                };
                return Ok(cli::cmd_intent(&runtime, &actor, req, mode, &mut out, &mut err).await);
            }
            let code = match other {
                Cmd::Status => cli::cmd_status(&runtime, mode, &mut out).await,
                Cmd::Logs { .. } => exit::USAGE, // handled above
                Cmd::Deploy {
                    env,
                    version,
                    no_wait,
                } => {
                    cli::cmd_deploy(
                        &runtime, &actor, &env, &version, !no_wait, mode, &mut out, &mut err,
                    )
                    .await
                }
                Cmd::Promote {
                    from: Some(from),
                    to: Some(to),
                    no_wait,
                    ..
                } => {
                    cli::cmd_promote(
                        &runtime, &actor, &from, &to, !no_wait, mode, &mut out, &mut err,
                    )
                    .await
                }
                Cmd::Rollback { env, no_wait } => {
                    cli::cmd_rollback(&runtime, &actor, &env, !no_wait, mode, &mut out, &mut err)
                        .await
                }
                Cmd::Chaos {
                    env,
                    scenario,
                    duration,
                    latency_ms,
                    rate,
                    no_wait,
                } => {
                    let scenario: ScenarioKind = match scenario.parse() {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return Ok(exit::USAGE);
                        }
                    };
                    // Defaults from the project's config, then the flags.
                    let mut params = match load_config(&g, false) {
                        Ok((cfg, _)) => cfg.chaos.defaults,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return Ok(exit::USAGE);
                        }
                    };
                    if let Some(d) = duration {
                        params.duration_secs = d;
                    }
                    if let Some(l) = latency_ms {
                        params.latency_ms = l;
                    }
                    if let Some(r) = rate {
                        if !(0.0..=1.0).contains(&r) {
                            eprintln!("error: --rate must be between 0 and 1, got {r}");
                            return Ok(exit::USAGE);
                        }
                        params.rate = r;
                    }
                    cli::cmd_chaos(
                        &runtime, &actor, &env, scenario, params, !no_wait, mode, &mut out,
                        &mut err,
                    )
                    .await
                }
                Cmd::Switch { env, to } => {
                    let to_canary = to == SwitchTarget::Canary;
                    cli::cmd_switch_traffic(
                        &runtime, &actor, &env, to_canary, mode, &mut out, &mut err,
                    )
                    .await
                }
                Cmd::Undo { id: Some(id), .. } => {
                    cli::cmd_undo(&runtime, &actor, &id, mode, &mut out, &mut err).await
                }
                _ => exit::USAGE,
            };
            Ok(code)
        }
    }
}

fn is_destructive(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Deploy { .. }
            | Cmd::Promote { .. }
            | Cmd::Rollback { .. }
            | Cmd::Chaos { .. }
            | Cmd::Switch { .. }
            | Cmd::Undo { .. }
            | Cmd::Pause(_)
            | Cmd::Resume(_)
            | Cmd::Abort { .. }
            | Cmd::Retry(_)
            | Cmd::Restart(_)
    )
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Start the sandbox in this process and serve the control socket.
struct Embedded {
    /// The sandbox, or the Docker runtime with `runtime: docker`.
    sandbox: SharedRuntime,
    /// `sandbox` or `docker`, for messages.
    kind: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    /// Fires when a client sent `shutdown` (`blissful-infra down`).
    shutdown_requested: tokio::sync::watch::Receiver<bool>,
}

async fn start_sandbox(
    g: &GlobalArgs,
    state: &StatePaths,
    config: Arc<Config>,
    config_dir: PathBuf,
) -> Result<Embedded> {
    let (sandbox, kind): (SharedRuntime, &'static str) = match config.runtime {
        RuntimeKind::Sandbox => {
            let program =
                std::env::current_exe().wrap_err("finding the blissful-infra executable")?;
            let rt = SandboxRuntime::start(SandboxOptions {
                config: config.clone(),
                config_dir,
                service_program: program,
                state: state.clone(),
            })
            .await
            .map_err(|e| eyre!("starting the sandbox: {e}"))?;
            (rt, "sandbox")
        }
        RuntimeKind::Docker => {
            let mut err = std::io::stderr();
            match blissful_infra::docker::cli::open_runtime(
                config.clone(),
                &config_dir,
                state.clone(),
                &mut err,
            )
            .await
            {
                Ok(rt) => (rt, "docker"),
                Err(code) => return Err(eyre!("opening the Docker runtime failed (exit {code})")),
            }
        }
        RuntimeKind::Kubernetes => {
            return Err(eyre!(
                "`runtime: kubernetes` is not available yet; use `sandbox` or `docker`"
            ))
        }
    };
    // The owner of the runtime wraps it once: every client is audited once.
    let sandbox =
        blissful_infra::runtime::decorate(sandbox, g.read_only, state.audit_journal()).await;
    let shared: SharedRuntime = sandbox.clone();
    let info = ServerInfo {
        pid: std::process::id(),
        runtime: kind.into(),
        project: config.project.clone(),
        started_at: chrono::Utc::now().timestamp_millis(),
    };
    let server = ControlServer::bind(&state.control_socket(), shared, info)
        .await
        .map_err(|e| eyre!("serving the control socket: {e}"))?;
    let shutdown_requested = server.shutdown_requested();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        let _ = server.serve(stop_rx).await;
    });
    Ok(Embedded {
        sandbox,
        kind,
        stop: stop_tx,
        server: handle,
        shutdown_requested,
    })
}

async fn console(g: &GlobalArgs, state: StatePaths, demo: bool, started: Instant) -> Result<i32> {
    let (config, config_dir) = load_config(g, demo)?;
    let config = Arc::new(config);
    let keymap = Keymap::build(&config.keymap).map_err(|errs| {
        eyre!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let no_color = !no_color_unset();
    let theme_name = g.theme.clone().unwrap_or_else(|| config.theme.clone());
    let theme = Theme::load(&theme_name, no_color).map_err(|e| eyre!("{e}"))?;

    // Attach to a sandbox that already runs (from `up` or another console), else embed one.
    let socket = state.control_socket();
    let jobs = blissful_infra::app::jobs::JobContext {
        config: config.clone(),
        compare: std::env::current_exe()
            .ok()
            .map(|exe| blissful_infra::compare::CompareContext {
                config: (*config).clone(),
                config_dir: config_dir.clone(),
                service_program: exe,
                state: state.clone(),
                read_only: g.read_only,
            }),
    };
    let (runtime, embedded, runtime_name): (SharedRuntime, Option<_>, String) =
        match RemoteRuntime::connect(&socket).await {
            Ok(remote) => {
                let name = match remote.ping().await {
                    Ok(p) => format!("{} (attached to pid {})", p.runtime, p.pid),
                    Err(_) => "sandbox (attached)".into(),
                };
                (Arc::new(remote), None, name)
            }
            Err(_) => {
                let embedded = start_sandbox(g, &state, config.clone(), config_dir).await?;
                let shared: SharedRuntime = embedded.sandbox.clone();
                let name = embedded.kind.to_string();
                (shared, Some(embedded), name)
            }
        };

    let app = App::new(
        config.clone(),
        &runtime_name,
        g.read_only,
        keymap,
        blissful_infra::app::run::now_millis(),
    );
    let (mut terminal, bytes) = blissful_infra::tui::enter().wrap_err("opening the terminal")?;
    if let Err(e) = blissful_infra::tui::redirect_stderr(&state.dir.join("console.log")) {
        blissful_infra::tui::restore();
        return Err(eyre!(
            "redirecting stderr to {}: {e}",
            state.dir.join("console.log").display()
        ));
    }
    let stop_requested = embedded.as_ref().map(|e| e.shutdown_requested.clone());
    let result = blissful_infra::app::run::run(
        &mut terminal,
        runtime.clone(),
        app,
        theme,
        started,
        stop_requested,
        jobs,
    )
    .await;
    blissful_infra::tui::restore();

    if let Some(e) = embedded {
        let _ = e.stop.send(true);
        // Stopping instances must not hang the exit (SIGHUP: nobody is watching).
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            blissful_infra::runtime::Runtime::shutdown(&*e.sandbox),
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), e.server).await;
    }
    let stats = result?;
    if let Ok(path) = std::env::var("BLISSFUL_INFRA_STATS_FILE") {
        let elapsed = started.elapsed().as_secs_f64();
        let json = serde_json::json!({
            "frames": stats.frames,
            "bytes_written": bytes.get(),
            "elapsed_secs": elapsed,
            "first_frame_ms": stats.first_frame_ms,
        });
        let _ = std::fs::write(path, json.to_string());
    }
    Ok(exit::OK)
}

async fn daemon(g: &GlobalArgs, state: StatePaths) -> Result<i32> {
    let (config, config_dir) = load_config(g, false)?;
    let config = Arc::new(config);
    if blissful_infra::daemon::client::is_running(&state.control_socket()).await {
        eprintln!(
            "error: a sandbox is already running (socket {})",
            state.control_socket().display()
        );
        return Ok(exit::REFUSED);
    }
    let Embedded {
        sandbox,
        kind,
        stop,
        server: handle,
        ..
    } = start_sandbox(g, &state, config.clone(), config_dir).await?;
    eprintln!(
        "{kind} runtime for `{}` running (pid {}); control socket {}",
        config.project,
        std::process::id(),
        state.control_socket().display()
    );
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).wrap_err("installing SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).wrap_err("installing SIGHUP handler")?;
    let mut handle = handle;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
        _ = &mut handle => {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        blissful_infra::runtime::Runtime::shutdown(&*sandbox),
    )
    .await;
    eprintln!("{kind} runtime stopped");
    Ok(exit::OK)
}

async fn up(g: &GlobalArgs, state: StatePaths) -> Result<i32> {
    // Refuse a bad config here, before anything starts in the background.
    let (config, config_dir) = load_config(g, false)?;
    if config.runtime == RuntimeKind::Docker {
        // The Compose project first (port conflicts, health, URLs), then the
        // daemon that owns the router, rollouts and faults.
        let project = match blissful_infra::docker::project_from_config(&config, &config_dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::USAGE);
            }
        };
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let code = blissful_infra::docker::cli::up(
            &project,
            Duration::from_secs(config.docker.up_timeout_secs),
            &mut out,
            &mut err,
        )
        .await;
        if code != exit::OK {
            return Ok(code);
        }
    }
    let socket = state.control_socket();
    if blissful_infra::daemon::client::is_running(&socket).await {
        println!("sandbox already running (socket {})", socket.display());
        return Ok(exit::OK);
    }
    let exe = std::env::current_exe().wrap_err("finding the blissful-infra executable")?;
    let log_path = state.daemon_log();
    let log = std::fs::File::create(&log_path)
        .wrap_err_with(|| format!("creating {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .wrap_err("duplicating the log file handle")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("daemon").arg("--state-dir").arg(&state.dir);
    if let Some(c) = &g.config {
        cmd.arg("--config").arg(c);
    }
    if g.read_only {
        cmd.arg("--read-only");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // Its own session: the daemon survives the shell that started it.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().wrap_err("starting the sandbox daemon")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if blissful_infra::daemon::client::is_running(&socket).await {
            println!(
                "{} daemon running in the background (pid {}); logs: {}",
                match config.runtime {
                    RuntimeKind::Docker => "docker runtime",
                    _ => "sandbox",
                },
                child.id(),
                log_path.display()
            );
            println!("next: `blissful-infra status`, or `blissful-infra` for the console; `blissful-infra down` stops it");
            return Ok(exit::OK);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            eprintln!("error: the sandbox daemon exited ({status}):\n{tail}");
            return Ok(exit::FAILED);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "error: the sandbox daemon did not open its control socket within 15s; see {}",
        log_path.display()
    );
    Ok(exit::FAILED)
}

async fn down(g: &GlobalArgs, state: StatePaths, mode: OutputMode, volumes: bool) -> Result<i32> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let (config, config_dir) = load_config(g, false)?;
    if config.runtime != RuntimeKind::Docker {
        return Ok(cli::cmd_down(&state.control_socket(), mode, &mut out, &mut err).await);
    }
    // The daemon first (it undoes faults and removes its canary containers),
    // then the Compose project; only this project's containers are touched.
    let socket = state.control_socket();
    if blissful_infra::daemon::client::is_running(&socket).await {
        let code = cli::cmd_down(&socket, mode, &mut out, &mut err).await;
        if code != exit::OK {
            return Ok(code);
        }
    }
    let project = match blissful_infra::docker::project_from_config(&config, &config_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    Ok(blissful_infra::docker::cli::down(&project, volumes, &mut out, &mut err).await)
}
