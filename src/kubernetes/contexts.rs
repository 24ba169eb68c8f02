//! The contexts of the kubeconfig found the usual way (`KUBECONFIG`, else
//! `~/.kube/config`), for `:ctx` and for naming the cluster in the header.

use std::path::PathBuf;

use super::connect::{kubeconfig_paths, merged_kubeconfig, no_kubeconfig, KubeError};
use crate::runtime::contexts::ContextList;

/// The merged kubeconfig's context names (in file order) and current context.
pub fn kubeconfig_contexts() -> Result<ContextList, KubeError> {
    contexts_in(&kubeconfig_paths())
}

pub fn contexts_in(paths: &[PathBuf]) -> Result<ContextList, KubeError> {
    let Some(kc) = merged_kubeconfig(paths)? else {
        return Err(no_kubeconfig(paths));
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
