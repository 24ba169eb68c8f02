//! Tests of `eject` on small projects, with fake renderers.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn config() -> Config {
    Config {
        project: "orders".into(),
        ..Config::default()
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn executable(path: &Path, text: &str) {
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A project with compose, Jenkinsfile and CI scripts (no k8s/).
fn project(dir: &Path) {
    write(&dir.join("docker-compose.yml"), "services: {}\n");
    write(
        &dir.join("Jenkinsfile"),
        "// blissful-infra made me\npipeline {}\n",
    );
    write(&dir.join("ci/build.sh"), "#!/bin/sh\necho build\n");
    write(
        &dir.join("ci/deploy.sh"),
        "#!/bin/sh\n# blissful-infra in a comment\nblissful-infra deploy --env x\n",
    );
    write(&dir.join("ci/notes.txt"), "not a script\n");
}

/// Overlays `staging` and `production`, and a folder that is not one.
fn overlays(dir: &Path) {
    for env in ["staging", "production"] {
        write(
            &dir.join(format!("k8s/overlays/{env}/kustomization.yaml")),
            "resources: []\n",
        );
    }
    std::fs::create_dir_all(dir.join("k8s/overlays/notes")).unwrap();
}

/// A fake `kubectl` printing a Rollout and a Service in `orders-<env>`.
fn fake_kubectl(bin: &Path, body: &str) {
    executable(&bin.join("kubectl"), body);
}

const RENDERS: &str = "#!/bin/sh\n[ \"$1\" = kustomize ] || exit 9\nenv=$(basename \"$2\")\n\
printf 'apiVersion: v1\\nkind: Service\\nmetadata:\\n  name: orders\\n  namespace: orders-%s\\n---\\n\
apiVersion: argoproj.io/v1alpha1\\nkind: Rollout\\nmetadata:\\n  name: orders\\n  namespace: orders-%s\\n' \"$env\" \"$env\"\n";

fn run(dir: &Path, args: &EjectArgs, path: Option<&Path>) -> Result<EjectReport, EjectError> {
    let config = config();
    let project = Project {
        config: &config,
        dir: Path::new("."),
    };
    run_eject(project, args, dir, path.map(Path::as_os_str))
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn without_k8s_the_rest_is_written_and_the_overlays_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir);
    let r = run(dir, &EjectArgs::default(), None).unwrap();
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "docker-compose.yml",
            "Jenkinsfile",
            "ci/build.sh",
            "ci/deploy.sh",
            "README.md"
        ]
    );
    assert_eq!(
        (r.directory.as_str(), r.renderer.as_deref()),
        ("ejected", None)
    );
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].source, "k8s/overlays");
    assert!(r.skipped[0].reason.contains("kubernetes target"));
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    assert!(r.notes[0].starts_with("ci/deploy.sh still runs blissful-infra"));
    let out = dir.join("ejected");
    let mode = std::fs::metadata(out.join("ci/build.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.starts_with("# Ejected from blissful-infra\n"),
        "{readme}"
    );
    assert!(
        readme.contains("docker compose -f docker-compose.yml --project-directory .. up --build"),
        "{readme}"
    );
    assert!(readme.contains("## Jenkins") && !readme.contains("## Kubernetes"));
    assert!(readme.contains("- `k8s/overlays`: not found"), "{readme}");
    let table = report_table(&r);
    assert!(
        table.starts_with("Ejected orders into ejected\n"),
        "{table}"
    );
    assert!(
        table.contains("Skipped:\n  k8s/overlays: not found"),
        "{table}"
    );
    assert_eq!(
        listing(dir),
        ["Jenkinsfile", "ci", "docker-compose.yml", "ejected"]
    );
}

#[test]
fn overlays_are_rendered_one_file_each() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = (tmp.path().join("p"), tmp.path().join("bin"));
    project(&dir);
    overlays(&dir);
    fake_kubectl(&bin, RENDERS);
    let args = EjectArgs {
        out: Some("p/out".into()),
        force: false,
    };
    let config = config();
    let project = Project {
        config: &config,
        dir: Path::new("p"),
    };
    let r = run_eject(project, &args, tmp.path(), Some(bin.as_os_str()));
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(r.renderer.as_deref(), Some("kubectl kustomize"));
    let k8s: Vec<(&str, &str)> = r
        .files
        .iter()
        .filter(|f| f.path.starts_with("k8s/"))
        .map(|f| (f.path.as_str(), f.source.as_str()))
        .collect();
    assert_eq!(
        k8s,
        [
            ("k8s/production.yaml", "k8s/overlays/production"),
            ("k8s/staging.yaml", "k8s/overlays/staging")
        ]
    );
    let out = dir.join("out");
    let staging = std::fs::read_to_string(out.join("k8s/staging.yaml")).unwrap();
    assert!(staging.starts_with("# staging: k8s/overlays/staging rendered by"));
    assert!(staging.contains("namespace: orders-staging"), "{staging}");
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("kubectl create namespace orders-production --dry-run=client -o yaml | kubectl apply -f -\n    kubectl apply -f k8s/production.yaml"),
        "{readme}"
    );
    assert!(
        readme.contains("`k8s/staging.yaml` has argoproj.io objects (Rollout)"),
        "{readme}"
    );
}

#[test]
fn a_failing_or_missing_renderer_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = (tmp.path().join("p"), tmp.path().join("bin"));
    project(&dir);
    overlays(&dir);
    std::fs::create_dir_all(&bin).unwrap();
    let config = config();
    let project = Project {
        config: &config,
        dir: &dir,
    };
    let e = run_eject(
        project,
        &EjectArgs::default(),
        tmp.path(),
        Some(bin.as_os_str()),
    )
    .unwrap_err();
    assert_eq!((e.kind(), e.exit_code()), ("no_renderer", exit::REFUSED));
    assert!(
        e.to_string().contains("neither `kubectl` nor `kustomize`"),
        "{e}"
    );
    fake_kubectl(
        &bin,
        "#!/bin/sh\necho 'Error: accumulating resources: \x1b[31mmissing\x1b[0m' >&2\nexit 1\n",
    );
    let e = run_eject(
        project,
        &EjectArgs::default(),
        tmp.path(),
        Some(bin.as_os_str()),
    )
    .unwrap_err();
    assert_eq!((e.kind(), e.exit_code()), ("render", exit::FAILED));
    let msg = e.to_string();
    assert!(
        msg.starts_with("cannot render k8s/overlays/production with kubectl kustomize: Error: accumulating resources: missing."),
        "{msg:?}"
    );
    assert_eq!(
        listing(&dir),
        ["Jenkinsfile", "ci", "docker-compose.yml", "k8s"],
        "no output, no staging folder"
    );
}

#[test]
fn an_existing_output_needs_force_and_force_replaces_only_ejects_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir);
    run(dir, &EjectArgs::default(), None).unwrap();
    write(&dir.join("ejected/stale.txt"), "old");
    let e = run(dir, &EjectArgs::default(), None).unwrap_err();
    assert_eq!((e.kind(), e.exit_code()), ("exists", exit::REFUSED));
    assert!(e.to_string().contains("--force"), "{e}");
    assert!(dir.join("ejected/stale.txt").is_file());

    let force = EjectArgs {
        out: None,
        force: true,
    };
    let r = run(dir, &force, None).unwrap();
    assert!(r.replaced);
    assert!(!dir.join("ejected/stale.txt").exists());
    assert!(report_table(&r).starts_with("Re-ejected orders"));

    // A folder eject did not write is never replaced, even with --force.
    for foreign in ["ci", "Jenkinsfile"] {
        let args = EjectArgs {
            out: Some(foreign.into()),
            force: true,
        };
        let e = run(dir, &args, None).unwrap_err();
        assert_eq!(e.kind(), "not_ejected_output", "{foreign}");
        assert!(dir.join(foreign).exists());
    }
    let args = EjectArgs {
        out: Some(".".into()),
        force: true,
    };
    assert_eq!(
        run(dir, &args, None).unwrap_err().kind(),
        "not_ejected_output"
    );
    // An empty folder is fine.
    std::fs::create_dir(dir.join("empty")).unwrap();
    let args = EjectArgs {
        out: Some("empty".into()),
        force: true,
    };
    run(dir, &args, None).unwrap();
    assert!(dir.join("empty/README.md").is_file());
}

#[test]
fn relative_paths_between_folders() {
    let r = |a: &str, b: &str| {
        readme::relative(Path::new(a), Path::new(b))
            .display()
            .to_string()
    };
    assert_eq!(r("/p/orders/ejected", "/p/orders"), "..");
    assert_eq!(r("/p/orders", "/p/orders"), ".");
    assert_eq!(r("/p/out/x", "/p/orders/deploy"), "../../orders/deploy");
    assert_eq!(r("/tmp/out", "/home/me/orders"), "/home/me/orders");
    let l = |p: &str| lexical(Path::new(p)).display().to_string();
    assert_eq!(l("/p/orders/ci/../../elsewhere"), "/p/elsewhere");
    assert_eq!(l("/p/./orders/."), "/p/orders");
    assert_eq!(l("/.."), "/");
    assert_eq!(l("../../x/.."), "../..");
}
