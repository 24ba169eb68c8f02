//! Chaos on the Kubernetes runtime: faults as Chaos Mesh resources, made
//! through the fault engine (journal first, undo, reconcile after a crash),
//! against the FAKE API server in `tests/support/fake_kube/`. No Chaos Mesh
//! controller runs here: where a test needs one to report a fault injected,
//! it writes the resource's status itself, as the controller would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

#[path = "kube_chaos/orphans.rs"]
mod orphans;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::domain::chaos::{ExperimentState, FaultParams, ScenarioKind};
use blissful_infra::kubernetes::connect::Target;
use blissful_infra::kubernetes::runtime::{ChaosSettings, EnvTarget, KubeSettings, JOURNAL_FILE};
use blissful_infra::kubernetes::KubernetesRuntime;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, RuntimeEvent, Support};
use serde_json::{json, Value};
use support::fake_kube::chaos_mesh::{
    injected_status, recover_after, report_injected, GV, RECORDS_FINALIZER,
};
use support::fake_kube::{FakeKube, ObjKey, Rule};

const NS: &str = "shop";
const ROLLOUT: &str = "rollouts-demo";
const WAIT: Duration = Duration::from_secs(20);

fn settings(kube: &FakeKube) -> KubeSettings {
    KubeSettings {
        target: Target::Url(kube.url()),
        envs: vec![EnvTarget {
            env: "staging".into(),
            namespace: NS.into(),
            rollout: ROLLOUT.into(),
            address: String::new(),
        }],
    }
}

fn deps() -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([
        (
            "database".to_string(),
            BTreeMap::from([("app".to_string(), "postgres".to_string())]),
        ),
        (
            "kafka".to_string(),
            BTreeMap::from([("app".to_string(), "kafka".to_string())]),
        ),
    ])
}

async fn start(
    kube: &FakeKube,
    state: &Path,
    dependencies: BTreeMap<String, BTreeMap<String, String>>,
) -> Arc<KubernetesRuntime> {
    let chaos = ChaosSettings {
        journal: state.join(JOURNAL_FILE),
        dependencies,
        slo: Default::default(),
    };
    let rt = KubernetesRuntime::start_with_chaos(settings(kube), Some(chaos))
        .await
        .unwrap();
    assert!(rt.wait_settled(WAIT).await);
    rt
}

fn actor() -> Actor {
    Actor::current("test")
}

fn journal(state: &Path) -> Value {
    match std::fs::read_to_string(state.join(JOURNAL_FILE)) {
        Ok(t) => serde_json::from_str(&t).unwrap(),
        Err(_) => json!({"faults": []}),
    }
}

fn chaos_key(plural: &str, name: &str) -> ObjKey {
    ObjKey::new(GV, plural, NS, name)
}

/// The bodies of every create of `plural`, in order.
fn created(kube: &FakeKube, plural: &str) -> Vec<Value> {
    kube.received_matching("POST", &format!("/namespaces/{NS}/{plural}"))
        .iter()
        .map(|r| r.body_json())
        .collect()
}

/// Check the documents with validate-manifests (skipped where it cannot run).
fn validate_all(docs: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    for (i, d) in docs.iter().enumerate() {
        // JSON is YAML.
        std::fs::write(dir.path().join(format!("chaos-{i}.yaml")), d.to_string()).unwrap();
    }
    match support::validate::validate(&[dir.path()], &[]) {
        Ok(o) => {
            let out = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(o.status.success(), "validate-manifests:\n{out}");
            assert_eq!(out.matches("OK ").count(), docs.len(), "{out}");
        }
        Err(why) => eprintln!("SKIPPED validate-manifests: {why}"),
    }
}

/// The next log line that contains `want`.
async fn wait_log(rx: &mut tokio::sync::mpsc::Receiver<RuntimeEvent>, want: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no log line with {want:?}"))
            .unwrap();
        if let RuntimeEvent::Log { line } = ev {
            if line.text.contains(want) {
                return line.text.to_string();
            }
        }
    }
}

#[tokio::test]
async fn each_scenario_creates_its_chaos_mesh_resource_and_undo_deletes_it() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), deps()).await;
    let caps = rt.capabilities();
    for k in ScenarioKind::every() {
        assert_eq!(caps.scenarios.get(k.name()), Some(&Support::Yes), "{k}");
    }
    // (scenario, plural, spec fields that must be there)
    let cases: Vec<(ScenarioKind, &str, Value)> = vec![
        (
            ScenarioKind::NetworkLatency,
            "networkchaos",
            json!({"action": "delay", "delay": {"latency": "500ms"}}),
        ),
        (
            ScenarioKind::PacketLoss,
            "networkchaos",
            json!({"action": "loss", "loss": {"loss": "50"}}),
        ),
        (
            ScenarioKind::NetworkPartition,
            "networkchaos",
            json!({"action": "loss", "loss": {"loss": "50"}}),
        ),
        (
            ScenarioKind::CpuStress,
            "stresschaos",
            json!({"stressors": {"cpu": {"workers": 2, "load": 100}}}),
        ),
        (
            ScenarioKind::MemoryPressure,
            "stresschaos",
            json!({"stressors": {"memory": {"workers": 1, "size": "64MiB"}}}),
        ),
        (
            ScenarioKind::DnsFailure,
            "dnschaos",
            json!({"action": "error"}),
        ),
        (
            ScenarioKind::ErrorInjection,
            "httpchaos",
            json!({"target": "Response", "port": 8080, "replace": {"code": 503}}),
        ),
        (
            ScenarioKind::ConnectionDrop,
            "httpchaos",
            json!({"target": "Request", "abort": true}),
        ),
        (
            ScenarioKind::DbLatency,
            "networkchaos",
            json!({"action": "delay", "direction": "to",
                   "target": {"mode": "all", "selector": {"namespaces": [NS], "labelSelectors": {"app": "postgres"}}}}),
        ),
        (
            ScenarioKind::DbDown,
            "podchaos",
            json!({"action": "pod-failure", "mode": "all",
                   "selector": {"namespaces": [NS], "labelSelectors": {"app": "postgres"}}}),
        ),
        (
            ScenarioKind::KafkaDown,
            "podchaos",
            json!({"action": "pod-failure",
                   "selector": {"namespaces": [NS], "labelSelectors": {"app": "kafka"}}}),
        ),
    ];
    let params = FaultParams {
        duration_secs: 120,
        latency_ms: 500,
        rate: 0.5,
        cpu_workers: 2,
        memory_mib: 64,
        ..FaultParams::default()
    };
    let mut sent = Vec::new();
    for (kind, plural, want) in cases {
        let before = created(&kube, plural).len();
        let x = rt
            .inject(&actor(), "staging", kind, params.clone())
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(x.state, ExperimentState::Running);
        let bodies = created(&kube, plural);
        assert_eq!(bodies.len(), before + 1, "{kind}");
        let body = bodies.last().unwrap().clone();
        let name = format!("blissful-{}", x.id);
        assert_eq!(body["metadata"]["name"], name.as_str(), "{kind}");
        assert_eq!(
            body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "blissful-infra"
        );
        assert_eq!(body["spec"]["duration"], "120s", "{kind}");
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&body["spec"][k], v, "{kind}: spec.{k} in {body}");
        }
        if plural != "podchaos" || kind == ScenarioKind::PodKill {
            assert_eq!(
                body["spec"]["selector"],
                json!({"namespaces": [NS], "labelSelectors": {"app": ROLLOUT}}),
                "{kind}"
            );
        }
        let key = chaos_key(plural, &name);
        assert!(kube.get(&key).is_some(), "{kind}: not stored");
        // The undo step was journalled with the fault.
        let j = journal(state.path());
        let rec = j["faults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == x.id.as_str())
            .unwrap_or_else(|| panic!("{kind}: not journalled: {j}"))
            .clone();
        assert_eq!(rec["backend"], "chaos-mesh");
        assert_eq!(
            rec["undo"][0],
            json!({"step": "delete", "kind": body["kind"], "name": name, "namespace": NS})
        );
        // Undo deletes the resource and the record.
        rt.undo(&actor(), &x.id).await.unwrap();
        assert!(kube.get(&key).is_none(), "{kind}: still there after undo");
        assert!(
            !journal(state.path()).to_string().contains(&x.id),
            "{kind}: journal keeps {}",
            x.id
        );
        let deletes = kube.received_matching("DELETE", &format!("/{plural}/{name}"));
        assert_eq!(deletes.len(), 1, "{kind}");
        sent.push(body);
    }
    validate_all(&sent);
}

#[tokio::test]
async fn pod_kill_is_deleted_once_chaos_mesh_reports_the_kill() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let controller = report_injected(&kube, "podchaos");
    let x = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::PodKill,
            FaultParams::default(),
        )
        .await
        .unwrap();
    controller.abort();
    // One-shot: recovery is watched from the kill on.
    assert_eq!(x.state, ExperimentState::Recovering);
    let body = created(&kube, "podchaos").pop().unwrap();
    assert_eq!(body["kind"], "PodChaos");
    assert_eq!(body["spec"]["action"], "pod-kill");
    assert_eq!(body["spec"]["mode"], "one");
    assert_eq!(
        body["spec"]["selector"]["labelSelectors"],
        json!({"app": ROLLOUT})
    );
    assert_eq!(body["spec"]["duration"], "30s");
    let name = format!("blissful-{}", x.id);
    assert!(kube.get(&chaos_key("podchaos", &name)).is_none());
    assert_eq!(
        kube.received_matching("DELETE", &format!("/podchaos/{name}"))
            .len(),
        1
    );
    assert!(!journal(state.path()).to_string().contains(&x.id));
    validate_all(&[body]);
    // The dependency scenarios say what is missing.
    let caps = rt.capabilities();
    let Some(Support::No(why)) = caps.scenarios.get("db-latency") else {
        panic!("db-latency offered without kubernetes.dependencies");
    };
    assert!(why.contains("kubernetes.dependencies.database"), "{why}");
    let err = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::DbDown,
            FaultParams::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Refused(_)), "{err}");
}

#[tokio::test]
async fn a_fault_left_by_a_crash_is_deleted_at_the_next_start() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let x = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::CpuStress,
            FaultParams::default(),
        )
        .await
        .unwrap();
    let key = chaos_key("stresschaos", &format!("blissful-{}", x.id));
    assert!(kube.get(&key).is_some());
    // The process "dies": no shutdown, and its record names a dead owner.
    drop(rt);
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let path = state.path().join(JOURNAL_FILE);
    let mut j = journal(state.path());
    j["faults"][0]["owner"] = json!({"pid": pid, "start_time": null, "cmdline": []});
    std::fs::write(&path, serde_json::to_vec_pretty(&j).unwrap()).unwrap();
    assert!(
        kube.get(&key).is_some(),
        "Chaos Mesh keeps it until its duration"
    );

    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    assert!(kube.get(&key).is_none(), "the leftover was not deleted");
    let lines = rt.reconciled_faults();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("leftover cpu-stress"), "{lines:?}");
    assert!(
        lines[0].contains("deleted StressChaos/blissful-"),
        "{lines:?}"
    );
    assert_eq!(journal(state.path())["faults"], json!([]));
}

#[tokio::test]
async fn a_missing_chaos_mesh_is_refused_with_how_to_install_it() {
    let kube = FakeKube::start_hiding(&["chaos-mesh.org"]).await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let err = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::NetworkLatency,
            FaultParams::default(),
        )
        .await
        .unwrap_err();
    let RuntimeError::Refused(why) = &err else {
        panic!("not a refusal: {err:?}");
    };
    assert!(why.contains("Chaos Mesh is not installed in"), "{why}");
    assert!(why.contains(&kube.url()), "{why}");
    assert!(why.contains("helm install chaos-mesh"), "{why}");
    assert!(why.contains("chaos.tool: builtin"), "{why}");
    assert!(kube.received_matching("POST", "").is_empty());
    assert_eq!(journal(state.path())["faults"], json!([]));
    // A create that meets the 404 (the CRDs removed in between) says the same.
    let (code, body) = support::fake_kube::client::get_json(
        &kube,
        &format!("/apis/{GV}/namespaces/{NS}/networkchaos"),
    )
    .await;
    assert_eq!(code, 404);
    support::fake_kube::client::assert_status(&body, 404, "NotFound");
}

#[tokio::test]
async fn forbidden_names_the_verb_the_resource_and_the_namespace() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    kube.add_rule(Rule::forbid("dev", "create", "networkchaos", Some(NS)));
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let err = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::PacketLoss,
            FaultParams::default(),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("forbidden: cannot create networkchaos.chaos-mesh.org in shop"),
        "{text}"
    );
    // Nothing was made, so nothing is left in the journal.
    assert_eq!(journal(state.path())["faults"], json!([]));
}

#[tokio::test]
async fn the_resource_status_is_reported_and_a_failure_surfaced() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let mut rx = rt.subscribe().await.unwrap();
    let x = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::NetworkLatency,
            FaultParams::default(),
        )
        .await
        .unwrap();
    let status = rt.status().await.unwrap();
    assert_eq!(status[0].faults.len(), 1);
    assert_eq!(status[0].faults[0].id, x.id);
    let key = chaos_key("networkchaos", &format!("blissful-{}", x.id));
    kube.set_status(&key, injected_status());
    let line = wait_log(&mut rx, "injected").await;
    assert!(
        line.contains(&format!("NetworkChaos/blissful-{}", x.id)),
        "{line}"
    );
    let mut failed = injected_status();
    failed["conditions"][1]["status"] = json!("False");
    failed["experiment"]["containerRecords"] = json!([{
        "id": "shop/rollouts-demo-1",
        "injectedCount": 0, "recoveredCount": 0, "phase": "Not Injected", "selectorKey": ".",
        "events": [{"type": "Failed", "operation": "Apply",
                    "message": "unable to flush ip sets", "timestamp": "2026-01-01T00:00:00Z"}]
    }]);
    kube.set_status(&key, failed);
    let line = wait_log(&mut rx, "failed:").await;
    assert!(line.contains("unable to flush ip sets"), "{line}");
    // Shutdown removes what this process made.
    rt.shutdown().await;
    assert!(kube.get(&key).is_none());
}

#[tokio::test]
async fn the_fake_creates_the_upstream_chaos_objects_as_an_apiserver_does() {
    use support::fake_kube::client::{assert_status, get_json, post_json};
    use support::fake_kube::read_fixture;
    let kube = FakeKube::start().await;
    for (rel, plural) in [
        ("chaos-mesh/podchaos-pod-kill.yaml", "podchaos"),
        ("chaos-mesh/networkchaos-delay.yaml", "networkchaos"),
        ("chaos-mesh/stresschaos-cpu.yaml", "stresschaos"),
        ("chaos-mesh/dnschaos.yaml", "dnschaos"),
        ("chaos-mesh/httpchaos-patch-response.yaml", "httpchaos"),
    ] {
        let obj = read_fixture(rel);
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let path = format!("/apis/{GV}/namespaces/{NS}/{plural}");
        let (code, made) = post_json(&kube, &path, &obj).await;
        assert_eq!(code, 201, "{rel}: {made}");
        assert_eq!(made["spec"], obj["spec"], "{rel}");
        assert_eq!(made["metadata"]["namespace"], NS);
        assert!(made["metadata"]["resourceVersion"].is_string());
        let (code, again) = post_json(&kube, &path, &obj).await;
        assert_eq!(code, 409, "{rel}");
        assert_status(&again, 409, "AlreadyExists");
        assert_eq!(
            again["message"],
            format!("{plural}.chaos-mesh.org \"{name}\" already exists")
        );
        let (code, list) = get_json(&kube, &path).await;
        assert_eq!(code, 200);
        assert_eq!(list["items"][0]["metadata"]["name"], name.as_str());
        assert!(kube.delete(&chaos_key(plural, &name)).is_some());
        let (code, gone) = get_json(&kube, &format!("{path}/{name}")).await;
        assert_eq!(code, 404);
        assert_status(&gone, 404, "NotFound");
    }
    // A body of another kind than the URL names is a bad request.
    let (code, bad) = post_json(
        &kube,
        &format!("/apis/{GV}/namespaces/{NS}/podchaos"),
        &read_fixture("chaos-mesh/dnschaos.yaml"),
    )
    .await;
    assert_eq!(code, 400);
    assert_status(&bad, 400, "BadRequest");
}

#[tokio::test]
async fn undo_waits_until_chaos_mesh_has_released_its_finalizer() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;
    let controller = recover_after(&kube, "networkchaos", Duration::from_millis(1500));
    let x = rt
        .inject(
            &actor(),
            "staging",
            ScenarioKind::NetworkLatency,
            FaultParams::default(),
        )
        .await
        .unwrap();
    let key = chaos_key("networkchaos", &format!("blissful-{}", x.id));
    let deadline = Instant::now() + WAIT;
    while kube
        .get(&key)
        .is_none_or(|o| o["metadata"]["finalizers"] != json!([RECORDS_FINALIZER]))
    {
        assert!(Instant::now() < deadline, "the finalizer was never set");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = Instant::now();
    rt.undo(&actor(), &x.id).await.unwrap();
    // The DELETE alone leaves it terminating; undo returned only once the
    // controller let go of it and the apiserver removed it.
    assert!(
        asked.elapsed() >= Duration::from_millis(1400),
        "undo returned after {:?}, before the finalizer went",
        asked.elapsed()
    );
    assert!(kube.get(&key).is_none(), "still stored after undo");
    assert!(!journal(state.path()).to_string().contains(&x.id));
    controller.abort();
}
