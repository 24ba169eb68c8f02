//! Finding the kustomize tool and reading what it rendered.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;

fn tool(dir: &Path, name: &str) {
    let p = dir.join(name);
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn kubectl_first_then_kustomize_then_a_clear_refusal() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    tool(a.path(), "kustomize");
    tool(b.path(), "kubectl");
    let both = std::env::join_paths([a.path(), b.path()]).unwrap();
    let found = KustomizeTool::find(Some(&both)).unwrap();
    assert_eq!(found, KustomizeTool::Kubectl(b.path().join("kubectl")));
    assert_eq!(found.label(), "kubectl kustomize");
    let only = KustomizeTool::find(Some(a.path().as_os_str())).unwrap();
    assert_eq!(only.label(), "kustomize build");
    let cmd = only.command(Path::new("/p/k8s/overlays/staging"));
    let args: Vec<_> = cmd.get_args().collect();
    assert_eq!(args, ["build", "/p/k8s/overlays/staging"]);

    let empty = tempfile::tempdir().unwrap();
    let e = KustomizeTool::find(Some(empty.path().as_os_str())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`kubectl`") && msg.contains("`kustomize`"),
        "{msg}"
    );
    assert!(msg.contains("install kubectl"), "{msg}");
    assert!(KustomizeTool::find(None).is_err());
}

#[test]
fn a_failure_keeps_the_last_stderr_line_cleaned() {
    let out = Output {
        status: std::process::ExitStatus::from_raw(1 << 8),
        stdout: Vec::new(),
        stderr: b"warning\nError: missing \x1b[31mbase\x1b[0m\n\n".to_vec(),
    };
    assert_eq!(rendered_text(&out).unwrap_err(), "Error: missing base");
    let ok = Output {
        status: std::process::ExitStatus::from_raw(0),
        stdout: b"kind: A\n---\n---\nkind: B\n".to_vec(),
        stderr: Vec::new(),
    };
    let docs = documents(&rendered_text(&ok).unwrap()).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["kind"], "B");
}

#[test]
fn a_wrapping_kustomization_names_the_namespace_and_the_overlay() {
    let k = namespaced_kustomization("../p/k8s/overlays/ephemeral", "orders-pr-42");
    let doc: Value = serde_saphyr::from_str(&k).unwrap();
    assert_eq!(doc["kind"], "Kustomization");
    assert_eq!(doc["namespace"], "orders-pr-42");
    assert_eq!(doc["resources"][0], "../p/k8s/overlays/ephemeral");
    // Whatever a path holds, it stays one YAML string.
    let odd = namespaced_kustomization("a: b\n- c #d", "ns");
    let doc: Value = serde_saphyr::from_str(&odd).unwrap();
    assert_eq!(doc["resources"][0], "a: b\n- c #d");
}

#[test]
fn relative_paths_climb_to_the_common_folder() {
    let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
    assert_eq!(
        rel("/tmp/wrap-1", "/home/u/p/k8s/overlays/ephemeral"),
        PathBuf::from("../../home/u/p/k8s/overlays/ephemeral")
    );
    assert_eq!(
        rel("/home/u/p/.w", "/home/u/p/k8s"),
        PathBuf::from("../k8s")
    );
    assert_eq!(rel("/a/b", "/a/b"), PathBuf::from("."));
}
