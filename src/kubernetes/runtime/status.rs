//! An environment's common status from what the watches of its namespace
//! hold: its Rollout (phase, step, weights), the Rollout's ReplicaSets
//! (images) and pods (instances). Pure: the store is plain JSON objects.

use std::collections::BTreeMap;

use serde_json::Value;

use super::pods::{first_image, owned_by_rollout, owner_replicaset, pod_instance, HASH_LABEL};
use super::settings::EnvTarget;
use crate::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};
use crate::domain::observed::{ObservedRollout, ReplicaSetInfo};
use crate::domain::EpochMillis;
use crate::kubernetes::analysis::SOURCE;
use crate::kubernetes::fields::{at, count, raw};
use crate::kubernetes::rollout::{image_tag, rollout_view, RolloutView};

/// The objects of one namespace, by kind and name, as last seen.
#[derive(Clone, Debug, Default)]
pub struct NamespaceStore {
    pub rollouts: BTreeMap<String, Value>,
    pub replicasets: BTreeMap<String, Value>,
    pub pods: BTreeMap<String, Value>,
    pub runs: BTreeMap<String, Value>,
    /// The Rollouts have been listed at least once.
    pub rollouts_synced: bool,
    /// Why the Rollouts cannot be read now (the watch is degraded).
    pub problem: Option<String>,
}

impl NamespaceStore {
    /// The ReplicaSets the Rollout `name` controls.
    pub fn replicasets_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> {
        self.replicasets
            .values()
            .filter(move |rs| owned_by_rollout(rs, name))
    }

    /// The pods of the Rollout `name` (through its ReplicaSets).
    pub fn pods_of(&self, name: &str) -> Vec<&Value> {
        let sets: Vec<&str> = self
            .replicasets_of(name)
            .filter_map(|rs| raw(rs, &["metadata", "name"]))
            .collect();
        self.pods
            .values()
            .filter(|p| owner_replicaset(p).is_some_and(|rs| sets.contains(&rs)))
            .collect()
    }

    /// The newest AnalysisRun of the Rollout `name`.
    pub fn latest_run(&self, name: &str) -> Option<&Value> {
        self.runs
            .values()
            .filter(|r| owned_by_rollout(r, name))
            .max_by_key(|r| raw(r, &["metadata", "creationTimestamp"]).unwrap_or_default())
    }
}

fn replicaset_info(store: &NamespaceStore, rollout: &str, hash: &str) -> ReplicaSetInfo {
    let rs = store
        .replicasets_of(rollout)
        .find(|rs| raw(rs, &["metadata", "labels", HASH_LABEL]) == Some(hash));
    let n = |key| rs.and_then(|r| count(r, &["status", key])).unwrap_or(0);
    ReplicaSetInfo {
        hash: crate::kubernetes::fields::clean(hash),
        image: rs.and_then(|r| at(r, &["spec", "template", "spec"]).and_then(first_image)),
        ready: n("readyReplicas"),
        replicas: n("replicas"),
    }
}

/// A version from a ReplicaSet: its image tag, else its hash.
fn version_of(rs: &ReplicaSetInfo) -> Version {
    Version(rs.image.as_deref().map_or(rs.hash.clone(), image_tag))
}

fn observed(
    target: &EnvTarget,
    view: &RolloutView,
    store: &NamespaceStore,
) -> (ObservedRollout, TrafficSplit) {
    let stable = view
        .stable_hash
        .as_deref()
        .map(|h| replicaset_info(store, &target.rollout, h));
    let canary = view
        .canary_hash
        .as_deref()
        .filter(|_| !view.is_promoted())
        .map(|h| replicaset_info(store, &target.rollout, h));
    let mut traffic = view.traffic();
    // The ReplicaSets know the stable image, which the Rollout does not say.
    if let (Some(rs), false) = (&stable, view.blue_green.is_some()) {
        traffic.stable = Some(version_of(rs));
    }
    let o = ObservedRollout {
        controller: SOURCE.to_string(),
        object: format!("rollout {} in {}", target.rollout, target.namespace),
        set_weight: view.set_weight,
        actual_weight: view.actual_weight,
        stable,
        canary,
        ready: view.ready_replicas,
        desired: view.desired_replicas.unwrap_or(1),
        stale: store.problem.clone(),
    };
    (o, traffic)
}

/// The status of `target` from its namespace's objects; `last_change` is
/// when any of them last changed.
pub fn environment_status(
    target: &EnvTarget,
    store: &NamespaceStore,
    last_change: EpochMillis,
) -> EnvironmentStatus {
    let mut env = EnvironmentStatus {
        name: target.env.clone(),
        traffic: TrafficSplit {
            stable: None,
            canary: None,
            canary_weight: 0,
        },
        previous: None,
        step: None,
        health: Health::Unknown,
        instances: Vec::new(),
        replicas: 0,
        last_change,
        // Where the service answers from here (`kubernetes.addresses`).
        router_addr: target.address.clone(),
        metrics_addr: String::new(),
        faults: Vec::new(),
        revisions: Vec::new(),
        observed: None,
    };
    let Some(obj) = store.rollouts.get(&target.rollout) else {
        env.health = match (&store.problem, store.rollouts_synced) {
            (Some(p), _) => Health::Down(p.clone()),
            (None, true) => Health::Down(format!(
                "no Rollout \"{}\" in namespace {}: check kubernetes.rollout(s) and kubernetes.namespaces in blissful-infra.yaml",
                target.rollout, target.namespace
            )),
            (None, false) => Health::Unknown,
        };
        return env;
    };
    let view = rollout_view(obj);
    view.apply_to(&mut env);
    let (o, traffic) = observed(target, &view, store);
    env.traffic = traffic;
    env.instances = store
        .pods_of(&target.rollout)
        .into_iter()
        .map(pod_instance)
        .collect();
    env.instances.sort_by(|a, b| a.id.cmp(&b.id));
    env.observed = Some(o);
    env
}

#[cfg(test)]
mod tests;
