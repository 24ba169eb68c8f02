//! The console: attach to a running runtime or embed one, then run the UI.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, WrapErr};
use color_eyre::Result;

use super::disconnect::{note, undo_started_faults, Ended, FaultLedger};
use super::embedded::{claim_state, start_sandbox};
use super::setup::{load_config, no_color_unset};
use crate::app::keymap::Keymap;
use crate::app::state::App;
use crate::cli::args::GlobalArgs;
use crate::cli::exit;
use crate::config::OnDisconnect;
use crate::daemon::client::RemoteRuntime;
use crate::paths::StatePaths;
use crate::runtime::SharedRuntime;
use crate::ui::theme::Theme;

pub(super) async fn console(
    g: &GlobalArgs,
    state: StatePaths,
    demo: bool,
    started: Instant,
) -> Result<i32> {
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
    let mut jobs = crate::app::jobs::JobContext {
        config: config.clone(),
        contexts: None,
        project_dir: (!demo).then(|| config_dir.clone()),
        knowledge: Some(state.chaos_knowledge()),
        audit_journal: Some(state.audit_journal()),
        pipeline: Some(crate::app::jobs::PipelineContext {
            store: crate::pipeline::RunStore::new(&state),
            project: (!demo).then(|| {
                let path = g
                    .config
                    .clone()
                    .unwrap_or_else(|| config_dir.join("blissful-infra.yaml"));
                crate::pipeline::command::project(
                    path,
                    config_dir.clone(),
                    config.pipeline.stages.clone(),
                )
            }),
        }),
        compare: std::env::current_exe()
            .ok()
            .map(|exe| crate::compare::CompareContext {
                config: (*config).clone(),
                config_dir: config_dir.clone(),
                service_program: exe,
                state: state.clone(),
                read_only: g.read_only,
            }),
    };
    // Kubernetes: no socket and no lock; the console opens the cluster itself.
    let kube = match config.runtime {
        crate::config::RuntimeKind::Kubernetes => {
            Some(super::kube::open(g, &state, &config, &config_dir, false).await?)
        }
        _ => None,
    };
    let (runtime, embedded, runtime_name): (SharedRuntime, Option<_>, String) = match kube {
        Some(k) => {
            jobs.contexts = Some(k.contexts);
            (k.runtime, None, k.label)
        }
        None => match RemoteRuntime::connect(&socket).await {
            Ok(remote) => {
                let name = match remote.ping().await {
                    Ok(p) => format!("{} (attached to pid {})", p.runtime, p.pid),
                    Err(_) => "sandbox (attached)".into(),
                };
                (Arc::new(remote), None, name)
            }
            Err(_) => {
                let command = if demo { "demo" } else { "console" };
                let Some(lock) = claim_state(&state, command, config.runtime)? else {
                    return Ok(exit::REFUSED);
                };
                let embedded = start_sandbox(g, &state, config.clone(), config_dir, lock).await?;
                let shared: SharedRuntime = embedded.sandbox.clone();
                let name = embedded.kind.to_string();
                (shared, Some(embedded), name)
            }
        },
    };

    let app = App::new(
        config.clone(),
        &runtime_name,
        g.read_only,
        keymap,
        crate::clock::now_ms(),
    );
    let (mut terminal, bytes) = crate::tui::enter().wrap_err("opening the terminal")?;
    if let Err(e) = crate::tui::redirect_stderr(&state.dir.join("console.log")) {
        crate::tui::restore();
        return Err(eyre!(
            "redirecting stderr to {}: {e}",
            state.dir.join("console.log").display()
        ));
    }
    let stop_requested = embedded.as_ref().map(|e| e.shutdown_requested.clone());
    let ledger = FaultLedger::default();
    let ctx = super::console_loop::LoopContext {
        theme,
        started,
        stop_requested,
        jobs,
        ledger: ledger.clone(),
    };
    let result = super::console_loop::run(&mut terminal, runtime.clone(), app, ctx).await;
    crate::tui::restore();
    let disconnected = matches!(result.as_ref().map(|s| s.ended), Ok(Ended::Disconnected(_)));
    // Attached: the daemon's rollouts and faults go on unless told otherwise.
    if embedded.is_none()
        && disconnected
        && config.console.on_disconnect == OnDisconnect::UndoFaults
    {
        let actor = crate::runtime::Actor::current("console");
        let report = undo_started_faults(&runtime, &ledger, &actor).await;
        note(&state.dir.join("console.log"), &report);
    }

    if config.runtime == crate::config::RuntimeKind::Kubernetes {
        // Stops the watches and writes what the audit journal still holds.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            crate::runtime::Runtime::shutdown(&*runtime),
        )
        .await;
    }
    if let Some(e) = embedded {
        let _ = e.stop.send(true);
        // Stopping instances must not hang the exit (SIGHUP: nobody is watching).
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            crate::runtime::Runtime::shutdown(&*e.sandbox),
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
