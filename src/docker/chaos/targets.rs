//! Which containers a Docker fault acts on.

use crate::docker::lifecycle::ContainerView;
use crate::docker::runtime::Inner;
use crate::docker::{MANAGED_LABEL, ROLE_LABEL};
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::RuntimeError;

/// Service names taken as the database or the broker when no container
/// carries the `dev.blissful-infra.role` label.
fn role_names(role: &str) -> &'static [&'static str] {
    match role {
        "db" => &[
            "db",
            "database",
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
            "mongo",
            "mongodb",
        ],
        "kafka" => &["kafka", "broker", "redpanda"],
        _ => &[],
    }
}

fn dependency_role(scenario: ScenarioKind) -> Option<&'static str> {
    match scenario {
        ScenarioKind::DbDown | ScenarioKind::DbLatency => Some("db"),
        ScenarioKind::KafkaDown => Some("kafka"),
        _ => None,
    }
}

/// The running containers of a dependency (`db`, `kafka`): the named target,
/// else those labelled with the role, else those with a well-known name.
fn dependency(
    all: Vec<ContainerView>,
    role: &str,
    target: &str,
) -> Result<Vec<ContainerView>, RuntimeError> {
    let picked: Vec<ContainerView> = if !target.is_empty() {
        all.into_iter().filter(|c| c.service == target).collect()
    } else {
        let labelled: Vec<ContainerView> = all
            .iter()
            .filter(|c| c.labels.get(ROLE_LABEL).map(String::as_str) == Some(role))
            .cloned()
            .collect();
        if labelled.is_empty() {
            all.into_iter()
                .filter(|c| role_names(role).contains(&c.service.as_str()))
                .collect()
        } else {
            labelled
        }
    };
    let running: Vec<ContainerView> = picked.into_iter().filter(|c| c.running).collect();
    if running.is_empty() {
        return Err(RuntimeError::Refused(format!(
            "no running {role} container (label a service `{ROLE_LABEL}: {role}`, or pass a target)"
        )));
    }
    Ok(running)
}

/// Every running dependency container: the named target, else those
/// carrying the role label (any role), else those with a well-known name.
fn any_dependency(
    all: Vec<ContainerView>,
    target: &str,
) -> Result<Vec<ContainerView>, RuntimeError> {
    let picked: Vec<ContainerView> = if !target.is_empty() {
        all.into_iter().filter(|c| c.service == target).collect()
    } else {
        let labelled: Vec<ContainerView> = all
            .iter()
            .filter(|c| c.labels.contains_key(ROLE_LABEL))
            .cloned()
            .collect();
        if labelled.is_empty() {
            all.into_iter()
                .filter(|c| {
                    ["db", "kafka"]
                        .iter()
                        .any(|r| role_names(r).contains(&c.service.as_str()))
                })
                .collect()
        } else {
            labelled
        }
    };
    let running: Vec<ContainerView> = picked.into_iter().filter(|c| c.running).collect();
    if running.is_empty() {
        let what = if target.is_empty() {
            format!(
                "dependency container (label a service `{ROLE_LABEL}: <role>`, or pass a target)"
            )
        } else {
            format!("container of service `{target}`")
        };
        return Err(RuntimeError::Refused(format!("no running {what}")));
    }
    Ok(running)
}

/// Containers a fault acts on (never empty).
pub(super) fn targets(
    inner: &Inner,
    scenario: ScenarioKind,
    params: &FaultParams,
) -> Result<Vec<ContainerView>, RuntimeError> {
    let all = inner.containers();
    if scenario == ScenarioKind::DependencyTimeout {
        return any_dependency(all, &params.target);
    }
    if let Some(role) = dependency_role(scenario) {
        return dependency(all, role, &params.target);
    }
    let service = if params.target.is_empty() {
        inner.opts.config.docker.app_service.clone()
    } else {
        params.target.clone()
    };
    // Prefer the stable (Compose-managed) container; a canary only when asked by name.
    let mut candidates: Vec<ContainerView> = all
        .into_iter()
        .filter(|c| c.running && (c.service == service || c.display == service))
        .collect();
    candidates.sort_by_key(|c| (c.labels.contains_key(MANAGED_LABEL), c.display.clone()));
    candidates
        .into_iter()
        .next()
        .map(|c| vec![c])
        .ok_or_else(|| {
            RuntimeError::Refused(format!("no running container of service `{service}`"))
        })
}
