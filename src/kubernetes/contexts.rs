//! The contexts of the kubeconfig found the usual way (`KUBECONFIG`, else
//! `~/.kube/config`), for `:ctx` and for naming the cluster in the header.

use std::path::PathBuf;

use kube::config::Kubeconfig;

use super::connect::{kubeconfig_paths, KubeError};
use crate::runtime::contexts::ContextList;

/// The merged kubeconfig's context names (in file order) and current context.
pub fn kubeconfig_contexts() -> Result<ContextList, KubeError> {
    contexts_in(&kubeconfig_paths())
}

pub fn contexts_in(paths: &[PathBuf]) -> Result<ContextList, KubeError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.iter().filter(|p| p.is_file()) {
        let bad = |e: kube::config::KubeconfigError| {
            KubeError::BadKubeconfig(format!("{}: {e}", path.display()))
        };
        let kc = Kubeconfig::read_from(path).map_err(bad)?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(bad)?,
        });
    }
    let Some(kc) = merged else {
        let looked: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(KubeError::NoKubeconfig {
            looked: if looked.is_empty() {
                "no path: neither KUBECONFIG nor HOME is set".into()
            } else {
                looked.join(", ")
            },
        });
    };
    Ok(ContextList {
        names: kc.contexts.iter().map(|c| c.name.clone()).collect(),
        current: kc.current_context.filter(|c| !c.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_listed_with_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
             clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n\
             users: [{name: u, user: {}}]\n\
             contexts: [{name: a, context: {cluster: c, user: u}}, {name: b, context: {cluster: c, user: u}}]\n",
        )
        .unwrap();
        let list = contexts_in(&[path]).unwrap();
        assert_eq!(list.names, ["a", "b"]);
        assert_eq!(list.describe(), "a, b (current)");
        let missing = contexts_in(&[dir.path().join("nope")]).unwrap_err();
        assert!(
            matches!(missing, KubeError::NoKubeconfig { .. }),
            "{missing}"
        );
    }
}
