//! The app service's containers by version: a new version is a copy of a
//! running container (same image with `VERSION` set, or the image tagged
//! with the version when one exists locally); retiring a version stops its
//! containers (SIGTERM, measured, then SIGKILL after the grace period) and
//! removes them, Compose's too.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use bollard::Docker;

use crate::delivery::Readiness;
use crate::docker::lifecycle::ContainerView;
use crate::docker::runtime::Inner;
use crate::docker::{
    engine, MANAGED_LABEL, PROJECT_LABEL, READY_PATH_LABEL, READY_PORT_LABEL, SERVICE_LABEL,
    VERSION_LABEL,
};
use crate::domain::chaos::SigtermStop;
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::sanitize::strip_all;
use crate::router::probe::probe;

pub(super) fn app(inner: &Inner) -> String {
    inner.opts.config.docker.app_service.clone()
}

/// App containers (Compose's and blissful-infra's copies) by version.
pub(super) fn by_version(inner: &Inner) -> BTreeMap<String, Vec<ContainerView>> {
    let app = app(inner);
    let mut m: BTreeMap<String, Vec<ContainerView>> = BTreeMap::new();
    for c in inner.containers().into_iter().filter(|c| c.service == app) {
        m.entry(c.version.clone()).or_default().push(c);
    }
    m
}

/// A container of `version` runs already (a held canary deployed again).
pub(super) fn has_running(inner: &Inner, version: &Version) -> bool {
    by_version(inner)
        .get(version.as_str())
        .is_some_and(|cs| cs.iter().any(|c| c.running))
}

pub(super) fn backend(c: &ContainerView) -> Option<SocketAddr> {
    let want = c
        .labels
        .get(READY_PORT_LABEL)
        .and_then(|p| p.parse::<u16>().ok());
    c.host_port(want)
        .map(|p| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p))
}

pub(super) fn sanitize_name(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Start a container of `version` of the app service, modelled on a running one.
pub(super) async fn create_version(
    inner: &Arc<Inner>,
    docker: &Docker,
    version: &Version,
) -> Result<String, String> {
    let app = app(inner);
    let template = by_version(inner)
        .into_values()
        .flatten()
        .filter(|c| c.running)
        .min_by_key(|c| c.labels.contains_key(MANAGED_LABEL))
        .ok_or_else(|| format!("no running container of service `{app}` to copy"))?;
    let t = engine::inspect(docker, &template.id)
        .await
        .map_err(|e| e.to_string())?;
    let cfg = t.config.unwrap_or_default();
    let host = t.host_config.unwrap_or_default();
    let base_image = cfg.image.clone().unwrap_or_default();
    // An image tagged with the version wins over the template's image.
    let repo = match base_image.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r.to_string(),
        _ => base_image.clone(),
    };
    let tagged = format!("{repo}:{version}");
    let image = if docker.inspect_image(&tagged).await.is_ok() {
        tagged
    } else {
        base_image
    };
    // The sample service's behaviour knobs follow `service.versions` (as in
    // the sandbox); other images simply ignore these variables.
    let behaviour = inner
        .opts
        .config
        .service
        .versions
        .get(version.as_str())
        .cloned()
        .unwrap_or_default();
    const SET: [&str; 4] = [
        "VERSION=",
        "LATENCY_MS=",
        "ERROR_RATE=",
        "MEMORY_GROWTH_MIB_PER_MIN=",
    ];
    let mut env: Vec<String> = cfg
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !SET.iter().any(|p| e.starts_with(p)))
        .collect();
    env.push(format!("VERSION={version}"));
    env.push(format!("LATENCY_MS={}", behaviour.latency_ms));
    env.push(format!("ERROR_RATE={}", behaviour.error_rate));
    env.push(format!(
        "MEMORY_GROWTH_MIB_PER_MIN={}",
        behaviour.memory_growth_mib_per_min
    ));
    let mut labels: HashMap<String, String> = cfg
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose."))
        .collect();
    labels.insert(PROJECT_LABEL.into(), inner.opts.project.clone());
    labels.insert(
        SERVICE_LABEL.into(),
        format!("{app}-{}", sanitize_name(version.as_str())),
    );
    labels.insert(MANAGED_LABEL.into(), app.clone());
    labels.insert(VERSION_LABEL.into(), version.0.clone());
    if let Some(p) = template.labels.get(READY_PATH_LABEL) {
        labels.insert(READY_PATH_LABEL.into(), p.clone());
    }
    let exposed: Vec<String> = cfg.exposed_ports.clone().unwrap_or_default();
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = exposed
        .iter()
        .filter(|p| p.ends_with("/tcp"))
        .map(|p| {
            (
                p.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let network = template.networks.first().cloned();
    let body = ContainerCreateBody {
        image: Some(image),
        env: Some(env),
        cmd: cfg.cmd,
        entrypoint: cfg.entrypoint,
        working_dir: cfg.working_dir,
        user: cfg.user,
        healthcheck: cfg.healthcheck,
        labels: Some(labels),
        exposed_ports: Some(exposed),
        stop_signal: cfg.stop_signal,
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            restart_policy: host.restart_policy,
            memory: host.memory,
            nano_cpus: host.nano_cpus,
            network_mode: network.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!(
        "{}-{app}-{}-{}",
        inner.opts.project,
        sanitize_name(version.as_str()),
        fastrand::u16(..)
    );
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| format!("creating {name}: {}", strip_all(&e.to_string())))?;
    if let Err(e) = docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
    {
        let _ = remove(docker, &created.id).await;
        return Err(format!("starting {name}: {}", strip_all(&e.to_string())));
    }
    inner.log(Level::Info, format!("started {name} for {version}"));
    crate::docker::runtime::refresh_container(inner, docker, &created.id).await;
    Ok(created.id)
}

pub(super) async fn remove(docker: &Docker, id: &str) -> Result<(), String> {
    match docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(strip_all(&e.to_string())),
    }
}

/// How long a retired container has between SIGTERM and SIGKILL (the
/// sandbox gives its instances as long).
const STOP_GRACE_SECS: u16 = 3;
/// Exit code of a process killed by SIGKILL.
const KILLED_EXIT: i64 = 137;

/// Stop `c` with SIGTERM and read how it went: exited within the grace
/// period, or killed when it ran out (exit 137). None when it was not
/// running or the engine would not say.
async fn stop_measured(docker: &Docker, c: &ContainerView) -> Option<SigtermStop> {
    let started = std::time::Instant::now();
    let opts = StopContainerOptions {
        t: Some(i32::from(STOP_GRACE_SECS)),
        signal: None,
    };
    docker.stop_container(&c.id, Some(opts)).await.ok()?;
    let after_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let state = docker
        .inspect_container(&c.id, None::<InspectContainerOptions>)
        .await
        .ok()?
        .state?;
    let grace_ms = u64::from(STOP_GRACE_SECS) * 1000;
    let killed = state.exit_code == Some(KILLED_EXIT) && after_ms >= grace_ms;
    Some(SigtermStop {
        instance: c.display.clone(),
        after_ms: if killed { grace_ms } else { after_ms },
        grace_ms,
        killed,
    })
}

/// Stop (measured) and remove the containers of `version` (Compose's too:
/// the version is retired).
pub(super) async fn remove_version(inner: &Arc<Inner>, version: &Version) -> Vec<String> {
    let Ok(docker) = inner.docker() else {
        return vec!["the Docker Engine is unreachable".into()];
    };
    let mut problems = Vec::new();
    let victims = by_version(inner)
        .remove(version.as_str())
        .unwrap_or_default();
    for c in victims {
        if let Some(stop) = stop_measured(&docker, &c).await {
            inner.log(Level::Info, stop.to_string());
        }
        if let Err(e) = remove(&docker, &c.id).await {
            problems.push(format!("{}: {e}", c.display));
        } else {
            inner.log(Level::Info, format!("removed {} ({version})", c.display));
        }
        // Forget it now rather than when the engine's event arrives.
        crate::docker::runtime::refresh_container(inner, &docker, &c.id).await;
    }
    problems
}

/// Whether `c` is ready and answers its ready path (when it has one).
pub(super) async fn answers(c: &ContainerView) -> bool {
    if !c.is_ready() {
        return false;
    }
    match (c.labels.get(READY_PATH_LABEL), backend(c)) {
        (Some(path), Some(addr)) => probe(addr.port(), path).await,
        _ => true,
    }
}

/// Ready and desired containers of `version`.
pub(super) async fn readiness(inner: &Inner, version: &Version) -> Readiness {
    let cs = by_version(inner)
        .remove(version.as_str())
        .unwrap_or_default();
    let mut ready = 0;
    for c in &cs {
        if answers(c).await {
            ready += 1;
        }
    }
    Readiness {
        ready,
        desired: (cs.len() as u32).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_tame() {
        assert_eq!(sanitize_name("v2.1+build/7"), "v2.1-build-7");
        assert_eq!(sanitize_name("abc1234"), "abc1234");
    }
}
