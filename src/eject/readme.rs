//! The README.md written with the ejected files: how to use each of them
//! with kubectl, Docker Compose and Jenkins alone. Its first line marks the
//! folder as eject's, which `--force` checks before replacing it.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use super::collect::{Gathered, ItemKind, OverlaySummary};
use super::Project;
use crate::scaffold::shell_word;

/// The first line of every README eject writes.
const MARKER: &str = "# Ejected from blissful-infra";

/// Whether `path` is a README written by eject.
pub(super) fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().next() == Some(MARKER))
}

/// `to` as seen from the folder `from` (both absolute): `..` when `to` is
/// the parent; `to` itself when they share nothing but the root.
pub(super) fn relative(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<Component>, Vec<Component>) =
        (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return to.to_path_buf();
    }
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel
}

/// The README for the files of `g`, to be written into `out`.
pub(super) fn readme(project: Project<'_>, out: &Path, g: &Gathered) -> String {
    let mut s = String::new();
    let name = &project.config.project;
    let _ = writeln!(s, "{MARKER}\n");
    let _ = writeln!(
        s,
        "These files are what the project `{name}` deploys with, written by `blissful-infra \
         eject` (blissful-infra {}). Deploying with them needs no blissful-infra: kubectl, \
         Docker Compose and Jenkins use them as they are{}. Run the commands below from this \
         folder.\n\n`blissful-infra eject --force` writes them again from the project \
         (replacing this folder, edits included).\n",
        env!("CARGO_PKG_VERSION"),
        if g.notes.is_empty() {
            ""
        } else {
            " (the notes under Jenkins name the scripts that still call it)"
        }
    );
    let overlays: Vec<&OverlaySummary> = g
        .files
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Overlay(o) => Some(o),
            _ => None,
        })
        .collect();
    kubernetes(&mut s, &overlays, g);
    compose(&mut s, project, out, g);
    jenkins(&mut s, g);
    if !g.skipped.is_empty() {
        let _ = writeln!(s, "## Not written\n");
        for k in &g.skipped {
            let _ = writeln!(s, "- `{}`: {}", k.source, k.reason);
        }
        s.push('\n');
    }
    s
}

fn kubernetes(s: &mut String, overlays: &[&OverlaySummary], g: &Gathered) {
    if overlays.is_empty() {
        return;
    }
    let tool = g.tool.unwrap_or("kubectl kustomize");
    let _ = writeln!(
        s,
        "## Kubernetes: k8s/\n\nEach file is one kustomize overlay of the project, fully \
         rendered (`{tool}`), so no kustomize is needed to apply it. Create its namespace, \
         then apply it:\n"
    );
    for o in overlays {
        let _ = writeln!(s, "    # {}", o.env);
        for ns in &o.namespaces {
            let _ = writeln!(
                s,
                "    kubectl create namespace {ns} --dry-run=client -o yaml | kubectl apply -f -"
            );
        }
        let _ = writeln!(s, "    kubectl apply -f k8s/{}.yaml\n", o.env);
    }
    for o in overlays {
        for (group, kinds) in &o.custom {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "- `k8s/{}.yaml` has {group} objects ({}): the cluster needs their CRDs and \
                 controller{} first.",
                o.env,
                kinds.join(", "),
                if group == "argoproj.io" {
                    " (Argo Rollouts)"
                } else {
                    ""
                }
            );
        }
    }
    let _ = writeln!(
        s,
        "- The images are the ones the overlays named when these files were written; to \
         deploy another version change their `image:` lines (or `kubectl set image`).\n"
    );
}

fn compose(s: &mut String, project: Project<'_>, out: &Path, g: &Gathered) {
    let Some(file) = g.files.iter().find(|i| i.kind == ItemKind::Compose) else {
        return;
    };
    // Build contexts and volumes are relative to where the file came from.
    let origin = project.dir.join(&file.file.source);
    let home = origin.parent().unwrap_or(project.dir);
    let _ = writeln!(
        s,
        "## Docker Compose: {0}\n\nA copy of the project's `{1}`. Its build contexts and \
         volumes are relative to the project, so point Compose there:\n\n    \
         docker compose -f {0} --project-directory {2} up --build\n",
        file.file.path,
        file.file.source,
        shell_word(&relative(out, home).display().to_string())
    );
}

fn jenkins(s: &mut String, g: &Gathered) {
    let has = |k: &ItemKind| g.files.iter().any(|i| &i.kind == k);
    if !has(&ItemKind::Jenkinsfile) && !has(&ItemKind::CiScript) {
        return;
    }
    let _ = writeln!(
        s,
        "## Jenkins: Jenkinsfile and ci/\n\nCopies of the project's Jenkinsfile and its stage \
         scripts. Each stage of the Jenkinsfile runs `sh ci/<stage>.sh` at the root of the \
         checkout, and each script works from the folder above its own (it builds the \
         project's sources there and reads its other files, such as k8s/overlays). So they belong at the root of the \
         project's repository: copy the Jenkinsfile and ci/ there (they are the project's own \
         as of this eject) and point a Jenkins Pipeline job at that Jenkinsfile. \
         `sh ci/<stage>.sh` in the checkout runs one stage the way CI does.\n"
    );
    for n in &g.notes {
        let _ = writeln!(s, "- {n}");
    }
    if !g.notes.is_empty() {
        s.push('\n');
    }
}
