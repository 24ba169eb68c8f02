//! One container as blissful-infra shows it, read from `inspect`.

use std::collections::BTreeMap;

use bollard::models::{ContainerInspectResponse, HealthStatusEnum, RestartPolicyNameEnum};

use super::super::{MANAGED_LABEL, NUMBER_LABEL, READY_PATH_LABEL, SERVICE_LABEL, VERSION_LABEL};
use crate::domain::sanitize::strip_all;

/// One container as blissful-infra shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerView {
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// `service-N`, e.g. `app-1` (the name for a managed copy).
    pub display: String,
    pub service: String,
    pub image: String,
    /// `dev.blissful-infra.version` label, else `$VERSION`, else the image tag.
    pub version: String,
    pub status: String,
    pub running: bool,
    pub restarting: bool,
    pub paused: bool,
    /// `none`, `starting`, `healthy`, `unhealthy`.
    pub health: String,
    pub health_output: String,
    pub restart_count: u32,
    pub pid: Option<u32>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub restart_policy: String,
    /// (container port, protocol, host ip, host port).
    pub published: Vec<(u16, String, String, u16)>,
    pub labels: BTreeMap<String, String>,
    pub networks: Vec<String>,
}

pub(super) fn image_tag(image: &str) -> String {
    let tag = crate::domain::environment::image_tag(image);
    // A digest shows its first 12 hex digits, as `docker ps` does.
    if image.contains('@') {
        tag.chars().take(19).collect()
    } else {
        tag
    }
}

impl ContainerView {
    pub fn from_inspect(i: &ContainerInspectResponse) -> ContainerView {
        let id = i.id.clone().unwrap_or_default();
        let name = i
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let cfg = i.config.as_ref();
        let labels: BTreeMap<String, String> = cfg
            .and_then(|c| c.labels.clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default();
        // A copy blissful-infra made (canary, blue/green) belongs to the app
        // service it copies; Compose sees it under a service of its own.
        let managed = labels.get(MANAGED_LABEL).cloned();
        let service = managed
            .clone()
            .or_else(|| labels.get(SERVICE_LABEL).cloned())
            .unwrap_or_else(|| name.clone());
        let display = match labels.get(NUMBER_LABEL) {
            Some(n) if managed.is_none() => format!("{service}-{n}"),
            _ => name.clone(),
        };
        let image = cfg.and_then(|c| c.image.clone()).unwrap_or_default();
        let env_version = cfg
            .and_then(|c| c.env.as_ref())
            .and_then(|env| {
                env.iter()
                    .find_map(|e| e.strip_prefix("VERSION=").map(str::to_string))
            })
            .filter(|v| !v.is_empty());
        let version = labels
            .get(VERSION_LABEL)
            .cloned()
            .or(env_version)
            .unwrap_or_else(|| image_tag(&image));
        let display = match &managed {
            Some(app) => format!("{app}@{version}"),
            None => display,
        };
        let st = i.state.as_ref();
        let status = st
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let health = st.and_then(|s| s.health.as_ref());
        let health_status = health
            .and_then(|h| h.status)
            .filter(|s| *s != HealthStatusEnum::EMPTY)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into());
        let health_output = health
            .and_then(|h| h.log.as_ref())
            .and_then(|l| l.last())
            .and_then(|r| r.output.clone())
            .map(|o| strip_all(o.trim()))
            .unwrap_or_default();
        let mut published = Vec::new();
        if let Some(ports) = i.network_settings.as_ref().and_then(|n| n.ports.as_ref()) {
            for (key, bindings) in ports {
                let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                for b in bindings.iter().flatten() {
                    if let Some(hp) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) {
                        published.push((
                            port,
                            proto.to_string(),
                            b.host_ip.clone().unwrap_or_default(),
                            hp,
                        ));
                    }
                }
            }
        }
        // IPv4 first, then by port, so "the first published port" is stable.
        published.sort_by_key(|(p, proto, ip, hp)| (*p, proto.clone(), ip.contains(':'), *hp));
        published.dedup_by_key(|(p, proto, _, hp)| (*p, proto.clone(), *hp));
        let networks = i
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| n.keys().cloned().collect())
            .unwrap_or_default();
        ContainerView {
            id,
            name,
            display,
            service,
            image,
            version,
            running: st.and_then(|s| s.running).unwrap_or(false),
            restarting: st.and_then(|s| s.restarting).unwrap_or(false),
            paused: st.and_then(|s| s.paused).unwrap_or(false),
            status,
            health: health_status,
            health_output,
            restart_count: i.restart_count.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
            pid: st
                .and_then(|s| s.pid)
                .filter(|p| *p > 0)
                .and_then(|p| u32::try_from(p).ok()),
            exit_code: st.and_then(|s| s.exit_code),
            oom_killed: st.and_then(|s| s.oom_killed).unwrap_or(false),
            restart_policy: i
                .host_config
                .as_ref()
                .and_then(|h| h.restart_policy.as_ref())
                .and_then(|r| r.name)
                .filter(|n| *n != RestartPolicyNameEnum::EMPTY)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "no".into()),
            published,
            labels,
            networks,
        }
    }

    /// First published TCP host port (for a container port, if given).
    pub fn host_port(&self, container_port: Option<u16>) -> Option<u16> {
        self.published
            .iter()
            .filter(|(_, proto, _, _)| proto == "tcp")
            .find(|(p, _, _, _)| container_port.is_none_or(|c| c == *p))
            .map(|(_, _, _, hp)| *hp)
    }

    /// Running, not restarting, and healthy (or without a healthcheck).
    pub fn is_ready(&self) -> bool {
        self.running && !self.restarting && (self.health == "none" || self.health == "healthy")
    }

    pub(super) fn exit_text(&self) -> String {
        let mut s = match self.exit_code {
            Some(c) => format!("exited with code {c}"),
            None => "exited".into(),
        };
        if self.oom_killed {
            s.push_str(" (OOM killed)");
        }
        s
    }
}

/// Where a service is reached from the host.
pub(super) fn urls(view: &ContainerView) -> Vec<String> {
    let http = view.labels.contains_key(READY_PATH_LABEL);
    view.published
        .iter()
        .filter(|(_, proto, ip, _)| proto == "tcp" && !ip.contains(':'))
        .map(|(_, _, ip, hp)| {
            let host = if ip.is_empty() || ip == "0.0.0.0" {
                "127.0.0.1"
            } else {
                ip.as_str()
            };
            if http {
                format!("http://{host}:{hp}")
            } else {
                format!("{host}:{hp}")
            }
        })
        .collect()
}
