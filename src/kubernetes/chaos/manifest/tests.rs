use super::*;

fn workload() -> Workload {
    Workload {
        namespace: "shop-staging".into(),
        display: "rollout/web".into(),
        labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        port: Some(8080),
    }
}

fn deps(names: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                BTreeMap::from([("app".to_string(), format!("{n}-pods"))]),
            )
        })
        .collect()
}

fn one(kind: ScenarioKind, p: &FaultParams) -> Manifest {
    let mut m = manifests("f-1-abcd", kind, p, &workload(), &deps(&[])).unwrap();
    assert_eq!(m.len(), 1);
    m.remove(0)
}

#[test]
fn every_resource_is_named_labelled_and_bounded_in_time() {
    let p = FaultParams {
        duration_secs: 45,
        ..FaultParams::default()
    };
    for kind in [
        ScenarioKind::PodKill,
        ScenarioKind::NetworkLatency,
        ScenarioKind::CpuStress,
        ScenarioKind::DnsFailure,
        ScenarioKind::ErrorInjection,
    ] {
        let m = one(kind, &p);
        assert_eq!(m.name, "blissful-f-1-abcd");
        assert_eq!(m.body["metadata"]["name"], "blissful-f-1-abcd");
        assert_eq!(m.body["metadata"]["namespace"], "shop-staging");
        assert_eq!(
            m.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "blissful-infra"
        );
        assert_eq!(m.body["metadata"]["labels"][FAULT_LABEL], "f-1-abcd");
        assert_eq!(m.body["apiVersion"], "chaos-mesh.org/v1alpha1");
        assert_eq!(m.body["kind"], m.kind.name());
        assert_eq!(m.body["spec"]["duration"], "45s", "{kind}");
        assert_eq!(
            m.body["spec"]["selector"],
            json!({"namespaces": ["shop-staging"], "labelSelectors": {"app": "web"}})
        );
    }
}

#[test]
fn each_scenario_maps_to_its_kind_and_action() {
    let p = FaultParams {
        latency_ms: 500,
        rate: 0.5,
        cpu_workers: 2,
        memory_mib: 128,
        ..FaultParams::default()
    };
    let m = one(ScenarioKind::PodKill, &p);
    assert_eq!(
        (m.kind, &m.body["spec"]["action"]),
        (ChaosKind::PodChaos, &json!("pod-kill"))
    );
    assert_eq!(m.body["spec"]["mode"], "one");
    let m = one(ScenarioKind::NetworkLatency, &p);
    assert_eq!(m.kind, ChaosKind::NetworkChaos);
    assert_eq!(m.body["spec"]["delay"]["latency"], "500ms");
    let m = one(ScenarioKind::PacketLoss, &p);
    assert_eq!(m.body["spec"]["loss"]["loss"], "50");
    // The share of the partition is the rate: the seed's 50% here.
    let m = one(ScenarioKind::NetworkPartition, &p);
    assert_eq!(m.body["spec"]["loss"]["loss"], "50");
    let m = one(ScenarioKind::CpuStress, &p);
    assert_eq!(m.kind, ChaosKind::StressChaos);
    assert_eq!(
        m.body["spec"]["stressors"]["cpu"],
        json!({"workers": 2, "load": 100})
    );
    let m = one(ScenarioKind::MemoryPressure, &p);
    assert_eq!(m.body["spec"]["stressors"]["memory"]["size"], "128MiB");
    let m = one(ScenarioKind::DnsFailure, &p);
    assert_eq!(
        (m.kind, &m.body["spec"]["action"]),
        (ChaosKind::DnsChaos, &json!("error"))
    );
    let m = one(ScenarioKind::ErrorInjection, &p);
    assert_eq!(m.kind, ChaosKind::HttpChaos);
    assert_eq!(m.body["spec"]["replace"]["code"], 503);
    assert_eq!(m.body["spec"]["port"], 8080);
    let m = one(ScenarioKind::ConnectionDrop, &p);
    assert_eq!(m.body["spec"]["abort"], true);
    assert_eq!(m.body["spec"]["target"], "Request");
}

#[test]
fn http_faults_need_a_declared_port() {
    let mut w = workload();
    w.port = None;
    let err = manifests(
        "x",
        ScenarioKind::ErrorInjection,
        &FaultParams::default(),
        &w,
        &deps(&[]),
    )
    .unwrap_err();
    assert!(err.contains("declares no containerPort"), "{err}");
    w.labels.clear();
    let err = manifests(
        "x",
        ScenarioKind::PodKill,
        &FaultParams::default(),
        &w,
        &deps(&[]),
    )
    .unwrap_err();
    assert!(err.contains("matchLabels"), "{err}");
}

#[test]
fn dependency_faults_need_the_dependency_configured() {
    let p = FaultParams::default();
    let err = manifests("x", ScenarioKind::DbLatency, &p, &workload(), &deps(&[])).unwrap_err();
    assert!(err.contains("kubernetes.dependencies.database"), "{err}");
    assert!(err.contains("none is configured"), "{err}");
    let err = manifests(
        "x",
        ScenarioKind::KafkaDown,
        &p,
        &workload(),
        &deps(&["database"]),
    )
    .unwrap_err();
    assert!(err.contains("configured: database"), "{err}");
    let err = manifests(
        "x",
        ScenarioKind::DependencyTimeout,
        &p,
        &workload(),
        &deps(&[]),
    )
    .unwrap_err();
    assert!(err.contains("kubernetes.dependencies"), "{err}");
}

#[test]
fn dependency_faults_select_the_dependency_pods() {
    let p = FaultParams {
        latency_ms: 2000,
        ..FaultParams::default()
    };
    let d = deps(&["database", "kafka"]);
    let m = manifests("x", ScenarioKind::DbLatency, &p, &workload(), &d).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body["spec"]["action"], "delay");
    assert_eq!(
        m[0].body["spec"]["selector"]["labelSelectors"]["app"],
        "web"
    );
    assert_eq!(
        m[0].body["spec"]["target"]["selector"]["labelSelectors"]["app"],
        "database-pods"
    );
    let m = manifests("x", ScenarioKind::DbDown, &p, &workload(), &d).unwrap();
    assert_eq!(m[0].kind, ChaosKind::PodChaos);
    assert_eq!(m[0].body["spec"]["action"], "pod-failure");
    assert_eq!(
        m[0].body["spec"]["selector"]["labelSelectors"]["app"],
        "database-pods"
    );
    // dependency-timeout on every dependency: one resource each.
    let m = manifests("x", ScenarioKind::DependencyTimeout, &p, &workload(), &d).unwrap();
    let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["blissful-x-database", "blissful-x-kafka"]);
    assert!(m.iter().all(|m| m.body["spec"]["loss"]["loss"] == "100"));
    let one = FaultParams {
        target: "kafka".into(),
        ..p
    };
    let m = manifests("x", ScenarioKind::DependencyTimeout, &one, &workload(), &d).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].name, "blissful-x");
    let bad = BTreeMap::from([(
        "Bad_Name".to_string(),
        BTreeMap::from([("a".to_string(), "b".to_string())]),
    )]);
    let err = manifests(
        "x",
        ScenarioKind::DependencyTimeout,
        &FaultParams::default(),
        &workload(),
        &bad,
    )
    .unwrap_err();
    assert!(err.contains("lowercase"), "{err}");
}
