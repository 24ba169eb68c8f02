//! GitOps deploy and promote (`kubernetes::gitops`) in temporary git
//! repositories made here with the git CLI: the file diff (comments kept),
//! the commit, the push to a bare remote, the refusals that change nothing,
//! and the sync request the FAKE API server (`tests/support/fake_kube/`)
//! receives on the Argo CD Application; with the fake's simulated Argo CD
//! and Rollouts controllers, that sync starts a canary of the new tag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use blissful_infra::kubernetes::connect::{connect, Target};
use blissful_infra::kubernetes::gitops::{
    self, apply, Gitops, GitopsError, KustomizeError, SyncError,
};
use blissful_infra::kubernetes::rollout_view;
use serde_json::{json, Value};
use support::fake_kube::controller::ArgoApp;
use support::fake_kube::{FakeKube, ObjKey};
use support::validate::{run, validate};

const IMAGE: &str = "ghcr.io/acme/orders";
const STAGING: &str = "\
# Staging: canary rollouts with automated analysis.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: orders-staging
resources:
  - ../../base
images:
  # the service; blissful-infra bumps the tag
  - name: ghcr.io/acme/orders # built by CI
    newTag: v1.4.2   # current release
  - name: redis
    newTag: \"7.2\"
";
const PRODUCTION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: orders-production
resources:
  - ../../base
images:
- name: ghcr.io/acme/orders
  newTag: v1.3.0
";

fn git(dir: &Path, args: &[&str]) -> String {
    let o = run(Command::new("git").arg("-C").arg(dir).args(args));
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

struct Repo {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    remote: Option<PathBuf>,
}

impl Repo {
    /// A repository with both overlays committed; with a bare `origin`
    /// that has its branch when `remote`.
    fn new(remote: bool) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(work.join("k8s/overlays/staging")).unwrap();
        std::fs::create_dir_all(work.join("k8s/overlays/production")).unwrap();
        std::fs::write(
            work.join("k8s/overlays/staging/kustomization.yaml"),
            STAGING,
        )
        .unwrap();
        std::fs::write(
            work.join("k8s/overlays/production/kustomization.yaml"),
            PRODUCTION,
        )
        .unwrap();
        git(&work, &["init", "--quiet", "-b", "main"]);
        git(&work, &["config", "user.name", "Dana Deployer"]);
        git(&work, &["config", "user.email", "dana@example.test"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "overlays"]);
        let remote = remote.then(|| {
            let bare = tmp.path().join("remote.git");
            git(
                tmp.path(),
                &[
                    "init",
                    "--quiet",
                    "--bare",
                    "-b",
                    "main",
                    bare.to_str().unwrap(),
                ],
            );
            git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
            git(&work, &["push", "--quiet", "-u", "origin", "main"]);
            bare
        });
        Repo {
            _tmp: tmp,
            work,
            remote,
        }
    }

    fn gitops(&self) -> Gitops<'_> {
        Gitops {
            repo: &self.work,
            overlays: Path::new("k8s/overlays"),
            image: IMAGE,
            app: "orders",
        }
    }

    fn read(&self, env: &str) -> String {
        std::fs::read_to_string(
            self.work
                .join(format!("k8s/overlays/{env}/kustomization.yaml")),
        )
        .unwrap()
    }

    fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

#[tokio::test]
async fn deploy_commits_the_tag_pushes_it_and_asks_argo_cd_to_sync() {
    let repo = Repo::new(true);
    let done = gitops::deploy(&repo.gitops(), "staging", "v1.5.0")
        .await
        .unwrap();
    assert_eq!(
        repo.read("staging"),
        STAGING.replace("newTag: v1.4.2   #", "newTag: v1.5.0   #")
    );
    assert_eq!(repo.read("production"), PRODUCTION);
    assert_eq!(done.sha, repo.head());
    assert_eq!(done.old_tag.as_deref(), Some("v1.4.2"));
    assert_eq!(
        done.file,
        Path::new("k8s/overlays/staging/kustomization.yaml")
    );
    assert_eq!(done.pushed.as_deref(), Some("origin/main"));
    assert_eq!(
        git(&repo.work, &["log", "-1", "--format=%an <%ae>|%s"]),
        "Dana Deployer <dana@example.test>|deploy orders v1.5.0 to staging"
    );
    assert_eq!(
        git(&repo.work, &["show", "--format=", "--name-only", "HEAD"]),
        "k8s/overlays/staging/kustomization.yaml"
    );
    assert_eq!(
        git(repo.remote.as_ref().unwrap(), &["rev-parse", "main"]),
        done.sha
    );

    let file = repo.work.join("k8s/overlays/staging/kustomization.yaml");
    match validate(&[&file], &["-q"]) {
        Ok(o) => assert!(
            o.status.success(),
            "validate-manifests: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(why) => eprintln!("SKIPPED validate-manifests: {why}"),
    }

    let kube = FakeKube::start().await;
    let key = kube.seed_fixture("argo-cd/application-synced-healthy.yaml");
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    let app = gitops::request_sync(&conn, "argo", "sock-shop", &done.sha)
        .await
        .unwrap();
    let sent: Vec<_> = kube
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, kube.path_of(&key));
    assert_eq!(
        sent[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        sent[0].query.get("fieldManager").map(String::as_str),
        Some("blissful-infra")
    );
    let want = json!({"operation": {"initiatedBy": {"username": "blissful-infra"},
        "sync": {"revision": done.sha, "syncStrategy": {"hook": {}}}}});
    assert_eq!(sent[0].body_json(), want);
    assert_eq!(kube.get(&key).unwrap()["operation"], want["operation"]);
    assert_eq!(app["operation"], want["operation"]);
    // A second request while the first is pending is refused.
    let err = gitops::request_sync(&conn, "argo", "sock-shop", &done.sha)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Busy { .. }), "{err}");
}

#[tokio::test]
async fn promote_copies_the_tag_between_overlays() {
    let repo = Repo::new(false);
    let done = gitops::promote(&repo.gitops(), "staging", "production")
        .await
        .unwrap();
    assert_eq!(
        repo.read("production"),
        PRODUCTION.replace("newTag: v1.3.0", "newTag: v1.4.2")
    );
    assert_eq!(repo.read("staging"), STAGING);
    assert_eq!(
        (
            done.old_tag.as_deref(),
            done.tag.as_str(),
            done.pushed.as_deref()
        ),
        (Some("v1.3.0"), "v1.4.2", None)
    );
    assert_eq!(
        git(&repo.work, &["log", "-1", "--format=%s"]),
        "promote orders v1.4.2 from staging to production"
    );
    let err = gitops::promote(&repo.gitops(), "staging", "production")
        .await
        .unwrap_err();
    assert!(matches!(err, GitopsError::Unchanged { .. }), "{err}");
}

/// `f` is refused with an error `check` accepts, and neither the files
/// nor HEAD moved.
async fn refused(
    repo: &Repo,
    check: impl Fn(&GitopsError) -> bool,
    f: impl std::future::Future<Output = Result<gitops::GitopsCommit, GitopsError>>,
) {
    let (head, staging, production) = (repo.head(), repo.read("staging"), repo.read("production"));
    let err = f.await.unwrap_err();
    assert!(check(&err), "{err:?}");
    assert!(err.to_string().contains("nothing"), "{err}");
    assert_eq!(
        (repo.head(), repo.read("staging"), repo.read("production")),
        (head, staging, production)
    );
}

#[tokio::test]
async fn refusals_change_nothing() {
    let repo = Repo::new(true);
    let g = repo.gitops();
    refused(
        &repo,
        |e| matches!(e, GitopsError::MissingOverlay { .. }),
        gitops::deploy(&g, "qa", "v2"),
    )
    .await;
    let other = Gitops {
        image: "ghcr.io/acme/payments",
        ..g.clone()
    };
    refused(
        &repo,
        |e| {
            matches!(
                e,
                GitopsError::Kustomize {
                    source: KustomizeError::NoEntry { .. },
                    ..
                }
            )
        },
        gitops::deploy(&other, "staging", "v2"),
    )
    .await;
    refused(
        &repo,
        |e| {
            matches!(
                e,
                GitopsError::Kustomize {
                    source: KustomizeError::BadTag(_),
                    ..
                }
            )
        },
        gitops::deploy(&g, "staging", "v2\nkind: Secret"),
    )
    .await;

    std::fs::write(repo.work.join("notes.txt"), "wip").unwrap();
    refused(
        &repo,
        |e| matches!(e, GitopsError::Dirty { files } if files == "notes.txt"),
        gitops::deploy(&g, "staging", "v2"),
    )
    .await;
    std::fs::remove_file(repo.work.join("notes.txt")).unwrap();

    // Someone else pushes first: this branch is now behind origin/main.
    let other = repo._tmp.path().join("other");
    git(
        repo._tmp.path(),
        &[
            "clone",
            "--quiet",
            repo.remote.as_ref().unwrap().to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    git(
        &other,
        &[
            "-c",
            "user.name=O",
            "-c",
            "user.email=o@example.test",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "theirs",
        ],
    );
    git(&other, &["push", "--quiet", "origin", "main"]);
    refused(
        &repo,
        |e| {
            matches!(
                e,
                GitopsError::Behind {
                    behind: 1,
                    ahead: 0,
                    ..
                }
            )
        },
        gitops::deploy(&g, "staging", "v2"),
    )
    .await;
    git(&repo.work, &["pull", "--quiet", "--ff-only"]);
    assert!(gitops::deploy(&g, "staging", "v2").await.is_ok());
}

#[tokio::test]
async fn sync_refusals_say_what_is_missing() {
    let kube = FakeKube::start_hiding(&["argoproj.io"]).await;
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    let err = gitops::request_sync(&conn, "argo", "sock-shop", "abc")
        .await
        .unwrap_err();
    assert_eq!(err, SyncError::ArgoCdMissing);
    assert!(err.to_string().contains("server-side"), "{err}");
    kube.set_group_hidden("argoproj.io", false);
    let err = gitops::request_sync(&conn, "argo", "sock-shop", "abc")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SyncError::NoApplication {
            namespace: "argo".into(),
            name: "sock-shop".into()
        }
    );
    assert!(kube.received().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test]
async fn a_synced_deploy_starts_a_canary_under_the_simulated_controllers() {
    let repo = Repo::new(true);
    let guestbook = "quay.io/argoprojlabs/argocd-e2e-container";
    let overlay = format!("{STAGING}  - name: {guestbook}\n    newTag: \"0.1\"\n");
    std::fs::write(
        repo.work.join("k8s/overlays/staging/kustomization.yaml"),
        overlay,
    )
    .unwrap();
    git(&repo.work, &["commit", "--quiet", "-am", "guestbook"]);
    let g = Gitops {
        image: guestbook,
        app: "guestbook",
        ..repo.gitops()
    };
    let done = gitops::deploy(&g, "staging", "0.2").await.unwrap();

    let kube = FakeKube::start().await;
    let app = kube.seed_fixture("argo-cd/application-synced-healthy.yaml");
    let rollout = kube.seed_fixture_in(
        "argo-rollouts/rollout-canary-healthy-all-steps.yaml",
        "shop",
    );
    let ctl = kube.start_rollouts_controller(1.0);
    ctl.sync_app(ArgoApp {
        app: app.clone(),
        repo: repo.remote.clone().unwrap(),
        overlay: "k8s/overlays/staging".into(),
        rollout: rollout.clone(),
    });
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    gitops::request_sync(&conn, "argo", "sock-shop", &done.sha)
        .await
        .unwrap();
    let synced = wait(&kube, &app, |a| {
        a["status"]["sync"]["revision"] == done.sha.as_str()
    })
    .await;
    assert_eq!(synced["status"]["operationState"]["phase"], "Succeeded");
    assert!(synced.get("operation").is_none());
    let paused = wait(&kube, &rollout, |r| {
        r["status"]["currentStepIndex"] == 1 && r["status"]["phase"] == "Paused"
    })
    .await;
    let view = rollout_view(&paused);
    assert_eq!(
        view.canary_image.as_deref(),
        Some("quay.io/argoprojlabs/argocd-e2e-container:0.2")
    );
    assert_eq!(view.set_weight, Some(20));

    gitops::request_sync(
        &conn,
        "argo",
        "sock-shop",
        "0000000000000000000000000000000000000000",
    )
    .await
    .unwrap();
    let failed = wait(&kube, &app, |a| {
        a["status"]["operationState"]["phase"] == "Failed"
    })
    .await;
    assert!(
        failed["status"]["operationState"]["message"]
            .as_str()
            .unwrap()
            .contains("unable to read"),
        "{failed:#}"
    );
    assert_eq!(failed["status"]["sync"]["revision"], done.sha.as_str());
}

async fn wait(kube: &FakeKube, key: &ObjKey, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3000 {
        let v = kube.get(key).unwrap();
        if pred(&v) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("waited in vain: {:#}", kube.get(key).unwrap());
}

const BASE: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
";
const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
spec:
  replicas: 2
  selector:
    matchLabels: {app: orders}
  template:
    metadata:
      labels: {app: orders}
    spec:
      containers:
        - name: orders
          image: ghcr.io/acme/orders:latest
";
const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: orders
spec:
  selector: {app: orders}
  ports:
    - port: 80
";

#[tokio::test]
async fn without_argo_cd_the_overlay_is_applied_server_side() {
    if support::validate::which("kubectl").is_none() {
        return eprintln!("SKIPPED server-side apply of an overlay: kubectl is not installed");
    }
    let repo = Repo::new(false);
    let base = repo.work.join("k8s/base");
    std::fs::create_dir_all(&base).unwrap();
    for (name, text) in [
        ("kustomization.yaml", BASE),
        ("deployment.yaml", DEPLOYMENT),
        ("service.yaml", SERVICE),
    ] {
        std::fs::write(base.join(name), text).unwrap();
    }
    git(&repo.work, &["add", "."]);
    git(&repo.work, &["commit", "--quiet", "-m", "base"]);
    gitops::deploy(&repo.gitops(), "staging", "v1.5.0")
        .await
        .unwrap();

    let kube = FakeKube::start_hiding(&["argoproj.io"]).await;
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    let err = gitops::request_sync(&conn, "argo", "orders-staging", "HEAD")
        .await
        .unwrap_err();
    assert_eq!(err, SyncError::ArgoCdMissing);
    let docs = apply::render(&repo.work, Path::new("k8s/overlays/staging"))
        .await
        .unwrap();
    let applied = apply::apply_objects(&conn, &docs, "default").await.unwrap();
    assert_eq!(applied, ["Service/orders", "Deployment/orders"]);
    let d = kube
        .get(&ObjKey::new(
            "apps/v1",
            "deployments",
            "orders-staging",
            "orders",
        ))
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/orders:v1.5.0"
    );
    assert!(kube
        .get(&ObjKey::new("v1", "services", "orders-staging", "orders"))
        .is_some());
    let sent: Vec<_> = kube
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(sent.len(), 2);
    for r in &sent {
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(
            r.query.get("fieldManager").map(String::as_str),
            Some("blissful-infra")
        );
        assert_eq!(r.query.get("force").map(String::as_str), Some("true"));
    }
    // A Rollout cannot be applied while Argo Rollouts is missing: said, not guessed.
    let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "orders"}});
    let err = apply::apply_objects(&conn, &[rollout], "orders-staging")
        .await
        .unwrap_err();
    assert!(
        matches!(err, apply::ApplyError::UnknownKind { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("CRD"), "{err}");
}
