//! Where each environment's Argo Rollout lives, where its service answers,
//! and how to reach the cluster, from `blissful-infra.yaml` (`kubernetes:`)
//! and `--context`.

use std::path::Path;

use serde_json::Value;

use crate::config::Config;
use crate::kubernetes::connect::Target;

/// One environment as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvTarget {
    pub env: String,
    pub namespace: String,
    /// The name of its Argo Rollout.
    pub rollout: String,
    /// `kubernetes.addresses.<env>`: where its service answers from this
    /// machine (`host:port`); empty when not configured.
    pub address: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSettings {
    pub target: Target,
    /// In the config's order.
    pub envs: Vec<EnvTarget>,
}

impl KubeSettings {
    /// Read the config; `context` is `--context`, which wins over
    /// `kubernetes.context` and `kubernetes.server`.
    pub fn from_config(config: &Config, config_dir: &Path, context: Option<&str>) -> Self {
        let k = &config.kubernetes;
        let target = match context.filter(|c| !c.is_empty()) {
            Some(c) => Target::Kubeconfig {
                context: Some(c.to_string()),
            },
            None if !k.server.is_empty() => Target::Url(k.server.clone()),
            None => Target::Kubeconfig {
                context: Some(k.context.clone()).filter(|c| !c.is_empty()),
            },
        };
        let overlays = config_dir.join(&k.overlays);
        let envs = config
            .environments
            .iter()
            .map(|e| {
                let namespace = k
                    .namespaces
                    .get(&e.name)
                    .cloned()
                    .or_else(|| overlay_namespace(&overlays.join(&e.name)))
                    .unwrap_or_else(|| format!("{}-{}", config.project, e.name));
                let rollout = k
                    .rollouts
                    .get(&e.name)
                    .cloned()
                    .or_else(|| Some(k.rollout.clone()).filter(|r| !r.is_empty()))
                    .unwrap_or_else(|| config.project.clone());
                EnvTarget {
                    env: e.name.clone(),
                    namespace,
                    rollout,
                    address: k.addresses.get(&e.name).cloned().unwrap_or_default(),
                }
            })
            .collect();
        KubeSettings { target, envs }
    }

    pub fn env(&self, name: &str) -> Option<&EnvTarget> {
        self.envs.iter().find(|e| e.env == name)
    }

    /// The namespaces to watch, each once, in the config's order.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.envs {
            if !out.contains(&e.namespace) {
                out.push(e.namespace.clone());
            }
        }
        out
    }

    /// The environments whose Rollouts live in `namespace`.
    pub fn envs_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a EnvTarget> {
        self.envs.iter().filter(move |e| e.namespace == namespace)
    }
}

/// The `namespace:` of a kustomize overlay folder, when it sets one.
fn overlay_namespace(dir: &Path) -> Option<String> {
    let text = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())?;
    let doc: Value = serde_saphyr::from_str(&text).ok()?;
    doc.get("namespace")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        Config::from_yaml_str(yaml, "test").unwrap()
    }

    #[test]
    fn namespaces_come_from_the_map_then_the_overlay_then_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("k8s/overlays/staging");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(
            staging.join("kustomization.yaml"),
            "# staging\nnamespace: shop-staging # from the seed\nresources: [../../base]\n",
        )
        .unwrap();
        let c = config(
            "project: shop\nenvironments: [{name: staging}, {name: production}, {name: qa}]\n\
             kubernetes: {namespaces: {qa: test}, rollouts: {qa: web-qa}, addresses: {qa: 'qa.local:80'}}\n",
        );
        let s = KubeSettings::from_config(&c, dir.path(), None);
        let got: Vec<(&str, &str, &str)> = s
            .envs
            .iter()
            .map(|e| (e.env.as_str(), e.namespace.as_str(), e.rollout.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("staging", "shop-staging", "shop"),
                ("production", "shop-production", "shop"),
                ("qa", "test", "web-qa"),
            ]
        );
        let addresses: Vec<&str> = s.envs.iter().map(|e| e.address.as_str()).collect();
        assert_eq!(addresses, ["", "", "qa.local:80"]);
        assert_eq!(s.target, Target::Kubeconfig { context: None });
    }

    #[test]
    fn the_context_flag_wins_over_the_config() {
        let c = config("kubernetes: {context: a, server: 'http://127.0.0.1:8001'}\n");
        let dir = Path::new("/nonexistent");
        let flag = KubeSettings::from_config(&c, dir, Some("b"));
        assert_eq!(
            flag.target,
            Target::Kubeconfig {
                context: Some("b".into())
            }
        );
        let server = KubeSettings::from_config(&c, dir, None);
        assert_eq!(server.target, Target::Url("http://127.0.0.1:8001".into()));
    }
}
