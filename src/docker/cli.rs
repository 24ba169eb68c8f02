//! CLI runners for `up` and `down` with `runtime: docker`: they print
//! progress and a summary, and return the process exit code.

use std::io::Write;
use std::time::Duration;

use super::compose::{ComposeProject, ComposeTool};
use super::lifecycle::{self, Progress, UpOptions};
use super::{engine, DockerError};
use crate::domain::sanitize::strip_all;
use crate::report::exit;

/// Exit code for an error from `up` or `down`.
pub fn exit_code(e: &DockerError) -> i32 {
    match e {
        DockerError::NoCompose { .. } | DockerError::Engine { .. } => exit::UNAVAILABLE,
        DockerError::ComposeFile { .. } | DockerError::Invalid { .. } => exit::USAGE,
        _ => exit::FAILED,
    }
}

fn print_error(err: &mut dyn Write, e: &DockerError) {
    match e {
        DockerError::PortConflicts(conflicts) => {
            let _ = writeln!(err, "error: host ports are already in use:");
            for c in conflicts {
                let _ = writeln!(err, "  {c}");
            }
        }
        DockerError::NotReady {
            service,
            reason,
            logs,
        } => {
            let _ = writeln!(err, "✗ {service} not ready: {reason}");
            if logs.is_empty() {
                let _ = writeln!(err, "  ({service} wrote no log lines)");
            } else {
                let _ = writeln!(err, "  last {} log lines of {service}:", logs.len());
                for l in logs {
                    let _ = writeln!(err, "  | {l}");
                }
            }
            let _ = writeln!(err, "error: {service} did not become ready");
        }
        DockerError::Command {
            command,
            status,
            output,
        } => {
            let _ = writeln!(err, "error: `{}` failed ({status})", strip_all(command));
            for l in output.lines() {
                let _ = writeln!(err, "  | {l}");
            }
        }
        other => {
            let _ = writeln!(err, "error: {}", strip_all(&other.to_string()));
        }
    }
}

/// `blissful-infra up` for a Compose project: conflicts, start, health, URLs.
pub async fn up(
    project: &ComposeProject,
    timeout: Duration,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    let r = async {
        let tool = ComposeTool::discover().await?;
        let docker = engine::connect().await?;
        let opts = UpOptions {
            timeout,
            ..UpOptions::default()
        };
        let mut progress = |p: Progress| match p {
            Progress::Starting { tool, services } => {
                let _ = writeln!(
                    out,
                    "starting {} ({services} services) with {tool}",
                    project.name
                );
            }
            Progress::Started => {
                let _ = writeln!(out, "waiting for services to be ready...");
            }
            Progress::ServiceReady {
                service,
                elapsed,
                detail,
            } => {
                let _ = writeln!(
                    out,
                    "✓ {service} ready ({detail}, {:.1}s)",
                    elapsed.as_secs_f64()
                );
            }
        };
        let report = lifecycle::up(&tool, &docker, project, &opts, &mut progress).await?;
        Ok::<_, DockerError>(report)
    }
    .await;
    match r {
        Ok(report) => {
            let _ = writeln!(
                out,
                "{} is up in {:.1}s",
                project.name,
                report.elapsed.as_secs_f64()
            );
            let width = report
                .services
                .iter()
                .map(|s| s.service.len())
                .max()
                .unwrap_or(0);
            for s in &report.services {
                let urls = if s.urls.is_empty() {
                    "(no published ports)".to_string()
                } else {
                    s.urls.join("  ")
                };
                let _ = writeln!(out, "  {:width$}  {urls}", s.service);
            }
            let _ = out.flush();
            exit::OK
        }
        Err(e) => {
            let _ = out.flush();
            print_error(err, &e);
            exit_code(&e)
        }
    }
}

/// `blissful-infra down [--volumes]` for a Compose project.
pub async fn down(
    project: &ComposeProject,
    volumes: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    let r = async {
        let docker = engine::connect().await?;
        // Without a Compose tool the labelled containers are still removed.
        let tool = match ComposeTool::discover().await {
            Ok(t) => Some(t),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "warning: {e}; removing the project's containers directly"
                );
                None
            }
        };
        lifecycle::down(tool.as_ref(), &docker, project, volumes).await
    }
    .await;
    match r {
        Ok(rep) => {
            let vols = if volumes {
                format!(", {} volume(s)", rep.volumes)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{} is down: removed {} container(s), {} network(s){vols}",
                project.name, rep.containers, rep.networks
            );
            exit::OK
        }
        Err(e) => {
            print_error(err, &e);
            exit_code(&e)
        }
    }
}

/// Open the Docker runtime for `runtime: docker` (console, daemon or a CLI
/// command): connects (an unreachable engine is reported by the source and
/// retried, not fatal) and reports the faults a blissful-infra that died
/// left applied: those undone at start, and those that could not be (with
/// how to undo them; `DockerRuntime::undo_leftovers` undoes all).
pub async fn open_runtime(
    config: std::sync::Arc<crate::config::Config>,
    config_dir: &std::path::Path,
    state: crate::paths::StatePaths,
    err: &mut (dyn Write + Send),
) -> Result<std::sync::Arc<super::DockerRuntime>, i32> {
    let config = resolve_app_service(config, config_dir, err).await?;
    let opts = match super::DockerRuntimeOptions::from_config(config, config_dir, state) {
        Ok(o) => o,
        Err(e) => {
            print_error(err, &e);
            return Err(exit_code(&e));
        }
    };
    let rt = match super::DockerRuntime::connect(opts).await {
        Ok(rt) => rt,
        Err(e) => {
            print_error(err, &e);
            return Err(exit_code(&e));
        }
    };
    if let crate::runtime::SourceState::Degraded(r) = rt.source_state() {
        let _ = writeln!(err, "warning: Docker Engine: {}", strip_all(&r));
    }
    let undone = rt.reconciled_faults().await;
    if !undone.is_empty() {
        let _ = writeln!(
            err,
            "undid {} fault(s) left by a blissful-infra that did not stop cleanly:",
            undone.len()
        );
        for line in &undone {
            let _ = writeln!(err, "  {}", strip_all(line));
        }
    }
    let left = rt.leftover_faults().await;
    if !left.is_empty() {
        let _ = writeln!(
            err,
            "{} fault(s) left by a blissful-infra that did not stop cleanly could not be undone:",
            left.len()
        );
        for r in &left {
            let _ = writeln!(err, "  {}", strip_all(&r.describe()));
        }
        let _ = writeln!(err, "undo each with `blissful-infra undo --id <id>`");
    }
    Ok(rt)
}

/// Make `docker.app_service` name a service that exists: infer it from the
/// Compose project when the configured one is missing, and say which was
/// picked and why. When Compose cannot be read here, the config is left as
/// it is and the runtime reports the problem itself.
async fn resolve_app_service(
    config: std::sync::Arc<crate::config::Config>,
    config_dir: &std::path::Path,
    err: &mut (dyn Write + Send),
) -> Result<std::sync::Arc<crate::config::Config>, i32> {
    let Ok(project) = super::project_from_config(&config, config_dir) else {
        return Ok(config);
    };
    let Ok(tool) = ComposeTool::discover().await else {
        return Ok(config);
    };
    let Ok(model) = tool.config(&project).await else {
        return Ok(config);
    };
    match super::app_service::infer_app_service(&model, &config.docker.app_service) {
        Ok(app) if app.name == config.docker.app_service => Ok(config),
        Ok(app) => {
            let _ = writeln!(
                err,
                "app service: `{}` ({}); set `docker.app_service` in blissful-infra.yaml to choose another",
                strip_all(&app.name),
                app.reason
            );
            let mut changed = (*config).clone();
            changed.docker.app_service = app.name;
            Ok(std::sync::Arc::new(changed))
        }
        Err(why) => {
            let _ = writeln!(err, "error: {}", strip_all(&why));
            Err(exit::USAGE)
        }
    }
}
