//! The one environment's status: instances from containers, health from
//! the rollout (progressing, paused, aborted) or else from the containers.

use super::*;

impl Inner {
    pub(crate) fn env_status(&self) -> EnvironmentStatus {
        let d = self.delivery.snapshot();
        let st = self.state();
        let app = &self.opts.config.docker.app_service;
        let now = now_ms();
        let mut instances: Vec<InstanceStatus> = st
            .containers
            .values()
            .map(|c| InstanceStatus {
                id: c.display.clone(),
                version: Version::new(c.version.clone()),
                phase: phase_of(c, now),
                restarts: c.restart_count,
                detail: InstanceDetail::Container {
                    id: c.id.clone(),
                    host_port: c.host_port(None),
                    pid: c.pid,
                },
            })
            .collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        let app_containers: Vec<&ContainerView> = st
            .containers
            .values()
            .filter(|c| c.service == *app && !c.labels.contains_key(MANAGED_LABEL))
            .collect();
        let stable = d.stable.clone().or_else(|| {
            app_containers
                .iter()
                .find(|c| c.running)
                .or(app_containers.first())
                .map(|c| Version::new(c.version.clone()))
        });
        let health = match &st.source {
            Some(SourceState::Degraded(r)) => {
                Health::Degraded(format!("Docker Engine unreachable (last known state): {r}"))
            }
            None | Some(SourceState::Connecting) if !st.synced => Health::Unknown,
            _ => d
                .view
                .health()
                .unwrap_or_else(|| health_of(st.containers.values(), &st.faults)),
        };
        let router_addr = match &d.router_addr {
            Some(a) => a.clone(),
            None => app_containers
                .iter()
                .find_map(|c| c.host_port(None))
                .map(|p| format!("127.0.0.1:{p}"))
                .unwrap_or_default(),
        };
        EnvironmentStatus {
            name: ENV_NAME.into(),
            traffic: TrafficSplit {
                stable,
                canary: d.canary.clone(),
                canary_weight: d.weight,
            },
            previous: d.previous.clone(),
            step: d.step,
            health,
            instances,
            replicas: app_containers.len().max(1) as u32,
            last_change: st.last_change.max(d.last_change),
            router_addr,
            metrics_addr: d.metrics_addr.clone().unwrap_or_default(),
            faults: st.faults.clone(),
            revisions: d.view.revisions.clone(),
            observed: None,
        }
    }
}

fn phase_of(c: &ContainerView, now: EpochMillis) -> InstancePhase {
    if c.restarting {
        InstancePhase::BackingOff {
            exit_code: c.exit_code.and_then(|e| i32::try_from(e).ok()),
            restart_at: now,
        }
    } else if c.running && !c.paused {
        match c.health.as_str() {
            "starting" | "unhealthy" => InstancePhase::Starting,
            _ => InstancePhase::Ready,
        }
    } else {
        InstancePhase::Stopped
    }
}

fn health_of<'a>(
    containers: impl Iterator<Item = &'a ContainerView>,
    faults: &[ActiveFault],
) -> Health {
    let mut total = 0;
    let mut ready = 0;
    let mut problems = Vec::new();
    let mut starting = Vec::new();
    for c in containers {
        total += 1;
        if c.is_ready() && !c.paused {
            ready += 1;
            continue;
        }
        if c.health == "starting" && c.running {
            starting.push(format!("{} starting", c.display));
        } else if c.restarting {
            problems.push(format!(
                "{} restarting ({} restarts)",
                c.display, c.restart_count
            ));
        } else if c.health == "unhealthy" {
            problems.push(format!("{} unhealthy", c.display));
        } else if c.paused {
            problems.push(format!("{} paused", c.display));
        } else {
            let oom = if c.oom_killed { ", OOM killed" } else { "" };
            problems.push(format!("{} {}{oom}", c.display, c.status));
        }
    }
    if total == 0 {
        return Health::Down("no containers (is the project up?)".into());
    }
    if ready == 0 && starting.is_empty() {
        return Health::Down(problems.join(", "));
    }
    if !problems.is_empty() {
        return Health::Degraded(problems.join(", "));
    }
    if !faults.is_empty() {
        let names: Vec<&str> = faults.iter().map(|f| f.scenario.as_str()).collect();
        return Health::Degraded(format!("chaos: {}", names.join(", ")));
    }
    if !starting.is_empty() {
        return Health::Progressing(starting.join(", "));
    }
    Health::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(display: &str, status: &str, health: &str) -> ContainerView {
        ContainerView {
            id: display.into(),
            name: display.into(),
            display: display.into(),
            service: display.into(),
            image: "i".into(),
            version: "v1".into(),
            status: status.into(),
            running: status == "running",
            restarting: status == "restarting",
            paused: false,
            health: health.into(),
            health_output: String::new(),
            restart_count: 0,
            pid: None,
            exit_code: Some(137),
            oom_killed: false,
            restart_policy: "always".into(),
            published: vec![],
            labels: BTreeMap::new(),
            networks: vec![],
        }
    }

    #[test]
    fn health_of_the_project() {
        let ok = [
            view("app-1", "running", "healthy"),
            view("db-1", "running", "none"),
        ];
        assert_eq!(health_of(ok.iter(), &[]), Health::Healthy);
        let fault = ActiveFault {
            id: "x".into(),
            scenario: "db-down".into(),
            ends_at: 0,
        };
        assert!(
            matches!(health_of(ok.iter(), &[fault]), Health::Degraded(r) if r.contains("db-down"))
        );
        let bad = [
            view("app-1", "running", "healthy"),
            view("db-1", "exited", "none"),
        ];
        assert!(
            matches!(health_of(bad.iter(), &[]), Health::Degraded(r) if r.contains("db-1 exited"))
        );
        let starting = [view("app-1", "running", "starting")];
        assert!(matches!(
            health_of(starting.iter(), &[]),
            Health::Progressing(_)
        ));
        let down = [view("app-1", "restarting", "none")];
        assert!(matches!(health_of(down.iter(), &[]), Health::Down(r) if r.contains("restarting")));
        assert!(matches!(health_of([].iter(), &[]), Health::Down(_)));
    }
}
