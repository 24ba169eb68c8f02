//! `undo [--to-revision N]` planned the way the tools do it (pure code;
//! [`super::undo_send`] reads the objects and sends the patch):
//!
//! - an Argo Rollout as `kubectl argo rollouts undo`: among the ReplicaSets
//!   the Rollout controls, the one whose `rollout.argoproj.io/revision`
//!   annotation is N (or the second newest without N); skipped when the
//!   Rollout's template already matches it (fields the Rollout leaves unset
//!   do not count); else one JSON patch `replace /spec/template` with that
//!   ReplicaSet's template minus its `rollouts-pod-template-hash` label;
//! - a Deployment as `kubectl rollout undo`: the same search on
//!   `deployment.kubernetes.io/revision`, refused while the Deployment is
//!   paused, skipped on an exact template match (ignoring the
//!   `pod-template-hash` label), and the patch also replaces
//!   `/metadata/annotations`: the Deployment keeps its own bookkeeping
//!   annotations and takes every other one from the ReplicaSet.

use serde_json::{json, Map, Value};

use super::fields::{clean, list, raw};
use super::intents::IntentRefused;

/// What is undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Rollout,
    Deployment,
}

impl Workload {
    fn revision_annotation(self) -> &'static str {
        match self {
            Workload::Rollout => "rollout.argoproj.io/revision",
            Workload::Deployment => "deployment.kubernetes.io/revision",
        }
    }

    fn hash_label(self) -> &'static str {
        match self {
            Workload::Rollout => "rollouts-pod-template-hash",
            Workload::Deployment => "pod-template-hash",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Workload::Rollout => "rollout",
            Workload::Deployment => "deployment",
        }
    }
}

/// Annotations a Deployment keeps on undo instead of taking the
/// ReplicaSet's (kubectl's list).
const DEPLOYMENT_OWN_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// What undo does.
#[derive(Clone, Debug, PartialEq)]
pub enum UndoPlan {
    /// Send this JSON patch (RFC 6902) to the workload.
    Patch {
        /// The revision restored.
        revision: i64,
        /// The ReplicaSet it comes from.
        replica_set: String,
        ops: Value,
    },
    /// The template already matches that revision: nothing to send.
    Skipped { revision: i64 },
}

fn refuse<T>(reason: String) -> Result<T, IntentRefused> {
    Err(IntentRefused { reason })
}

/// The label selector of `spec.selector`, as the ReplicaSets are listed
/// (`matchLabels` and the `matchExpressions` operators, set-based syntax).
pub fn selector(obj: &Value) -> Result<String, IntentRefused> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in list(obj, &["spec", "selector", "matchExpressions"]) {
        let key = raw(e, &["key"]).unwrap_or_default();
        let values: Vec<&str> = list(e, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match raw(e, &["operator"]) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            other => {
                let op = clean(other.unwrap_or("none"));
                return refuse(format!("undo: unknown selector operator {op}"));
            }
        });
    }
    if parts.is_empty() {
        return refuse("undo: the workload has no spec.selector to find its ReplicaSets".into());
    }
    Ok(parts.join(","))
}

/// `rs` names `owner` (by uid) as its controlling owner.
fn controlled_by(rs: &Value, owner: &Value) -> bool {
    let Some(uid) = raw(owner, &["metadata", "uid"]) else {
        return false;
    };
    list(rs, &["metadata", "ownerReferences"]).iter().any(|r| {
        r.get("controller").and_then(Value::as_bool) == Some(true) && raw(r, &["uid"]) == Some(uid)
    })
}

/// The revision annotation as the tools read it: absent is 0, garbage is
/// left out.
fn revision(rs: &Value, workload: Workload) -> Option<i64> {
    match rs
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(workload.revision_annotation()))
    {
        None => Some(0),
        Some(v) => v.as_str().and_then(|s| s.parse().ok()),
    }
}

/// The ReplicaSet to restore: revision `to` (0: the second newest).
fn pick<'a>(
    workload: Workload,
    obj: &Value,
    replica_sets: &'a [Value],
    to: i64,
) -> Result<(&'a Value, i64), IntentRefused> {
    let mut owned: Vec<(&Value, i64)> = replica_sets
        .iter()
        .filter(|rs| controlled_by(rs, obj))
        .filter_map(|rs| revision(rs, workload).map(|r| (rs, r)))
        .collect();
    if to > 0 {
        return owned
            .into_iter()
            .find(|(_, r)| *r == to)
            .ok_or_else(|| IntentRefused {
                reason: format!("undo: unable to find revision {to} in the history"),
            });
    }
    owned.sort_by_key(|(_, r)| std::cmp::Reverse(*r));
    owned.dedup_by_key(|(_, r)| *r);
    match owned.get(1) {
        Some(found) => Ok(*found),
        None => {
            let name = clean(raw(obj, &["metadata", "name"]).unwrap_or_default());
            refuse(format!(
                "undo: no earlier revision of {} \"{name}\" to go back to",
                workload.noun()
            ))
        }
    }
}

/// The pod template without the hash label the controller adds.
fn template_without_hash(template: &Value, workload: Workload) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(workload.hash_label());
    }
    t
}

/// Every field set in `a` has the same value in `b` (Go's
/// `DeepDerivative`: unset and zero values of `a` do not count).
pub fn derivative(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) => true,
        (Value::Bool(false), _) => true,
        (Value::String(s), _) if s.is_empty() => true,
        (Value::Number(n), _) if n.as_f64() == Some(0.0) => true,
        (Value::Object(m), _) if m.is_empty() => true,
        (Value::Array(x), _) if x.is_empty() => true,
        (Value::Object(m), Value::Object(n)) => m
            .iter()
            .all(|(k, v)| derivative(v, n.get(k).unwrap_or(&Value::Null))),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| derivative(p, q))
        }
        _ => a == b,
    }
}

/// Plan `undo` of `obj` (a Rollout or Deployment as read) given the
/// ReplicaSets listed with its [`selector`]; `to_revision` `None` or 0:
/// the previous revision.
pub fn plan_undo(
    workload: Workload,
    obj: &Value,
    replica_sets: &[Value],
    to_revision: Option<u32>,
) -> Result<UndoPlan, IntentRefused> {
    let to = i64::from(to_revision.unwrap_or(0));
    let (rs, rev) = pick(workload, obj, replica_sets, to)?;
    let name = clean(raw(obj, &["metadata", "name"]).unwrap_or_default());
    if workload == Workload::Deployment
        && obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
    {
        return refuse(format!(
            "undo: deployment \"{name}\" is paused; resume it first, then undo"
        ));
    }
    let restored = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let restored = template_without_hash(&restored, workload);
    let current = obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let current = template_without_hash(&current, workload);
    let same = match workload {
        Workload::Rollout => derivative(&current, &restored),
        Workload::Deployment => current == restored,
    };
    if same {
        return Ok(UndoPlan::Skipped { revision: rev });
    }
    let mut ops = vec![json!({"op": "replace", "path": "/spec/template", "value": restored})];
    if workload == Workload::Deployment {
        ops.push(json!({"op": "replace", "path": "/metadata/annotations", "value": deployment_annotations(obj, rs)}));
    }
    Ok(UndoPlan::Patch {
        revision: rev,
        replica_set: raw(rs, &["metadata", "name"])
            .unwrap_or_default()
            .to_string(),
        ops: Value::Array(ops),
    })
}

fn deployment_annotations(deployment: &Value, rs: &Value) -> Value {
    let empty = Map::new();
    let own = deployment
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let theirs = rs
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Map::new();
    for k in DEPLOYMENT_OWN_ANNOTATIONS {
        if let Some(v) = own.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in theirs {
        if !DEPLOYMENT_OWN_ANNOTATIONS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
