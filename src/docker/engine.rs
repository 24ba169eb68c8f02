//! Connecting to the Docker Engine with bollard, and small shared queries.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{ListContainersOptions, LogsOptions};
use bollard::Docker;
use futures::StreamExt;

use super::{DockerError, PROJECT_LABEL, SERVICE_LABEL};
use crate::domain::sanitize::sanitize_bytes;

/// How long the first exchange with the engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the client connects: `$DOCKER_HOST`, else the local socket.
pub fn docker_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

/// Connect (honouring `DOCKER_HOST`) and agree on an API version the engine
/// supports (bollard speaks a newer one than many engines accept).
pub async fn connect() -> Result<Docker, DockerError> {
    connect_to(None).await
}

/// Connect to `host` (`unix://...`, `tcp://...`), or as `connect` when `None`.
pub async fn connect_to(host: Option<&str>) -> Result<Docker, DockerError> {
    let shown = host.map(str::to_string).unwrap_or_else(docker_host);
    let err = |m: String| DockerError::Engine {
        host: shown.clone(),
        message: crate::domain::sanitize::strip_all(&m),
    };
    let docker = match host {
        Some(h) => Docker::connect_with_host(h),
        None => Docker::connect_with_defaults(),
    }
    .map_err(|e| err(e.to_string()))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(_) => Err(err(format!(
            "no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// True when an engine answers a ping.
pub async fn reachable() -> bool {
    match connect().await {
        Ok(d) => tokio::time::timeout(CONNECT_TIMEOUT, d.ping())
            .await
            .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    }
}

/// Label filters for `list_containers`/`events`: `label=key=value` each.
pub fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    f.insert(
        "label".to_string(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    f
}

/// All containers (running or not) of a project, optionally of one service.
pub async fn project_containers(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
) -> Result<Vec<ContainerSummary>, DockerError> {
    let mut labels = vec![(PROJECT_LABEL, project)];
    if let Some(s) = service {
        labels.push((SERVICE_LABEL, s));
    }
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filters(&labels)),
            ..Default::default()
        }))
        .await
        .map_err(|e| DockerError::api(format!("listing containers of project {project}"), e))
}

pub async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInspectResponse, DockerError> {
    docker
        .inspect_container(id, None)
        .await
        .map_err(|e| DockerError::api(format!("inspecting container {}", short_id(id)), e))
}

/// The first 12 characters of a container id, as the docker CLI shows them.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A container's name without the leading `/`.
pub fn container_name(summary: &ContainerSummary) -> String {
    summary
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| short_id(summary.id.as_deref().unwrap_or("?")).to_string())
}

/// The last `n` log lines of a container (stdout and stderr), sanitised.
pub async fn tail_logs(docker: &Docker, id: &str, n: usize) -> Vec<String> {
    let mut stream = docker.logs(
        id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        }),
    );
    let mut lines = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(out) => {
                    let bytes = out.into_bytes();
                    for l in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        lines.push(sanitize_bytes(l));
                    }
                }
                Err(e) => {
                    lines.push(format!(
                        "(cannot read logs: {})",
                        crate::domain::sanitize::strip_all(&e.to_string())
                    ));
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}
