//! `blissful-infra eject` with the real binary on projects made by
//! `blissful-infra create`: every overlay rendered into `ejected/k8s/<env>.yaml`
//! (the overlay's namespace and image, the canary Rollout where the overlay
//! has one), the Compose file, Jenkinsfile and `ci/*.sh` copied, a README;
//! the output passes `../shared/tools/validate-manifests` (skipped, saying
//! so, only when the validators cannot run here) and the README's Compose
//! command (`docker-compose config`, when installed). Refusals write
//! nothing: an existing output without --force, a folder eject did not
//! write even with --force, no kubectl or kustomize on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(dead_code)] // json_schema is for other tests
#[path = "support/validate.rs"]
mod validate;

use serde_json::Value;
use validate::{run, skip, text, validate, which};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const ENVS: [&str; 3] = ["ephemeral", "production", "staging"];
/// The image the staging overlay is given here (the others keep the base's).
const STAGING_IMAGE: &str = "registry.example.com/orders:v1.4.2";

/// The binary in `dir` with `args`; `path` replaces PATH when given.
fn bin(dir: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    run(&mut cmd)
}

/// `blissful-infra create NAME --target TARGET` in `parent`; the project folder.
fn create(parent: &Path, name: &str, target: &str) -> PathBuf {
    let o = bin(
        parent,
        &[
            "create",
            name,
            "--template",
            "fastapi",
            "--target",
            target,
            "--yes",
        ],
        None,
    );
    assert!(o.status.success(), "create: {}", text(&o));
    parent.join(name)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    docs.into_iter().filter(Value::is_object).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

#[test]
fn eject_writes_every_overlay_rendered_and_the_files_to_deploy_with() {
    if which("kubectl").is_none() {
        return skip("eject of the overlays", "kubectl is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let project = create(tmp.path(), "orders", "kubernetes");
    let staging = project.join("k8s/overlays/staging/kustomization.yaml");
    let mut k = std::fs::read_to_string(&staging).unwrap();
    k.push_str(
        "images:\n  - name: orders\n    newName: registry.example.com/orders\n    newTag: v1.4.2\n",
    );
    std::fs::write(&staging, k).unwrap();

    let o = bin(&project, &["eject", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["project"], "orders");
    assert_eq!(doc["directory"], "ejected");
    assert_eq!(doc["renderer"], "kubectl kustomize");
    assert_eq!(doc["skipped"], Value::Array(vec![]));
    let out = project.join("ejected");
    let written: Vec<String> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap().to_string();
            let len = std::fs::metadata(out.join(&path)).unwrap().len();
            assert_eq!(f["bytes"].as_u64(), Some(len), "{path}");
            path
        })
        .collect();
    let mut expected: Vec<String> = ENVS.iter().map(|e| format!("k8s/{e}.yaml")).collect();
    expected.extend(["docker-compose.yml".into(), "Jenkinsfile".into()]);
    expected.extend(
        entries(&project.join("ci"))
            .into_iter()
            .map(|s| format!("ci/{s}")),
    );
    expected.push("README.md".into());
    assert_eq!(written, expected);

    for env in ENVS {
        let file = std::fs::read_to_string(out.join(format!("k8s/{env}.yaml"))).unwrap();
        // Exactly what kubectl renders, under one comment line.
        let (header, body) = file.split_once('\n').unwrap();
        assert!(header.starts_with(&format!("# {env}: k8s/overlays/{env} rendered")));
        let direct = run(Command::new("kubectl")
            .arg("kustomize")
            .arg(project.join(format!("k8s/overlays/{env}"))));
        assert_eq!(body, String::from_utf8_lossy(&direct.stdout), "{env}");

        let docs = yaml_docs(&file);
        let ns = format!("orders-{env}");
        for d in &docs {
            assert_eq!(d["metadata"]["namespace"], ns.as_str(), "{env}: {d}");
        }
        let deployment = named(&docs, "Deployment", "orders").unwrap();
        let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
        let want = if env == "staging" {
            STAGING_IMAGE
        } else {
            "orders:latest"
        };
        assert_eq!(image, want, "{env}");
        match (env, named(&docs, "Rollout", "orders")) {
            ("ephemeral", rollout) => assert!(rollout.is_none(), "ephemeral has no canary"),
            (_, Some(r)) => {
                assert_eq!(r["spec"]["workloadRef"]["name"], "orders", "{env}");
                assert!(r["spec"]["strategy"]["canary"]["steps"].is_array(), "{env}");
            }
            (_, None) => panic!("{env}: no Rollout"),
        }
    }
    for f in [
        "docker-compose.yml",
        "Jenkinsfile",
        "ci/lib.sh",
        "ci/deploy.sh",
    ] {
        let copy = std::fs::read(out.join(f)).unwrap();
        assert_eq!(copy, std::fs::read(project.join(f)).unwrap(), "{f}");
    }
    let mode = std::fs::metadata(out.join("ci/deploy.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "ci scripts stay executable");

    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    for want in [
        "kubectl apply -f k8s/staging.yaml",
        "kubectl create namespace orders-production",
        "Argo Rollouts",
        "docker compose -f docker-compose.yml --project-directory .. up --build",
        "Jenkinsfile",
        "ci/comparison.sh still runs blissful-infra",
    ] {
        assert!(readme.contains(want), "README lacks {want:?}:\n{readme}");
    }

    // The README's Compose command finds the project's build context.
    if which("docker-compose").is_some() {
        let o = run(Command::new("docker-compose")
            .args(["-f", "docker-compose.yml", "--project-directory", ".."])
            .arg("config")
            .current_dir(&out));
        assert!(o.status.success(), "{}", text(&o));
        let config = String::from_utf8_lossy(&o.stdout);
        let context = format!("context: {}", project.canonicalize().unwrap().display());
        let context_plain = format!("context: {}", project.display());
        assert!(
            config.contains(&context) || config.contains(&context_plain),
            "{config}"
        );
    } else {
        skip("docker-compose config", "docker-compose is not installed");
    }

    match validate(&[out.as_path()], &["-q"]) {
        Ok(o) => {
            assert!(o.status.success(), "validate-manifests:\n{}", text(&o));
            assert!(text(&o).contains(" 0 FAIL"), "{}", text(&o));
        }
        Err(why) => skip("validate-manifests", &why),
    }
}

#[test]
fn an_earlier_output_is_replaced_only_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let project = create(tmp.path(), "shop", "local-only");
    let o = bin(&project, &["eject"], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = project.join("ejected");
    std::fs::write(out.join("mine.txt"), "edited").unwrap();

    let o = bin(&project, &["eject"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ejected already exists; `eject --force` replaces it"),
        "{err}"
    );
    assert!(out.join("mine.txt").is_file(), "nothing changed");

    let o = bin(&project, &["eject", "--force"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("Re-ejected shop into ejected"),
        "{}",
        text(&o)
    );
    assert!(!out.join("mine.txt").exists());
    assert!(out.join("README.md").is_file());

    // --force never replaces a folder eject did not write.
    let before = entries(&project.join("ci"));
    let o = bin(&project, &["eject", "--force", "--out", "ci"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("was not written by `blissful-infra eject`"));
    assert_eq!(entries(&project.join("ci")), before);

    // Another --out, from a subfolder of the project.
    let o = bin(
        &project.join("ci"),
        &["eject", "--out", "../../elsewhere", "-o", "json"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["directory"], "../../elsewhere");
    let readme = std::fs::read_to_string(tmp.path().join("elsewhere/README.md")).unwrap();
    assert!(
        readme.contains("docker compose -f docker-compose.yml --project-directory ../shop up"),
        "{readme}"
    );
    let staging_left: Vec<String> = entries(tmp.path())
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(staging_left.is_empty(), "{staging_left:?}");
}

#[test]
fn without_kubectl_or_kustomize_overlays_are_refused_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let project = create(tmp.path(), "orders", "kubernetes");
    let before = entries(&project);

    let o = bin(&project, &["eject"], Some(&empty));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "`kubectl`",
        "`kustomize`",
        "install kubectl",
        "Nothing was written",
    ] {
        assert!(err.contains(want), "{want:?} missing: {err}");
    }
    assert_eq!(entries(&project), before, "no output, no staging folder");
    let o = bin(&project, &["eject", "-o", "json"], Some(&empty));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "no_renderer");

    // A project without k8s/ needs neither, and says what it skipped.
    let local = create(tmp.path(), "shop", "local-only");
    let o = bin(&local, &["eject"], Some(&empty));
    assert!(o.status.success(), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("FILE  "), "{table}");
    assert!(
        table.contains("Skipped:\n  k8s/overlays: not found (a project without the kubernetes target has no k8s/)"),
        "{table}"
    );
    assert!(
        table.contains("ci/deploy.sh still runs blissful-infra"),
        "{table}"
    );
    assert!(!local.join("ejected/k8s").exists());

    // Outside any project: a usage error naming the fix.
    let o = bin(tmp.path(), &["eject"], Some(&empty));
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("no blissful-infra.yaml here or in a parent folder"));
    assert!(!tmp.path().join("ejected").exists());
}
