//! Wiring for each command: load config, find or start the runtime, run.

mod background;
mod chaos;
mod console;
mod console_loop;
mod disconnect;
mod eject;
mod embedded;
mod ephemeral;
mod errors;
mod frame_dump;
mod gate;
pub mod keymap_rule;
mod kube;
mod panic_drill;
mod pipeline_job;
mod setup;
mod suite_job;
mod verbs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::WrapErr;
use color_eyre::Result;

use crate::cli::args::{ChaosArgs, Cli, Cmd, GlobalArgs, SwitchTarget};
use crate::cli::{self, exit};
use crate::daemon::client::RemoteRuntime;
use crate::domain::chaos::ScenarioKind;
use crate::runtime::{Actor, SharedRuntime};

use background::{daemon, down, up};
use console::console;
use errors::print_error;
use setup::{load_config, no_color_unset, output_mode, sample_service, state_paths};

/// Run one parsed command line; returns the process exit code.
pub fn main(cli: Cli, started: Instant) -> i32 {
    errors::install_error_hook();
    crate::tui::install_panic_hook();
    if let Cmd::SampleService { .. } = cli.command.as_ref().unwrap_or(&Cmd::Dashboard) {
        return sample_service(cli);
    }
    // `create` needs no runtime, state directory or config.
    if let Some(Cmd::Create(args)) = &cli.command {
        return crate::scaffold::cmd_create(args, output_mode(cli.global.output));
    }
    // Nor does `eject`: it reads the project's files and writes plain ones.
    if let Some(Cmd::Eject(args)) = &cli.command {
        return eject::eject(args, &cli.global);
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
                crate::tui::restore();
                errors::print_report(&e);
                exit::FAILED
            }
        }
    });
    // Child tasks may still hold sockets; do not wait for them forever.
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn dispatch(cli: Cli, started: Instant) -> Result<i32> {
    let g = cli.global.clone();
    let mode = output_mode(g.output);
    let cmd = cli.command.unwrap_or(Cmd::Dashboard);
    let state = state_paths(&g)?;
    crate::tui::crash::set_crash_dir(&state.dir);
    match cmd {
        Cmd::Demo => console(&g, state, true, started).await,
        Cmd::Dashboard => console(&g, state, false, started).await,
        Cmd::Daemon => daemon(&g, state).await,
        Cmd::Up(a) if a.ephemeral.is_some() => ephemeral::up(&g, &state, &a, mode).await,
        Cmd::Up(_) => up(&g, state).await,
        Cmd::Down {
            ephemeral: Some(name),
            wait,
            confirm,
            ..
        } => {
            let req = cli::ephemeral::DownRequest {
                name: &name,
                wait,
                yes: confirm.yes,
            };
            ephemeral::down(&g, &state, &req, mode).await
        }
        Cmd::Down { volumes, .. } => down(&g, state, mode, volumes).await,
        Cmd::SampleService { .. } | Cmd::Eject(_) => Ok(exit::USAGE),
        Cmd::Jenkins(a) => Ok(cli::jenkins::cmd_jenkins(
            a,
            load_config(&g, false),
            g.read_only,
            &state.audit_journal(),
            mode,
        )
        .await),
        Cmd::Perf(args) => {
            // --url needs no sandbox; thresholds and --env paths come from config.
            let (config, config_dir) = match load_config(&g, false) {
                Ok(c) => c,
                Err(e) => {
                    print_error(e);
                    return Ok(exit::USAGE);
                }
            };
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            let socket = state.control_socket();
            // Kubernetes needs no daemon: --env opens the cluster here.
            let kube =
                args.env.is_some() && config.runtime == crate::config::RuntimeKind::Kubernetes;
            let source = if kube {
                match kube::open(&g, &state, &config, &config_dir, true).await {
                    Ok(k) => crate::perf::EnvSource::Open(k.runtime),
                    Err(e) => {
                        print_error(e);
                        return Ok(exit::UNAVAILABLE);
                    }
                }
            } else {
                crate::perf::EnvSource::Daemon(&socket)
            };
            let code = crate::perf::cmd_perf(
                &args,
                &config,
                &config_dir,
                &source,
                mode,
                &mut out,
                &mut err,
                progress,
            )
            .await;
            if let crate::perf::EnvSource::Open(rt) = &source {
                rt.shutdown().await;
            }
            Ok(code)
        }
        Cmd::Pipeline(args) => {
            if g.read_only && args.runs() && args.local {
                let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
                let msg = "--read-only: `pipeline --local` runs the stages' commands, which may \
                           change things (deploy, push); refused";
                let code = crate::report::report_error(
                    "refused",
                    msg,
                    exit::REFUSED,
                    mode,
                    &mut out,
                    &mut err,
                );
                return Ok(code);
            }
            let project = if args.runs() && args.local {
                match load_config(&g, false) {
                    Ok((config, dir)) => {
                        let path = g
                            .config
                            .clone()
                            .unwrap_or_else(|| dir.join("blissful-infra.yaml"));
                        Some(crate::pipeline::command::project(
                            path,
                            dir,
                            config.pipeline.stages,
                        ))
                    }
                    Err(e) => {
                        print_error(e);
                        return Ok(exit::USAGE);
                    }
                }
            } else {
                None
            };
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            Ok(
                crate::pipeline::cmd_pipeline(&args, project, &state, mode, &mut out, &mut err)
                    .await,
            )
        }
        Cmd::Compare(args) => {
            let (config, config_dir) = match load_config(&g, false) {
                Ok(c) => c,
                Err(e) => {
                    print_error(e);
                    return Ok(exit::USAGE);
                }
            };
            let ctx = crate::compare::CompareContext {
                config,
                config_dir,
                service_program: std::env::current_exe()
                    .wrap_err("finding the blissful-infra executable")?,
                state,
                read_only: g.read_only,
            };
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            Ok(crate::compare::cmd_compare(&args, &ctx, mode, &mut out, &mut err).await)
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
                    print_error(e);
                    return Ok(exit::USAGE);
                }
            };
            let grep = match grep.as_deref().map(regex::Regex::new).transpose() {
                Ok(re) => re,
                Err(e) => {
                    print_error(format!("--grep is not a valid regular expression: {e}"));
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
            // A usage error is reported before looking for a runtime.
            if let Cmd::Chaos(args) = &other {
                if args.list {
                    return Ok(chaos::list(mode));
                }
                if let Some(Err(e)) = args.scenario.as_deref().map(str::parse::<ScenarioKind>) {
                    print_error(e);
                    return Ok(exit::USAGE);
                }
            }
            // Kubernetes needs no daemon: each command opens the cluster itself.
            let loaded = load_config(&g, false);
            let kube_config = loaded
                .as_ref()
                .ok()
                .filter(|(c, _)| c.runtime == crate::config::RuntimeKind::Kubernetes);
            let kube_config_used = kube_config.is_some();
            let runtime: SharedRuntime = match kube_config {
                Some((config, dir)) => match kube::open(&g, &state, config, dir, true).await {
                    Ok(k) => k.runtime,
                    Err(e) => {
                        print_error(e);
                        return Ok(exit::UNAVAILABLE);
                    }
                },
                None => match RemoteRuntime::connect(&state.control_socket()).await {
                    Ok(r) => Arc::new(r),
                    // No daemon and a config that does not load: its
                    // problems (file, line, field) are what to fix first.
                    Err(_) if loaded.is_err() => {
                        if let Err(e) = &loaded {
                            print_error(e);
                        }
                        return Ok(exit::USAGE);
                    }
                    Err(e) => {
                        print_error(e);
                        return Ok(exit::UNAVAILABLE);
                    }
                },
            };
            let code = match (other, kube_config) {
                (Cmd::Status { ephemeral: only }, Some((config, dir))) => {
                    let cfg = (config, dir.as_path());
                    Ok(ephemeral::status(&g, &state, &runtime, cfg, (mode, only)).await)
                }
                (other, _) => run_command(&g, &runtime, other, mode).await,
            };
            if kube_config_used {
                // The audit journal is written before the process exits.
                runtime.shutdown().await;
            }
            code
        }
    }
}

/// One CLI command on a runtime (remote, or Kubernetes opened here).
async fn run_command(
    g: &GlobalArgs,
    runtime: &SharedRuntime,
    other: Cmd,
    mode: cli::OutputMode,
) -> Result<i32> {
    let runtime = runtime.clone();
    let actor = Actor::current("cli");
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    if g.read_only && is_destructive(&other) {
        eprintln!("error: read-only mode: this command changes an environment and is refused");
        return Ok(exit::REFUSED);
    }
    if let Some(verb) = verbs::verb_of(&other, &actor.user) {
        // Unknown from the config: ask for the name, the safe way.
        let protected = load_config(g, false)
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
        Cmd::Status { ephemeral: false } => cli::cmd_status(&runtime, mode, &mut out).await,
        Cmd::Status { ephemeral: true } => {
            eprintln!(
                "error: status --ephemeral lists the namespaces `up --ephemeral` made on Kubernetes; the {} runtime has none",
                runtime.name()
            );
            exit::USAGE
        }
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
            accept_low_resilience,
            confirm,
            ..
        } => {
            let gate = chaos::GateAsk {
                from: &from,
                to: &to,
                accept: accept_low_resilience,
                yes: confirm.yes,
                user: &actor.user,
            };
            if let Some(code) = chaos::resilience_gate(g, gate) {
                return Ok(code);
            }
            cli::cmd_promote(
                &runtime, &actor, &from, &to, !no_wait, mode, &mut out, &mut err,
            )
            .await
        }
        Cmd::Rollback { env, no_wait } => {
            cli::cmd_rollback(&runtime, &actor, &env, !no_wait, mode, &mut out, &mut err).await
        }
        Cmd::Chaos(args) => return chaos::run(g, &runtime, &actor, args, mode).await,
        Cmd::Switch { env, to } => {
            let to_canary = to == SwitchTarget::Canary;
            cli::cmd_switch_traffic(&runtime, &actor, &env, to_canary, mode, &mut out, &mut err)
                .await
        }
        Cmd::Undo { id: Some(id), .. } => {
            cli::cmd_undo(&runtime, &actor, &id, mode, &mut out, &mut err).await
        }
        _ => exit::USAGE,
    };
    Ok(code)
}

fn is_destructive(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Deploy { .. }
            | Cmd::Promote { .. }
            | Cmd::Rollback { .. }
            | Cmd::Chaos(ChaosArgs { list: false, .. })
            | Cmd::Switch { .. }
            | Cmd::Undo { .. }
            | Cmd::Pause(_)
            | Cmd::Resume(_)
            | Cmd::Abort { .. }
            | Cmd::Retry(_)
            | Cmd::Restart(_)
    )
}
