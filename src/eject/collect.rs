//! The sources of `eject`, read and rendered in memory: the overlays under
//! `kubernetes.overlays`, `docker.compose_file`, the Jenkinsfile and
//! `ci/*.sh`. A source that is not there is skipped with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use super::{EjectError, Project, Skipped};
use crate::kubernetes::gitops::render::{documents, rendered_text, KustomizeTool};
use crate::scaffold::RenderedFile;

/// Files an overlay folder is recognised by.
const KUSTOMIZATIONS: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One file to write, with what the README says about it.
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub file: RenderedFile,
    pub kind: ItemKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ItemKind {
    Overlay(OverlaySummary),
    Compose,
    Jenkinsfile,
    CiScript,
}

/// What a rendered overlay holds, for the README.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct OverlaySummary {
    pub env: String,
    pub namespaces: BTreeSet<String>,
    /// API group -> kinds, for groups that are not built into Kubernetes
    /// (their CRDs must be installed first): `argoproj.io` -> `Rollout`.
    pub custom: BTreeMap<String, BTreeSet<String>>,
}

/// Everything read, in the order it is written.
#[derive(Clone, Debug, Default)]
pub(super) struct Gathered {
    pub files: Vec<Item>,
    pub skipped: Vec<Skipped>,
    pub tool: Option<&'static str>,
    pub notes: Vec<String>,
}

impl Gathered {
    fn skip(&mut self, source: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            source: source.to_string(),
            reason: reason.into(),
        });
    }

    fn add(&mut self, path: String, source: String, contents: Vec<u8>, kind: ItemKind) {
        let executable = kind == ItemKind::CiScript;
        self.files.push(Item {
            file: RenderedFile {
                path,
                contents,
                executable,
                source,
            },
            kind,
        });
    }
}

/// Read and render every source of `project`.
pub(super) fn gather(
    project: Project<'_>,
    path_var: Option<&OsStr>,
) -> Result<Gathered, EjectError> {
    let mut g = Gathered::default();
    overlays(project, path_var, &mut g)?;
    compose(project, &mut g)?;
    jenkins(project, &mut g)?;
    Ok(g)
}

fn read(path: &Path) -> Result<Vec<u8>, EjectError> {
    std::fs::read(path).map_err(|source| EjectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Names used as file names: letters, digits, `.`, `_`, `-`, not hidden.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Sorted entries of `dir` with plain names that satisfy `keep`.
fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<String>, EjectError> {
    let rd = std::fs::read_dir(dir).map_err(|source| EjectError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| plain_name(n) && keep(&dir.join(n)))
        .collect();
    names.sort();
    Ok(names)
}

fn overlays(
    project: Project<'_>,
    path_var: Option<&OsStr>,
    g: &mut Gathered,
) -> Result<(), EjectError> {
    let rel = project.config.kubernetes.overlays.trim_end_matches('/');
    let root = project.dir.join(rel);
    if !root.is_dir() {
        g.skip(
            rel,
            "not found (a project without the kubernetes target has no k8s/): no manifests rendered",
        );
        return Ok(());
    }
    let envs = entries(&root, |p| {
        KUSTOMIZATIONS.iter().any(|k| p.join(k).is_file())
    })?;
    if envs.is_empty() {
        g.skip(rel, "holds no folder with a kustomization.yaml");
        return Ok(());
    }
    let tool = KustomizeTool::find(path_var)?;
    g.tool = Some(tool.label());
    for env in envs {
        let source = format!("{rel}/{env}");
        let fail = |reason: String| EjectError::Render {
            overlay: source.clone(),
            tool: tool.label(),
            reason,
        };
        let out = tool
            .command(&root.join(&env))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run it: {e}")))?;
        let text = rendered_text(&out).map_err(fail)?;
        let docs = documents(&text).map_err(|e| fail(format!("its output is not YAML: {e}")))?;
        let summary = summarise(&env, &docs);
        // One comment line, whatever the configured folder is called.
        let header = format!(
            "# {env}: {} rendered by `blissful-infra eject` ({}).\n",
            crate::kubernetes::fields::clean(&source),
            tool.label()
        );
        let mut contents = header.into_bytes();
        contents.extend_from_slice(text.as_bytes());
        let path = format!("k8s/{env}.yaml");
        g.add(path, source, contents, ItemKind::Overlay(summary));
    }
    Ok(())
}

fn summarise(env: &str, docs: &[Value]) -> OverlaySummary {
    let mut s = OverlaySummary {
        env: env.to_string(),
        ..Default::default()
    };
    for d in docs {
        if let Some(ns) = d["metadata"]["namespace"].as_str() {
            s.namespaces.insert(ns.to_string());
        }
        let group = d["apiVersion"]
            .as_str()
            .and_then(|v| v.rsplit_once('/'))
            .map(|(g, _)| g);
        if let (Some(group), Some(kind)) = (group, d["kind"].as_str()) {
            // Built-in groups have no dot (apps, batch) or end in .k8s.io.
            if group.contains('.') && !group.ends_with(".k8s.io") {
                s.custom
                    .entry(group.to_string())
                    .or_default()
                    .insert(kind.to_string());
            }
        }
    }
    s
}

fn compose(project: Project<'_>, g: &mut Gathered) -> Result<(), EjectError> {
    let rel = project.config.docker.compose_file.as_str();
    let path = project.dir.join(rel);
    let name = path
        .file_name()
        .and_then(OsStr::to_str)
        .filter(|n| plain_name(n));
    match name {
        Some(name) if path.is_file() => {
            let contents = read(&path)?;
            g.add(
                name.to_string(),
                rel.to_string(),
                contents,
                ItemKind::Compose,
            );
        }
        _ => g.skip(rel, "not found: no compose file written"),
    }
    Ok(())
}

fn jenkins(project: Project<'_>, g: &mut Gathered) -> Result<(), EjectError> {
    let jenkinsfile = project.dir.join("Jenkinsfile");
    if jenkinsfile.is_file() {
        let contents = read(&jenkinsfile)?;
        note_calls(g, "Jenkinsfile", &contents, "//");
        g.add(
            "Jenkinsfile".into(),
            "Jenkinsfile".into(),
            contents,
            ItemKind::Jenkinsfile,
        );
    } else {
        g.skip("Jenkinsfile", "not found");
    }
    let ci = project.dir.join("ci");
    let scripts = if ci.is_dir() {
        entries(&ci, |p| {
            p.is_file() && p.extension().is_some_and(|e| e == "sh")
        })?
    } else {
        Vec::new()
    };
    if scripts.is_empty() {
        g.skip("ci/*.sh", "not found");
    }
    for name in scripts {
        let rel = format!("ci/{name}");
        let contents = read(&ci.join(&name))?;
        note_calls(g, &rel, &contents, "#");
        g.add(rel.clone(), rel, contents, ItemKind::CiScript);
    }
    Ok(())
}

/// A note when a line of `file` outside comments runs blissful-infra.
fn note_calls(g: &mut Gathered, file: &str, contents: &[u8], comment: &str) {
    let text = String::from_utf8_lossy(contents);
    let calls = text.lines().any(|l| {
        let l = l.trim_start();
        !l.starts_with(comment) && l.contains("blissful-infra ")
    });
    if calls {
        g.notes.push(format!(
            "{file} still runs blissful-infra: read what it does where blissful-infra is not installed"
        ));
    }
}
