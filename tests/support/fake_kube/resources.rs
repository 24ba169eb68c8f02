//! The resource table of the fake and the discovery documents built from it
//! (`/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`),
//! in the plain (non-aggregated) discovery format.

use serde_json::{json, Value};

/// One resource type the fake serves.
#[derive(Clone, Copy, Debug)]
pub struct Res {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Subresources, e.g. `["status", "scale"]`; `log` for pods.
    pub subresources: &'static [&'static str],
    pub short_names: &'static [&'static str],
}

impl Res {
    /// `v1` or `argoproj.io/v1alpha1`.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `rollouts.argoproj.io`, as Kubernetes names a resource in
    /// error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    subresources: &'static [&'static str],
    short_names: &'static [&'static str],
) -> Res {
    Res {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced: true,
        subresources,
        short_names,
    }
}

pub const ARGO_GROUP: &str = "argoproj.io";
pub const CHAOS_GROUP: &str = "chaos-mesh.org";

/// Everything the fake knows. Argo CD's Application CRD has no status
/// subresource (its controller writes `.status` through the main resource).
pub const RESOURCES: &[Res] = &[
    Res {
        namespaced: false,
        ..res(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            &["status"],
            &["ns"],
        )
    },
    res("", "v1", "pods", "pod", "Pod", &["status", "log"], &["po"]),
    res(
        "",
        "v1",
        "services",
        "service",
        "Service",
        &["status"],
        &["svc"],
    ),
    res("", "v1", "events", "event", "Event", &[], &["ev"]),
    // What a kustomize base holds besides its workload (ephemeral
    // environments apply the seed's whole overlay).
    res(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        &[],
        &["sa"],
    ),
    res(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        &[],
        &["cm"],
    ),
    res(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        &["status"],
        &["pdb"],
    ),
    res(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        &["status"],
        &["hpa"],
    ),
    res(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        &["status", "scale"],
        &["deploy"],
    ),
    res(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        &["status", "scale"],
        &["rs"],
    ),
    res(
        ARGO_GROUP,
        "v1alpha1",
        "rollouts",
        "rollout",
        "Rollout",
        &["status", "scale"],
        &["ro"],
    ),
    res(
        ARGO_GROUP,
        "v1alpha1",
        "analysisruns",
        "analysisrun",
        "AnalysisRun",
        &["status"],
        &["ar"],
    ),
    res(
        ARGO_GROUP,
        "v1alpha1",
        "analysistemplates",
        "analysistemplate",
        "AnalysisTemplate",
        &[],
        &["at"],
    ),
    res(
        ARGO_GROUP,
        "v1alpha1",
        "experiments",
        "experiment",
        "Experiment",
        &["status"],
        &["exp"],
    ),
    res(
        ARGO_GROUP,
        "v1alpha1",
        "applications",
        "application",
        "Application",
        &[],
        &["app", "apps"],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "podchaos",
        "podchaos",
        "PodChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "networkchaos",
        "networkchaos",
        "NetworkChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "stresschaos",
        "stresschaos",
        "StressChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "iochaos",
        "iochaos",
        "IOChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "timechaos",
        "timechaos",
        "TimeChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "dnschaos",
        "dnschaos",
        "DNSChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "httpchaos",
        "httpchaos",
        "HTTPChaos",
        &["status"],
        &[],
    ),
    res(
        CHAOS_GROUP,
        "v1alpha1",
        "schedules",
        "schedule",
        "Schedule",
        &["status"],
        &[],
    ),
];

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The resources served with the given groups left out.
pub fn served<'a>(hidden: &'a [String]) -> impl Iterator<Item = &'static Res> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| !hidden.iter().any(|g| g == r.group))
}

pub fn find(hidden: &[String], group: &str, version: &str, plural: &str) -> Option<&'static Res> {
    served(hidden).find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// `GET /api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ]
    })
}

fn group_json(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

fn groups(hidden: &[String]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in served(hidden).filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// `GET /apis`.
pub fn api_group_list(hidden: &[String]) -> Value {
    let groups: Vec<Value> = groups(hidden)
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`, or `None` when the group is not served.
pub fn api_group(hidden: &[String], group: &str) -> Option<Value> {
    let (g, v) = groups(hidden).into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`, or `None`.
pub fn api_resource_list(hidden: &[String], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in served(hidden).filter(|r| r.group == group && r.version == version) {
        let mut main = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            main["shortNames"] = json!(r.short_names);
        }
        resources.push(main);
        for sub in r.subresources {
            let (kind, verbs): (&str, &[&str]) = match *sub {
                "log" => ("Pod", &["get"]),
                "scale" => ("Scale", &["get", "patch", "update"]),
                _ => (r.kind, &["get", "patch", "update"]),
            };
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if *sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}
