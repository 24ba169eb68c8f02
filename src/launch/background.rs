//! `daemon`, `up` and `down`: the runtime in the background.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::WrapErr;
use color_eyre::Result;

use super::embedded::{claim_state, start_sandbox, Embedded};
use super::setup::load_config;
use crate::cli::args::GlobalArgs;
use crate::cli::{self, exit, OutputMode};
use crate::config::RuntimeKind;
use crate::daemon::lock::{read_owner, LockError};
use crate::paths::StatePaths;

/// How much of a daemon's log `up` shows when the daemon dies at start.
const DAEMON_LOG_TAIL_LINES: usize = 40;
/// Set by `up` on the daemon it starts, so the lock file says `up`.
const LAUNCHED_BY_ENV: &str = "BLISSFUL_INFRA_LAUNCHED_BY";

pub(super) async fn daemon(g: &GlobalArgs, state: StatePaths) -> Result<i32> {
    let (config, config_dir) = load_config(g, false)?;
    if config.runtime == RuntimeKind::Kubernetes {
        super::errors::print_error(super::kube::NO_DAEMON);
        return Ok(exit::REFUSED);
    }
    let config = Arc::new(config);
    let command = match std::env::var_os(LAUNCHED_BY_ENV) {
        Some(v) if v == "up" => "up",
        _ => "daemon",
    };
    let Some(lock) = claim_state(&state, command, config.runtime)? else {
        return Ok(exit::REFUSED);
    };
    if command == "up" {
        // `up` appends our output to daemon.log; the log is ours now, so a
        // fresh one starts here.
        let log = state.daemon_log();
        if let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
        {
            eprintln!("warning: could not empty {}: {e}", log.display());
        }
    }
    if crate::daemon::client::is_running(&state.control_socket()).await {
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
        lock,
        ..
    } = start_sandbox(g, &state, config.clone(), config_dir, lock).await?;
    say(format_args!(
        "{kind} runtime for `{}` running (pid {}); control socket {}",
        crate::domain::sanitize::strip_all(&config.project),
        std::process::id(),
        state.control_socket().display()
    ));
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
        crate::runtime::Runtime::shutdown(&*sandbox),
    )
    .await;
    drop(lock);
    say(format_args!("{kind} runtime stopped"));
    Ok(exit::OK)
}

/// A line on the daemon's stderr (`daemon.log` in the state directory).
/// Unlike `eprintln!`, a full or read-only disk does not make it panic.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub(super) async fn up(g: &GlobalArgs, state: StatePaths) -> Result<i32> {
    // Refuse a bad config here, before anything starts in the background.
    let (config, config_dir) = load_config(g, false)?;
    if config.runtime == RuntimeKind::Kubernetes {
        super::errors::print_error(super::kube::NO_DAEMON);
        return Ok(exit::REFUSED);
    }
    if config.runtime == RuntimeKind::Docker {
        // The Compose project first (port conflicts, health, URLs), then the
        // daemon that owns the router, rollouts and faults.
        let project = match crate::docker::project_from_config(&config, &config_dir) {
            Ok(p) => p,
            Err(e) => {
                super::errors::print_error(e);
                return Ok(exit::USAGE);
            }
        };
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let code = crate::docker::cli::up(
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
    if crate::daemon::client::is_running(&socket).await {
        match read_owner(&state) {
            Some(owner) => println!(
                "sandbox already running: {} (socket {})",
                owner.describe(),
                socket.display()
            ),
            None => println!("sandbox already running (socket {})", socket.display()),
        }
        return Ok(exit::OK);
    }
    let exe = std::env::current_exe().wrap_err("finding the blissful-infra executable")?;
    let log_path = state.daemon_log();
    // Appended to, not truncated: when two starts race, the one whose
    // daemon wins the lock empties it (see `daemon`), and the loser must not
    // cut the winner's log short.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .wrap_err_with(|| format!("opening {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .wrap_err("duplicating the log file handle")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("daemon").arg("--state-dir").arg(&state.dir);
    cmd.env(LAUNCHED_BY_ENV, "up");
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
        // Our own daemon's socket: another start may have won the lock.
        let ours = || read_owner(&state).is_some_and(|o| o.pid == child.id());
        if crate::daemon::client::is_running(&socket).await && ours() {
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
            if status.code() == Some(exit::REFUSED) {
                super::errors::print_error(LockError::held(&state));
                return Ok(exit::REFUSED);
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail = super::errors::log_tail(&log, DAEMON_LOG_TAIL_LINES);
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

pub(super) async fn down(
    g: &GlobalArgs,
    state: StatePaths,
    mode: OutputMode,
    volumes: bool,
) -> Result<i32> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let (config, config_dir) = load_config(g, false)?;
    if config.runtime != RuntimeKind::Docker {
        return Ok(cli::cmd_down(&state.control_socket(), mode, &mut out, &mut err).await);
    }
    // The daemon first (it undoes faults and removes its canary containers),
    // then the Compose project; only this project's containers are touched.
    let socket = state.control_socket();
    if crate::daemon::client::is_running(&socket).await {
        let code = cli::cmd_down(&socket, mode, &mut out, &mut err).await;
        if code != exit::OK {
            return Ok(code);
        }
    }
    let project = match crate::docker::project_from_config(&config, &config_dir) {
        Ok(p) => p,
        Err(e) => {
            super::errors::print_error(e);
            return Ok(exit::USAGE);
        }
    };
    Ok(crate::docker::cli::down(&project, volumes, &mut out, &mut err).await)
}
