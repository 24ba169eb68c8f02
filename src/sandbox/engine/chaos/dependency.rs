//! Dependency faults in the sandbox: which of an environment's dependency
//! proxies a scenario acts on, the proxy fault it sets, and how faults on
//! the same dependency combine (the worst of each, as router faults do).

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::fault_proxy::ProxyFault;
use crate::runtime::RuntimeError;
use crate::sandbox::dependencies::{Dependencies, Dependency, DependencyKind};

/// A proxy fault in force on some of an environment's dependencies.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProxyTarget {
    /// The variables of the dependencies it acts on.
    pub vars: Vec<String>,
    pub fault: ProxyFault,
}

/// The proxy fault of a dependency scenario; None for the others.
pub(crate) fn proxy_fault_of(scenario: ScenarioKind, p: &FaultParams) -> Option<ProxyFault> {
    let base = ProxyFault::default();
    match scenario {
        ScenarioKind::DbLatency => Some(ProxyFault {
            latency_ms: p.latency_ms,
            ..base
        }),
        ScenarioKind::DbDown | ScenarioKind::KafkaDown => Some(ProxyFault {
            refuse: true,
            ..base
        }),
        ScenarioKind::DependencyTimeout => Some(ProxyFault { hang: true, ..base }),
        _ => None,
    }
}

/// The kind a scenario needs; None: any dependency (or the one `target` names).
fn needed_kind(scenario: ScenarioKind) -> Option<DependencyKind> {
    match scenario {
        ScenarioKind::DbLatency | ScenarioKind::DbDown => Some(DependencyKind::Database),
        ScenarioKind::KafkaDown => Some(DependencyKind::Kafka),
        _ => None,
    }
}

/// The dependencies `scenario` acts on, or the refusal naming what was
/// looked for. `target` (a variable, or `database`/`kafka`/`redis`) narrows
/// dependency-timeout; empty means every dependency.
pub(crate) fn chosen<'a>(
    deps: &'a Dependencies,
    looked_for: &[String],
    scenario: ScenarioKind,
    target: &str,
) -> Result<Vec<&'a Dependency>, RuntimeError> {
    let kind = needed_kind(scenario);
    let picked: Vec<&Dependency> = deps
        .found
        .iter()
        .filter(|d| kind.is_none_or(|k| d.kind == k))
        .filter(|d| kind.is_some() || target.is_empty() || d.is_named(target))
        .collect();
    if !picked.is_empty() {
        return Ok(picked);
    }
    let wanted = match kind {
        Some(k) => format!("a {}", k.name()),
        None if !target.is_empty() => format!("a dependency named `{target}`"),
        None => "a dependency".to_string(),
    };
    let searched: Vec<&str> = match kind {
        Some(k) => crate::sandbox::dependencies::WELL_KNOWN
            .iter()
            .filter(|(_, wk)| *wk == k)
            .map(|(v, _)| *v)
            .collect(),
        None => looked_for.iter().map(String::as_str).collect(),
    };
    let mut why = format!(
        "{scenario} needs {wanted} to put its fault proxy in front of, and none was found: looked for {} in service.env and the sandbox's environment",
        searched.join(", ")
    );
    if !deps.found.is_empty() {
        let have: Vec<String> = deps.found.iter().map(Dependency::display).collect();
        why.push_str(&format!(" (proxied: {})", have.join(", ")));
    }
    for s in deps
        .skipped
        .iter()
        .filter(|s| searched.iter().any(|v| s.starts_with(v)))
    {
        why.push_str(&format!("; {s}"));
    }
    Err(RuntimeError::Refused(why))
}

/// Set every dependency's proxy to the worst of the faults on it.
pub(crate) fn apply_faults<'a>(
    deps: &Dependencies,
    faults: impl Iterator<Item = &'a ProxyTarget> + Clone,
) {
    for d in &deps.found {
        let merged = faults
            .clone()
            .filter(|t| t.vars.contains(&d.var))
            .fold(ProxyFault::default(), |acc, t| acc.merge(&t.fault));
        d.set_fault(&merged);
    }
}

#[cfg(test)]
mod tests;
