//! Chaos Mesh resources for each chaos scenario (pure code): which kind,
//! which action, which pods, for how long. Every resource is named after
//! its fault (`blissful-<id>`), labelled as blissful-infra's, and carries a
//! `duration`, so Chaos Mesh ends it even when blissful-infra is gone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::Support;

/// The API group and version of every Chaos Mesh resource made here.
pub const GROUP: &str = "chaos-mesh.org";
pub const VERSION: &str = "v1alpha1";
/// The label that marks a resource as blissful-infra's.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "blissful-infra";
/// The label holding the fault id.
pub const FAULT_LABEL: &str = "blissful-infra.io/fault";

/// The Chaos Mesh kinds blissful-infra creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChaosKind {
    PodChaos,
    NetworkChaos,
    StressChaos,
    #[serde(rename = "DNSChaos")]
    DnsChaos,
    #[serde(rename = "HTTPChaos")]
    HttpChaos,
}

impl ChaosKind {
    /// Every kind blissful-infra makes.
    pub const ALL: [ChaosKind; 5] = [
        ChaosKind::PodChaos,
        ChaosKind::NetworkChaos,
        ChaosKind::StressChaos,
        ChaosKind::DnsChaos,
        ChaosKind::HttpChaos,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChaosKind::PodChaos => "PodChaos",
            ChaosKind::NetworkChaos => "NetworkChaos",
            ChaosKind::StressChaos => "StressChaos",
            ChaosKind::DnsChaos => "DNSChaos",
            ChaosKind::HttpChaos => "HTTPChaos",
        }
    }

    /// The resource name in URLs and RBAC rules.
    pub fn plural(self) -> &'static str {
        match self {
            ChaosKind::PodChaos => "podchaos",
            ChaosKind::NetworkChaos => "networkchaos",
            ChaosKind::StressChaos => "stresschaos",
            ChaosKind::DnsChaos => "dnschaos",
            ChaosKind::HttpChaos => "httpchaos",
        }
    }
}

/// The service's pods, as read from its Rollout (or Deployment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    /// `rollout/web` or `deployment/web`, for messages.
    pub display: String,
    /// `spec.selector.matchLabels`.
    pub labels: BTreeMap<String, String>,
    /// The first container port of its pod template, if it declares one.
    pub port: Option<u16>,
}

/// One resource to create.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub kind: ChaosKind,
    pub name: String,
    pub namespace: String,
    /// The whole object, as sent.
    pub body: Value,
}

/// Whether Chaos Mesh can make `kind`; the reason when it cannot. The
/// dependency scenarios also need `kubernetes.dependencies` (checked when
/// the fault is prepared).
pub fn support(kind: ScenarioKind) -> Support {
    match kind {
        ScenarioKind::PodKill
        | ScenarioKind::NetworkLatency
        | ScenarioKind::NetworkPartition
        | ScenarioKind::PacketLoss
        | ScenarioKind::CpuStress
        | ScenarioKind::MemoryPressure
        | ScenarioKind::DnsFailure
        | ScenarioKind::ErrorInjection
        | ScenarioKind::ConnectionDrop
        | ScenarioKind::DbLatency
        | ScenarioKind::DbDown
        | ScenarioKind::KafkaDown
        | ScenarioKind::DependencyTimeout => Support::Yes,
    }
}

/// The dependency a scenario acts on (`None`: the one `target` names, or all).
pub fn dependency_role(kind: ScenarioKind) -> Option<&'static str> {
    match kind {
        ScenarioKind::DbLatency | ScenarioKind::DbDown => Some("database"),
        ScenarioKind::KafkaDown => Some("kafka"),
        _ => None,
    }
}

/// Whether `kind` acts on a dependency's pods.
pub fn is_dependency(kind: ScenarioKind) -> bool {
    matches!(
        kind,
        ScenarioKind::DbLatency
            | ScenarioKind::DbDown
            | ScenarioKind::KafkaDown
            | ScenarioKind::DependencyTimeout
    )
}

/// Why a dependency scenario cannot run with `deps` configured, or `None`.
pub fn dependency_refusal(
    kind: ScenarioKind,
    deps: &BTreeMap<String, BTreeMap<String, String>>,
    target: &str,
) -> Option<String> {
    if !is_dependency(kind) {
        return None;
    }
    let wanted = dependency_role(kind).or(Some(target).filter(|t| !t.is_empty()));
    let have = || {
        if deps.is_empty() {
            "none is configured".to_string()
        } else {
            format!(
                "configured: {}",
                deps.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
    };
    match wanted {
        Some(w) if !deps.contains_key(w) => Some(format!(
            "{kind} on Kubernetes needs the labels of the {w} pods: set \
             kubernetes.dependencies.{w} (e.g. {{app: {w}}}) in blissful-infra.yaml ({})",
            have()
        )),
        None if deps.is_empty() => Some(format!(
            "{kind} on Kubernetes needs the labels of the dependency pods: set \
             kubernetes.dependencies (e.g. database: {{app: postgres}}) in blissful-infra.yaml"
        )),
        _ => None,
    }
}

/// `name` may be part of a resource name (a DNS label).
fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn selector(namespace: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({ "namespaces": [namespace], "labelSelectors": labels })
}

/// The resource name of fault `id` (and of its dependency `dep`).
pub fn resource_name(id: &str, dep: Option<&str>) -> String {
    match dep {
        Some(d) => format!("blissful-{id}-{d}"),
        None => format!("blissful-{id}"),
    }
}

fn percent(rate: f64) -> String {
    format!("{}", (rate * 100.0).round().clamp(1.0, 100.0) as u32)
}

/// The `spec` of a fault on the service's own pods.
fn service_spec(
    kind: ScenarioKind,
    p: &FaultParams,
    w: &Workload,
) -> Result<(ChaosKind, Value), String> {
    let sel = selector(&w.namespace, &w.labels);
    let port = || {
        w.port.ok_or_else(|| {
            format!(
                "{kind} on Kubernetes is an HTTPChaos on the service's port, and {} declares no \
                 containerPort in its pod template",
                w.display
            )
        })
    };
    Ok(match kind {
        ScenarioKind::PodKill => (
            ChaosKind::PodChaos,
            json!({"action": "pod-kill", "mode": "one", "selector": sel}),
        ),
        ScenarioKind::NetworkLatency => (
            ChaosKind::NetworkChaos,
            json!({"action": "delay", "mode": "all", "selector": sel,
                   "delay": {"latency": format!("{}ms", p.latency_ms)}}),
        ),
        ScenarioKind::NetworkPartition => (
            ChaosKind::NetworkChaos,
            json!({"action": "loss", "mode": "all", "selector": sel,
                   "loss": {"loss": percent(p.rate)}}),
        ),
        ScenarioKind::PacketLoss => (
            ChaosKind::NetworkChaos,
            json!({"action": "loss", "mode": "all", "selector": sel,
                   "loss": {"loss": percent(p.rate)}}),
        ),
        ScenarioKind::CpuStress => (
            ChaosKind::StressChaos,
            json!({"mode": "all", "selector": sel,
                   "stressors": {"cpu": {"workers": p.cpu_workers, "load": 100}}}),
        ),
        ScenarioKind::MemoryPressure => (
            ChaosKind::StressChaos,
            json!({"mode": "all", "selector": sel,
                   "stressors": {"memory": {"workers": 1, "size": format!("{}MiB", p.memory_mib)}}}),
        ),
        ScenarioKind::DnsFailure => (
            ChaosKind::DnsChaos,
            json!({"action": "error", "mode": "all", "selector": sel}),
        ),
        ScenarioKind::ErrorInjection => (
            ChaosKind::HttpChaos,
            json!({"mode": "all", "selector": sel, "target": "Response", "port": port()?,
                   "path": "*", "replace": {"code": 503}}),
        ),
        ScenarioKind::ConnectionDrop => (
            ChaosKind::HttpChaos,
            json!({"mode": "all", "selector": sel, "target": "Request", "port": port()?,
                   "path": "*", "abort": true}),
        ),
        other => return Err(format!("{other} is not a fault on the service's own pods")),
    })
}

/// The `spec` of a fault between the service and the dependency `dep`.
fn dependency_spec(
    kind: ScenarioKind,
    p: &FaultParams,
    w: &Workload,
    dep: &BTreeMap<String, String>,
) -> Result<(ChaosKind, Value), String> {
    let to_dep = json!({"mode": "all", "selector": selector(&w.namespace, dep)});
    let service = selector(&w.namespace, &w.labels);
    Ok(match kind {
        ScenarioKind::DbLatency => (
            ChaosKind::NetworkChaos,
            json!({"action": "delay", "mode": "all", "selector": service, "direction": "to",
                   "target": to_dep, "delay": {"latency": format!("{}ms", p.latency_ms)}}),
        ),
        ScenarioKind::DependencyTimeout => (
            ChaosKind::NetworkChaos,
            json!({"action": "loss", "mode": "all", "selector": service, "direction": "to",
                   "target": to_dep, "loss": {"loss": "100"}}),
        ),
        ScenarioKind::DbDown | ScenarioKind::KafkaDown => (
            ChaosKind::PodChaos,
            json!({"action": "pod-failure", "mode": "all",
                   "selector": selector(&w.namespace, dep)}),
        ),
        other => return Err(format!("{other} is not a dependency fault")),
    })
}

fn manifest(
    id: &str,
    dep: Option<&str>,
    namespace: &str,
    (kind, mut spec): (ChaosKind, Value),
    duration_secs: u64,
) -> Manifest {
    spec["duration"] = json!(format!("{duration_secs}s"));
    let name = resource_name(id, dep);
    let body = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": kind.name(),
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { MANAGED_BY: MANAGER, FAULT_LABEL: id },
        },
        "spec": spec,
    });
    Manifest {
        kind,
        name,
        namespace: namespace.to_string(),
        body,
    }
}

/// The resources fault `id` of `kind` creates, or why it cannot be made.
pub fn manifests(
    id: &str,
    kind: ScenarioKind,
    p: &FaultParams,
    w: &Workload,
    deps: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<Manifest>, String> {
    if let Support::No(why) = support(kind) {
        return Err(why);
    }
    if w.labels.is_empty() {
        return Err(format!(
            "{} has no spec.selector.matchLabels to find its pods by",
            w.display
        ));
    }
    if !is_dependency(kind) {
        let spec = service_spec(kind, p, w)?;
        return Ok(vec![manifest(
            id,
            None,
            &w.namespace,
            spec,
            p.duration_secs,
        )]);
    }
    if let Some(why) = dependency_refusal(kind, deps, &p.target) {
        return Err(why);
    }
    let chosen: Vec<(&String, &BTreeMap<String, String>)> =
        match dependency_role(kind).or(Some(p.target.as_str()).filter(|t| !t.is_empty())) {
            Some(one) => deps.iter().filter(|(n, _)| n.as_str() == one).collect(),
            None => deps.iter().collect(),
        };
    let mut out = Vec::new();
    for (name, labels) in chosen {
        if !dns_label(name) {
            return Err(format!(
                "kubernetes.dependencies key `{name}` must be lowercase letters, digits and '-' \
                 (it becomes part of a resource name)"
            ));
        }
        if labels.is_empty() {
            return Err(format!("kubernetes.dependencies.{name} names no label"));
        }
        let spec = dependency_spec(kind, p, w, labels)?;
        let dep = (chosen_len_gt_one(deps, kind, &p.target)).then_some(name.as_str());
        out.push(manifest(id, dep, &w.namespace, spec, p.duration_secs));
    }
    Ok(out)
}

/// Several resources (one per dependency) are named after their dependency.
fn chosen_len_gt_one(
    deps: &BTreeMap<String, BTreeMap<String, String>>,
    kind: ScenarioKind,
    target: &str,
) -> bool {
    dependency_role(kind).is_none() && target.is_empty() && deps.len() > 1
}

/// One line saying what the resources do, for the log and the CLI.
pub fn describe(kind: ScenarioKind, made: &[Manifest], p: &FaultParams) -> String {
    let names: Vec<String> = made
        .iter()
        .map(|m| format!("{}/{} in {}", m.kind.name(), m.name, m.namespace))
        .collect();
    let mut line = format!("created {}", names.join(", "));
    if matches!(
        kind,
        ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop
    ) {
        line.push_str(&format!(
            " (every request to the service's pods; HTTPChaos has no per-request share, so rate {} is not applied)",
            p.rate
        ));
    }
    line
}

#[cfg(test)]
mod tests;
