//! The Docker runtime: a Compose project on a real Docker Engine.
//!
//! - `compose`: finds the Compose tool (the `docker compose` plugin or
//!   `docker-compose`), runs `up`/`down`/`config`, reads the normalised model.
//! - `ports`: host-port conflict detection that names the holder (a process
//!   from `/proc`, or a container).
//! - `lifecycle`: `up` (conflicts, start, wait for health and `/ready`) and
//!   `down` (only the project's own containers, networks, volumes).
//! - `cli`: runners for the CLI (`up`, `down`) that print progress and return
//!   an exit code.
//! - `runtime`: `DockerRuntime`, the `runtime::Runtime` over bollard (status,
//!   events, logs, stats, a self-reconnecting source).
//! - `chaos`: faults applied to containers, journalled before they are applied.
//! - `sinks`: listeners opened inside a container's network namespace for
//!   dependency faults (a SERVFAIL DNS responder, a port that never answers).
//! - `delivery`: canary and blue/green with the sandbox's edge router on the host.

pub mod app_service;
pub mod chaos;
pub mod cli;
pub mod compose;
mod delay;
pub mod delivery;
pub mod engine;
pub mod lifecycle;
pub mod ports;
pub mod runtime;
mod sinks;

use std::path::{Path, PathBuf};

pub use compose::{ComposeProject, ComposeTool};
pub use runtime::{DockerRuntime, DockerRuntimeOptions};

/// Label Compose puts on everything it creates for a project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label Compose puts on a service's containers.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Label Compose puts on a container: its replica number.
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
/// Service label: the HTTP readiness path `up` polls on the published port.
pub const READY_PATH_LABEL: &str = "dev.blissful-infra.ready-path";
/// Service label: the container port to probe (default: the first published one).
pub const READY_PORT_LABEL: &str = "dev.blissful-infra.ready-port";
/// Service label: the version shown for its containers (default: `$VERSION`, else the image tag).
pub const VERSION_LABEL: &str = "dev.blissful-infra.version";
/// Service label: the dependency role (`db` or `kafka`) that `db-down`/`kafka-down` stop.
pub const ROLE_LABEL: &str = "dev.blissful-infra.role";
/// Label on containers blissful-infra itself created (canary and blue/green copies).
pub const MANAGED_LABEL: &str = "dev.blissful-infra.managed";

/// The one environment a Compose project is shown as.
pub const ENV_NAME: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "no Compose tool found: neither the `docker compose` plugin nor `docker-compose` \
         is installed (install the Docker Compose plugin or docker-compose){}",
        detail_suffix(.detail)
    )]
    NoCompose { detail: String },
    #[error("cannot reach the Docker Engine at {host}: {message}")]
    Engine { host: String, message: String },
    #[error("docker API: {context}: {message}")]
    Api { context: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}){}", detail_suffix(.output))]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("compose file {}: {message}", .path.display())]
    ComposeFile { path: PathBuf, message: String },
    #[error("{}", describe_conflicts(.0))]
    PortConflicts(Vec<ports::PortConflict>),
    #[error("service `{service}` did not become ready: {reason}")]
    NotReady {
        service: String,
        reason: String,
        /// The service's last log lines (sanitised).
        logs: Vec<String>,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

fn detail_suffix(d: &str) -> String {
    let d = d.trim();
    if d.is_empty() {
        String::new()
    } else {
        format!(": {d}")
    }
}

fn describe_conflicts(c: &[ports::PortConflict]) -> String {
    let parts: Vec<String> = c.iter().map(|c| c.to_string()).collect();
    format!("host port conflict: {}", parts.join("; "))
}

impl DockerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DockerError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn api(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        DockerError::Api {
            context: context.into(),
            message: crate::domain::sanitize::strip_all(&e.to_string()),
        }
    }
}

/// A Compose project name must be lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit (what both Compose versions accept).
pub fn validate_project_name(name: &str) -> Result<(), DockerError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DockerError::Invalid {
            what: "compose project name".into(),
            message: format!(
                "{name:?}: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"
            ),
        })
    }
}

/// The Compose project described by `blissful-infra.yaml` (its `docker:` section).
pub fn project_from_config(
    config: &crate::config::Config,
    config_dir: &Path,
) -> Result<ComposeProject, DockerError> {
    let d = &config.docker;
    let name = if d.project_name.is_empty() {
        config.project.to_ascii_lowercase()
    } else {
        d.project_name.clone()
    };
    validate_project_name(&name)?;
    let file = config_dir.join(&d.compose_file);
    Ok(ComposeProject::new(config_dir.to_path_buf(), file, name)
        .with_version(git_short_sha(config_dir)))
}

/// The git short SHA of the checkout holding `dir`, if it is one.
pub fn git_short_sha(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_checked() {
        for ok in ["demo", "my-app_2", "0abc"] {
            assert!(validate_project_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Demo", "-x", "a b", "a/b", &"x".repeat(64)] {
            let e = validate_project_name(bad).unwrap_err().to_string();
            assert!(e.contains("compose project name"), "{bad}: {e}");
        }
    }

    #[test]
    fn no_compose_error_names_both_tools() {
        let e = DockerError::NoCompose {
            detail: String::new(),
        }
        .to_string();
        assert!(
            e.contains("docker compose") && e.contains("docker-compose"),
            "{e}"
        );
        assert!(!e.ends_with(": "), "{e}");
    }

    #[test]
    fn docker_section_of_the_config_file() {
        let yaml = "project: shop\nruntime: docker\ndocker:\n  compose_file: compose.yaml\n  app_service: web\n  router_port: 8280\n";
        let c = crate::config::Config::from_yaml_str(yaml, "blissful-infra.yaml").unwrap();
        assert_eq!(c.runtime, crate::config::RuntimeKind::Docker);
        assert_eq!(c.docker.app_service, "web");
        assert_eq!(c.docker.router_port, 8280);
        assert_eq!(c.docker.up_timeout_secs, 60, "defaults for the rest");
        let p = project_from_config(&c, Path::new("/srv/shop")).unwrap();
        assert_eq!(p.file, Path::new("/srv/shop/compose.yaml"));
        assert!(
            crate::config::Config::from_yaml_str("docker:\n  nope: 1\n", "x").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn project_from_config_defaults_to_the_project_name() {
        let mut c = crate::config::Config {
            project: "Shop".into(),
            ..Default::default()
        };
        let p = project_from_config(&c, Path::new("/srv/shop")).unwrap();
        assert_eq!(p.name, "shop");
        assert_eq!(p.file, Path::new("/srv/shop/docker-compose.yml"));
        c.docker.project_name = "Bad Name".into();
        assert!(project_from_config(&c, Path::new("/srv")).is_err());
    }
}
