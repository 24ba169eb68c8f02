//! Ephemeral environments (`up --ephemeral`, `down --ephemeral`, the
//! ephemeral table of `status`) with the real binary on a project made by
//! `blissful-infra create --target kubernetes`, against the FAKE API server
//! (`tests/support/fake_kube/`). The test plays the Deployment controller:
//! it marks the applied Deployment available. Rendering needs kubectl (or
//! kustomize); without either the tests say SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

#[path = "kube_ephemeral/refusals.rs"]
mod refusals;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_kube::{FakeKube, ObjKey};
use support::validate::which;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
/// `$USER` of every run: the owner label is made of it.
const USER: &str = "a.lice@corp";
const OWNER: &str = "a.lice-corp";
const NS: &str = "orders-pr-42";

fn have_renderer() -> bool {
    let ok = which("kubectl").is_some() || which("kustomize").is_some();
    if !ok {
        eprintln!("SKIPPED ephemeral environments: neither kubectl nor kustomize is installed");
    }
    ok
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A project from `create orders --target kubernetes`, switched to
/// `runtime: kubernetes` on the fake.
pub struct Project {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub fn project(kube: &FakeKube) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(BIN)
        .args(["create", "orders", "--template", "fastapi"])
        .args(["--target", "kubernetes", "--yes"])
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "create: {}", text(&o));
    let dir = tmp.path().join("orders");
    let path = dir.join("blissful-infra.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(config.contains("\nruntime: docker\n"), "{config}");
    let config = config.replace("\nruntime: docker\n", "\nruntime: kubernetes\n");
    let config = format!("{config}\nkubernetes:\n  server: '{}'\n", kube.url());
    std::fs::write(&path, config).unwrap();
    Project { _tmp: tmp, dir }
}

/// The binary in the project with `args`, stdin closed (no terminal).
pub async fn run(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("USER", USER)
        .env("NO_COLOR", "1")
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

pub fn namespace_key(name: &str) -> ObjKey {
    ObjKey::new("v1", "namespaces", "", name)
}

pub fn deployment_key(namespace: &str) -> ObjKey {
    ObjKey::new("apps/v1", "deployments", namespace, "orders")
}

/// Wait (bounded) until the fake holds `key`.
pub async fn appears(kube: &FakeKube, key: &ObjKey) -> Value {
    for _ in 0..300 {
        if let Some(v) = kube.get(key) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{key:?} never appeared");
}

/// Play the Deployment controller: every replica new and available.
pub fn mark_ready(kube: &FakeKube, key: &ObjKey) {
    let d = kube.get(key).unwrap();
    let want = d["spec"]["replicas"].as_u64().unwrap_or(1);
    let generation = d["metadata"]["generation"].as_u64().unwrap_or(1);
    kube.set_status(
        key,
        json!({"observedGeneration": generation, "replicas": want, "updatedReplicas": want,
               "readyReplicas": want, "availableReplicas": want}),
    );
}

/// The audit journal's entries.
pub fn journal(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Set the namespace's created-at annotation `hours` back.
fn age_by(kube: &FakeKube, hours: i64) {
    let mut ns = kube.get(&namespace_key(NS)).unwrap();
    let past = chrono::Utc::now() - chrono::Duration::hours(hours);
    ns["metadata"]["annotations"]["blissful-infra/created-at"] =
        json!(past.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    kube.put(ns);
}

#[tokio::test]
async fn up_waits_for_the_deployment_status_lists_it_and_down_removes_it() {
    if !have_renderer() {
        return;
    }
    let kube = FakeKube::start().await;
    let p = project(&kube);
    let dir = p.dir.clone();
    let up = tokio::spawn(async move {
        run(
            &dir,
            &["up", "--ephemeral", "pr-42", "--ttl", "4h", "--wait", "60s"],
        )
        .await
    });

    // The overlay lands in the new namespace; up waits for the Deployment.
    let key = deployment_key(NS);
    let d = appears(&kube, &key).await;
    assert_eq!(d["metadata"]["namespace"], NS);
    assert_eq!(d["spec"]["replicas"], 1, "the ephemeral overlay's scale");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !up.is_finished(),
        "up returned before the Deployment was ready"
    );
    mark_ready(&kube, &key);
    let out = up.await.unwrap();
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(
        s.contains("created ephemeral environment pr-42 in namespace orders-pr-42 (owner a.lice-corp, TTL 4h): ready (orders 1/1 available)"),
        "{s}"
    );
    assert!(
        s.contains("waiting for orders-pr-42: orders 0/1 available"),
        "{s}"
    );
    assert!(
        s.contains("remove it with: blissful-infra down --ephemeral pr-42"),
        "{s}"
    );

    let ns = kube.get(&namespace_key(NS)).unwrap();
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "blissful-infra");
    assert_eq!(labels["blissful-infra/ephemeral"], "true");
    assert_eq!(labels["blissful-infra/owner"], OWNER);
    assert_eq!(labels["blissful-infra/project"], "orders");
    let notes = &ns["metadata"]["annotations"];
    assert_eq!(notes["blissful-infra/ttl"], "4h");
    let at = notes["blissful-infra/created-at"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    assert!(
        (chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 120,
        "{at}"
    );
    for (gv, plural, name) in [
        ("v1", "serviceaccounts", "orders"),
        ("v1", "configmaps", "orders-config"),
        ("v1", "services", "orders"),
        ("policy/v1", "poddisruptionbudgets", "orders"),
        ("autoscaling/v2", "horizontalpodautoscalers", "orders"),
    ] {
        let obj = kube.get(&ObjKey::new(gv, plural, NS, name));
        assert!(obj.is_some(), "{plural}/{name} applied into {NS}");
    }
    assert!(
        kube.get(&ObjKey::new(
            "apps/v1",
            "deployments",
            "orders-ephemeral",
            "orders"
        ))
        .is_none(),
        "nothing goes to the overlay's own namespace"
    );
    let applies: Vec<_> = kube
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/namespaces/orders-pr-42/"))
        .collect();
    assert_eq!(applies.len(), 6, "{applies:#?}");
    for r in &applies {
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(
            r.query.get("fieldManager").map(String::as_str),
            Some("blissful-infra")
        );
    }

    // Again: the same namespace, applied again, ready at once.
    let out = run(&p.dir, &["up", "--ephemeral", "pr-42", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["created"], false);
    assert_eq!(
        doc["ttl"], "4h",
        "the namespace keeps its TTL without --ttl"
    );
    assert_eq!(doc["owner"], OWNER);
    assert_eq!(doc["deployments"][0]["ready"], true);
    assert_eq!(doc["applied"].as_array().unwrap().len(), 6);
    assert_eq!(
        kube.received_matching("POST", "/api/v1/namespaces").len(),
        1
    );

    // status: the environments, then the ephemeral table.
    let out = run(&p.dir, &["status"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let row = s
        .lines()
        .find(|l| l.starts_with("pr-42 "))
        .unwrap_or_else(|| panic!("{s}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], ["pr-42", NS, OWNER], "{row}");
    assert_eq!(cells[4..], ["4h", "active"], "{row}");
    assert!(s.find("EPHEMERAL").unwrap() > s.find("ENV").unwrap(), "{s}");

    // Past its TTL: expired, with the command that removes it.
    age_by(&kube, 5);
    let out = run(&p.dir, &["status"]).await;
    let s = text(&out);
    assert!(s.contains("4h   expired"), "{s}");
    assert!(
        s.contains("pr-42: expired (older than its TTL of 4h): remove it with `blissful-infra down --ephemeral pr-42`"),
        "{s}"
    );
    // JSON: `status` stays the environments' array, as on every runtime;
    // `status --ephemeral` is the ephemeral ones'.
    let out = run(&p.dir, &["status", "--output", "json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["name"], "staging", "{doc}");
    let out = run(&p.dir, &["status", "--ephemeral", "--output", "json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc.as_array().map(Vec::len), Some(1), "{doc}");
    let e = &doc[0];
    assert_eq!(
        (e["name"].as_str(), e["state"].as_str()),
        (Some("pr-42"), Some("expired"))
    );
    assert_eq!(e["owner"], OWNER);
    assert!(e["age_secs"].as_u64().unwrap() >= 5 * 3600);
    assert_eq!(e["remove"], "blissful-infra down --ephemeral pr-42");

    // down: asks (no terminal, no --yes: refused), then deletes and waits.
    let out = run(&p.dir, &["down", "--ephemeral", "pr-42"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --yes"), "{}", text(&out));
    assert!(kube.get(&namespace_key(NS)).is_some());
    let out = run(&p.dir, &["down", "--ephemeral", "pr-42", "--yes"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(
        s.contains("namespace orders-pr-42: Terminating; waiting until it is gone"),
        "{s}"
    );
    assert!(
        s.contains("removed ephemeral environment pr-42 (namespace orders-pr-42)"),
        "{s}"
    );
    assert!(kube.get(&namespace_key(NS)).is_none());
    assert!(kube.get(&key).is_none(), "its contents went with it");
    let out = run(&p.dir, &["down", "--ephemeral", "pr-42", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to remove"), "{}", text(&out));

    let seen: Vec<(String, String)> = journal(&p.dir)
        .iter()
        .map(|e| {
            let outcome = e["outcome"].as_str().unwrap();
            let outcome = outcome.split(':').next().unwrap();
            (
                e["action"].as_str().unwrap().to_string(),
                outcome.to_string(),
            )
        })
        .collect();
    let want = [
        ("up --ephemeral", "requested"),
        ("up --ephemeral", "accepted"),
        ("up --ephemeral", "requested"),
        ("up --ephemeral", "accepted"),
        ("down --ephemeral", "refused"),
        ("down --ephemeral", "requested"),
        ("down --ephemeral", "accepted"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, o)| (a.to_string(), o.to_string()))
        .collect();
    assert_eq!(seen, want);
    for e in journal(&p.dir) {
        assert_eq!(e["env"], NS);
        assert_eq!(e["user"], USER);
    }
}
