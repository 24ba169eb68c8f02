//! Rendering a kustomize overlay: kustomize itself is not a Rust library, so
//! `kubectl kustomize DIR` runs it (kubectl bundles kustomize), else the
//! standalone `kustomize build DIR`. Used by the direct apply (no Argo CD),
//! by `eject`, which writes every overlay rendered, and by ephemeral
//! environments, which render an overlay into a namespace of their own
//! through a wrapping kustomization ([`namespaced_kustomization`]).

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::kubernetes::fields::clean;

/// The program that renders kustomizations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KustomizeTool {
    /// `kubectl kustomize DIR`.
    Kubectl(PathBuf),
    /// `kustomize build DIR`.
    Kustomize(PathBuf),
}

/// Neither `kubectl` nor `kustomize` is on the PATH.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "neither `kubectl` nor `kustomize` is on PATH, and one of them is needed to render the \
     kustomize overlays: install kubectl (https://kubernetes.io/docs/tasks/tools/; its \
     `kubectl kustomize` is enough) or the standalone kustomize \
     (https://kubectl.docs.kubernetes.io/installation/kustomize/)"
)]
pub struct NoKustomizeTool;

impl KustomizeTool {
    /// `kubectl` in the directories of `path_var` (PATH's value), else
    /// `kustomize`.
    pub fn find(path_var: Option<&OsStr>) -> Result<KustomizeTool, NoKustomizeTool> {
        let find = |tool| crate::pipeline::plan::find_tool(tool, path_var, Path::new("/"));
        find("kubectl")
            .map(KustomizeTool::Kubectl)
            .or_else(|| find("kustomize").map(KustomizeTool::Kustomize))
            .ok_or(NoKustomizeTool)
    }

    /// The command line, as shown to people: `kubectl kustomize`.
    pub fn label(&self) -> &'static str {
        match self {
            KustomizeTool::Kubectl(_) => "kubectl kustomize",
            KustomizeTool::Kustomize(_) => "kustomize build",
        }
    }

    /// The command rendering the kustomization in `dir` to stdout.
    pub fn command(&self, dir: &Path) -> Command {
        let (program, verb) = match self {
            KustomizeTool::Kubectl(p) => (p, "kustomize"),
            KustomizeTool::Kustomize(p) => (p, "build"),
        };
        let mut cmd = Command::new(program);
        cmd.arg(verb).arg(dir);
        cmd
    }
}

/// The rendered YAML of a finished render, or why it failed: the last
/// line the tool wrote to stderr, cleaned for the terminal.
pub fn rendered_text(out: &Output) -> Result<String, String> {
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(clean(
            err.lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("failed"),
        ));
    }
    String::from_utf8(out.stdout.clone()).map_err(|_| "the output is not UTF-8".to_string())
}

/// The objects of rendered YAML, in order (empty documents left out).
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| clean(&e.to_string()))?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

/// A kustomization whose only resource is the overlay at `overlay` (a
/// path relative to the kustomization's folder) and whose `namespace:`
/// moves every namespaced object, and the references kustomize knows of,
/// into `namespace`. Both are written as JSON strings, valid YAML whatever
/// they hold.
pub fn namespaced_kustomization(overlay: &str, namespace: &str) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {}\nresources:\n  - {}\n",
        quote(namespace),
        quote(overlay)
    )
}

/// `to` as a path relative to the folder `from` (kustomize refuses an
/// absolute resource). Both should be absolute and canonical.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<Component<'_>> = from.components().collect();
    let b: Vec<Component<'_>> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests;
