//! `kubernetes:` in blissful-infra.yaml, read with `runtime: kubernetes`:
//! which cluster (kubeconfig context, or a plain API server URL), and where
//! each environment's Argo Rollout lives, and where its service answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `kubernetes.ephemeral_ttl` when the config does not set it.
pub const DEFAULT_EPHEMERAL_TTL: &str = "24h";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// kubeconfig context; empty: the kubeconfig's current context. The
    /// global `--context` flag overrides it.
    pub context: String,
    /// An API server URL used instead of the kubeconfig, without
    /// authentication (e.g. `kubectl proxy` on `http://127.0.0.1:8001`).
    pub server: String,
    /// Environment -> namespace. An environment not listed here uses the
    /// `namespace:` of its overlay (`<overlays>/<env>/kustomization.yaml`),
    /// else `<project>-<env>`.
    pub namespaces: BTreeMap<String, String>,
    /// Name of the Argo Rollout in each namespace; empty: the project name.
    pub rollout: String,
    /// Environment -> Rollout name, where one differs from `rollout`.
    pub rollouts: BTreeMap<String, String>,
    /// The kustomize overlays, one folder per environment, relative to the
    /// config file (the seed layout: `k8s/overlays/{local,staging,production}`).
    pub overlays: String,
    /// Dependency -> the labels of its pods (`database: {app: postgres}`),
    /// for the dependency chaos scenarios (Chaos Mesh): db-latency and
    /// db-down act on `database`, kafka-down on `kafka`, dependency-timeout
    /// on the one its `target` names (every one when empty).
    pub dependencies: BTreeMap<String, BTreeMap<String, String>>,
    /// Environment -> `host:port` where its service answers from this
    /// machine (an ingress, a NodePort, or `kubectl port-forward
    /// svc/<name> 8080:80`): the environment's router address, where the
    /// load generator (`perf --env`, `chaos --load`) sends its requests.
    pub addresses: BTreeMap<String, String>,
    /// How long an ephemeral environment (`up --ephemeral NAME`) is meant
    /// to live when `--ttl` is not given: `24h`, `90m`, `2d` (1m to 30d).
    pub ephemeral_ttl: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            context: String::new(),
            server: String::new(),
            namespaces: BTreeMap::new(),
            rollout: String::new(),
            rollouts: BTreeMap::new(),
            overlays: "k8s/overlays".into(),
            dependencies: BTreeMap::new(),
            addresses: BTreeMap::new(),
            ephemeral_ttl: DEFAULT_EPHEMERAL_TTL.into(),
        }
    }
}
