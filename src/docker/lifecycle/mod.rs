//! `up` and `down` of a Compose project, and the per-container view both
//! they and the runtime read from `inspect`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions};
use bollard::Docker;

use super::compose::{ComposeModel, ComposeProject, ComposeTool};
use super::{
    engine, ports, DockerError, MANAGED_LABEL, PROJECT_LABEL, READY_PATH_LABEL, READY_PORT_LABEL,
};
mod view;

use view::urls;
pub use view::ContainerView;

const POLL: Duration = Duration::from_millis(300);
/// A service that restarts this often while `up` waits is crash-looping.
const MAX_RESTARTS_WHILE_WAITING: i64 = 3;

/// What `up` needs besides the project.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// How long every service together gets to become ready.
    pub timeout: Duration,
    /// Log lines shown for a service that fails.
    pub log_lines: usize,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            timeout: Duration::from_secs(60),
            log_lines: 20,
        }
    }
}

/// Progress of `up`, reported as it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Port checks passed; the Compose tool is starting the project.
    Starting { tool: String, services: usize },
    /// The Compose tool returned; waiting for health.
    Started,
    ServiceReady {
        service: String,
        elapsed: Duration,
        detail: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEndpoints {
    pub service: String,
    pub urls: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpReport {
    pub services: Vec<ServiceEndpoints>,
    pub elapsed: Duration,
}

enum Check {
    Ready(String),
    Waiting(String),
    Failed(String),
}

async fn check_service(
    docker: &Docker,
    project: &str,
    service: &str,
    baseline: &mut HashMap<String, u32>,
) -> Result<(Check, Vec<ContainerView>), DockerError> {
    let summaries = engine::project_containers(docker, project, Some(service)).await?;
    if summaries.is_empty() {
        return Ok((Check::Waiting("no container yet".into()), Vec::new()));
    }
    let mut views = Vec::with_capacity(summaries.len());
    for s in &summaries {
        let Some(id) = s.id.as_deref() else { continue };
        let i = engine::inspect(docker, id).await?;
        views.push(ContainerView::from_inspect(&i));
    }
    for v in &views {
        let base = *baseline.entry(v.id.clone()).or_insert(v.restart_count);
        let restarts = i64::from(v.restart_count) - i64::from(base);
        let status = v.status.as_str();
        if restarts >= MAX_RESTARTS_WHILE_WAITING {
            return Ok((
                Check::Failed(format!(
                    "{} is crash-looping: restarted {restarts} times, last {}",
                    v.name,
                    v.exit_text()
                )),
                views,
            ));
        }
        if v.paused {
            return Ok((Check::Failed(format!("{} is paused", v.name)), views));
        }
        if status == ContainerStateStatusEnum::EXITED.to_string()
            || status == ContainerStateStatusEnum::DEAD.to_string()
        {
            if v.restart_policy == "no" {
                return Ok((
                    Check::Failed(format!("{} {}", v.name, v.exit_text())),
                    views,
                ));
            }
            return Ok((
                Check::Waiting(format!(
                    "{} {}; waiting for a restart",
                    v.name,
                    v.exit_text()
                )),
                views,
            ));
        }
        if !v.running || v.restarting {
            return Ok((Check::Waiting(format!("{} is {status}", v.name)), views));
        }
        match v.health.as_str() {
            "unhealthy" => {
                let out = if v.health_output.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.health_output)
                };
                return Ok((
                    Check::Failed(format!("{} healthcheck is failing{out}", v.name)),
                    views,
                ));
            }
            "starting" => {
                return Ok((
                    Check::Waiting(format!("{} healthcheck: starting", v.name)),
                    views,
                ))
            }
            _ => {}
        }
    }
    let mut detail = if views.iter().any(|v| v.health == "healthy") {
        "healthy".to_string()
    } else {
        "running".to_string()
    };
    for v in &views {
        let Some(path) = v.labels.get(READY_PATH_LABEL) else {
            continue;
        };
        let want = v
            .labels
            .get(READY_PORT_LABEL)
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = v.host_port(want) else {
            return Ok((
                Check::Failed(format!(
                    "{} has {READY_PATH_LABEL} but publishes no TCP port to probe",
                    v.name
                )),
                views,
            ));
        };
        if !crate::router::probe::probe(port, path).await {
            return Ok((
                Check::Waiting(format!("GET {path} on 127.0.0.1:{port} is not 200 yet")),
                views,
            ));
        }
        detail = format!("{detail}, {path} 200");
    }
    Ok((Check::Ready(detail), views))
}

/// Wait until every service of the model is ready; the first failure (or
/// the deadline) stops the wait with the service's last log lines.
pub async fn wait_ready(
    docker: &Docker,
    project: &str,
    model: &ComposeModel,
    opts: &UpOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<ServiceEndpoints>, DockerError> {
    let start = Instant::now();
    let mut pending: BTreeSet<String> = model.services.keys().cloned().collect();
    let mut waiting: BTreeMap<String, String> = BTreeMap::new();
    let mut baseline = HashMap::new();
    let mut endpoints = BTreeMap::new();
    let mut last_views: HashMap<String, Vec<ContainerView>> = HashMap::new();
    loop {
        for service in pending.clone() {
            let (check, views) = check_service(docker, project, &service, &mut baseline).await?;
            match check {
                Check::Ready(detail) => {
                    progress(Progress::ServiceReady {
                        service: service.clone(),
                        elapsed: start.elapsed(),
                        detail,
                    });
                    endpoints.insert(
                        service.clone(),
                        ServiceEndpoints {
                            service: service.clone(),
                            urls: views.iter().flat_map(urls).collect(),
                        },
                    );
                    pending.remove(&service);
                }
                Check::Waiting(reason) => {
                    waiting.insert(service.clone(), reason);
                    last_views.insert(service.clone(), views);
                }
                Check::Failed(reason) => {
                    return Err(not_ready(docker, &service, reason, &views, opts).await);
                }
            }
        }
        if pending.is_empty() {
            return Ok(endpoints.into_values().collect());
        }
        if start.elapsed() >= opts.timeout {
            let service = pending.iter().next().cloned().unwrap_or_default();
            let reason = format!(
                "not ready after {}s ({})",
                opts.timeout.as_secs(),
                waiting
                    .get(&service)
                    .map(String::as_str)
                    .unwrap_or("waiting")
            );
            let views = last_views.remove(&service).unwrap_or_default();
            return Err(not_ready(docker, &service, reason, &views, opts).await);
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn not_ready(
    docker: &Docker,
    service: &str,
    reason: String,
    views: &[ContainerView],
    opts: &UpOptions,
) -> DockerError {
    let mut logs = Vec::new();
    if let Some(v) = views.first() {
        logs = engine::tail_logs(docker, &v.id, opts.log_lines).await;
    }
    DockerError::NotReady {
        service: service.to_string(),
        reason,
        logs,
    }
}

/// Check ports, start the project with the Compose tool, wait for health.
pub async fn up(
    tool: &ComposeTool,
    docker: &Docker,
    project: &ComposeProject,
    opts: &UpOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<UpReport, DockerError> {
    let start = Instant::now();
    let model = tool.config(project).await?;
    let conflicts = ports::find_conflicts(docker, &project.name, &model).await?;
    if !conflicts.is_empty() {
        return Err(DockerError::PortConflicts(conflicts));
    }
    progress(Progress::Starting {
        tool: tool.label.clone(),
        services: model.services.len(),
    });
    if model.services.values().any(|s| s.builds) {
        // Built images carry the git short SHA (VERSION) and `latest`.
        tool.build(project).await?;
        tag_latest(docker, &model).await?;
    }
    tool.up(project).await?;
    progress(Progress::Started);
    let remaining = UpOptions {
        timeout: opts.timeout.saturating_sub(start.elapsed()),
        ..opts.clone()
    };
    let services = wait_ready(docker, &project.name, &model, &remaining, progress).await?;
    Ok(UpReport {
        services,
        elapsed: start.elapsed(),
    })
}

/// Tag every locally built `image:tag` also as `image:latest`.
async fn tag_latest(docker: &Docker, model: &ComposeModel) -> Result<(), DockerError> {
    for svc in model.services.values().filter(|s| s.builds) {
        let Some(image) = &svc.image else { continue };
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (image.as_str(), "latest"),
        };
        if tag == "latest" {
            continue;
        }
        let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(repo)
            .tag("latest")
            .build();
        docker
            .tag_image(image, Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("tagging {image} as {repo}:latest"), e))?;
    }
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DownReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Stop and remove the project: `compose down` when the compose file
/// exists, then whatever still carries the project label (containers
/// blissful-infra created next to Compose's, a project whose file is gone).
/// Nothing without the label is touched.
pub async fn down(
    tool: Option<&ComposeTool>,
    docker: &Docker,
    project: &ComposeProject,
    volumes: bool,
) -> Result<DownReport, DockerError> {
    let before = engine::project_containers(docker, &project.name, None).await?;
    let mut report = DownReport {
        containers: before.len(),
        ..Default::default()
    };
    let networks_before = project_networks(docker, &project.name).await?;
    report.networks = networks_before.len();
    let volumes_before = if volumes {
        project_volumes(docker, &project.name).await?
    } else {
        Vec::new()
    };
    report.volumes = volumes_before.len();
    // blissful-infra's own copies first: Compose does not count them as its
    // orphans, and the project network cannot go while they are attached.
    for c in &before {
        let managed = c
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(MANAGED_LABEL));
        if let (true, Some(id)) = (managed, c.id.as_deref()) {
            remove_forced(docker, id, volumes, &engine::container_name(c)).await?;
        }
    }
    if let Some(tool) = tool.filter(|_| project.file.is_file()) {
        tool.down(project, volumes).await?;
    }
    for c in engine::project_containers(docker, &project.name, None).await? {
        let Some(id) = c.id.as_deref() else { continue };
        // Re-check the label on the container itself: never touch another project.
        if c.labels.as_ref().and_then(|l| l.get(PROJECT_LABEL)) != Some(&project.name) {
            continue;
        }
        remove_forced(docker, id, volumes, &engine::container_name(&c)).await?;
    }
    for n in project_networks(docker, &project.name).await? {
        match docker.remove_network(&n).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(DockerError::api(format!("removing network {n}"), e)),
        }
    }
    if volumes {
        for v in project_volumes(docker, &project.name).await? {
            match docker
                .remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(DockerError::api(format!("removing volume {v}"), e)),
            }
        }
    }
    Ok(report)
}

async fn remove_forced(
    docker: &Docker,
    id: &str,
    volumes: bool,
    name: &str,
) -> Result<(), DockerError> {
    match docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: volumes,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(DockerError::api(format!("removing container {name}"), e)),
    }
}

/// Names of the networks carrying the project label.
pub async fn project_networks(docker: &Docker, project: &str) -> Result<Vec<String>, DockerError> {
    let nets = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(engine::label_filters(&[(PROJECT_LABEL, project)])),
        }))
        .await
        .map_err(|e| DockerError::api("listing networks", e))?;
    Ok(nets
        .into_iter()
        .filter(|n| {
            n.labels
                .as_ref()
                .and_then(|l| l.get(PROJECT_LABEL))
                .map(String::as_str)
                == Some(project)
        })
        .filter_map(|n| n.name)
        .collect())
}

/// Names of the volumes carrying the project label.
pub async fn project_volumes(docker: &Docker, project: &str) -> Result<Vec<String>, DockerError> {
    let vols = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(engine::label_filters(&[(PROJECT_LABEL, project)])),
        }))
        .await
        .map_err(|e| DockerError::api("listing volumes", e))?;
    Ok(vols
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.labels.get(PROJECT_LABEL).map(String::as_str) == Some(project))
        .map(|v| v.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::view::image_tag;
    use super::*;
    use bollard::models::ContainerInspectResponse;

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("blissful-infra-sample:abc1234"), "abc1234");
        assert_eq!(image_tag("busybox"), "latest");
        assert_eq!(image_tag("localhost:5000/app"), "latest");
        assert_eq!(image_tag("localhost:5000/app:v2"), "v2");
        // The same rule as Kubernetes: trimmed, never blank.
        assert_eq!(image_tag("app: v2"), "v2");
        assert_eq!(image_tag("app:  "), "latest");
        assert_eq!(
            image_tag("app@sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
    }

    #[test]
    fn view_from_inspect_reads_version_ports_and_health() {
        let json = serde_json::json!({
            "Id": "0123456789abcdef",
            "Name": "/demo-app-1",
            "RestartCount": 2,
            "State": {"Status": "running", "Running": true, "Pid": 42,
                      "Health": {"Status": "healthy", "Log": [{"Output": "ok\n"}]}},
            "Config": {"Image": "blissful-infra-sample:abc", "Env": ["PORT=8080", "VERSION=v7"],
                       "Labels": {"com.docker.compose.service": "app",
                                  "com.docker.compose.container-number": "1",
                                  "dev.blissful-infra.ready-path": "/ready"}},
            "HostConfig": {"RestartPolicy": {"Name": "always"}},
            "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                                          "9000/tcp": null},
                                "Networks": {"demo_default": {}}}
        });
        let i: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        let v = ContainerView::from_inspect(&i);
        assert_eq!(v.display, "app-1");
        assert_eq!(v.version, "v7");
        assert_eq!(v.health, "healthy");
        assert_eq!(v.health_output, "ok");
        assert_eq!(v.restart_count, 2);
        assert_eq!(v.pid, Some(42));
        assert_eq!(v.restart_policy, "always");
        assert_eq!(v.host_port(None), Some(49153));
        assert_eq!(v.host_port(Some(9000)), None);
        assert!(v.is_ready());
        assert_eq!(urls(&v), vec!["http://127.0.0.1:49153".to_string()]);
        assert_eq!(v.networks, vec!["demo_default".to_string()]);
    }
}
