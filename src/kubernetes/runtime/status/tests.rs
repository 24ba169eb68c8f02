//! Environment status from the upstream objects of one aborted canary (its
//! Rollout, ReplicaSets, pod and AnalysisRun, as Argo's plugin tests hold them).
#![cfg(test)] // test code only

use super::*;
use crate::domain::environment::InstancePhase;
use crate::kubernetes::fixture::fixture;

const NAME: &str = "rollout-background-analysis";

fn target() -> EnvTarget {
    EnvTarget {
        env: "staging".into(),
        namespace: "default".into(),
        rollout: NAME.into(),
        address: String::new(),
    }
}

fn put(map: &mut BTreeMap<String, Value>, path: &str) {
    let obj = fixture(path);
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    map.insert(name, obj);
}

fn aborted_store() -> NamespaceStore {
    let mut s = NamespaceStore {
        rollouts_synced: true,
        ..NamespaceStore::default()
    };
    put(&mut s.rollouts, "argo-rollouts/rollout-canary-aborted.yaml");
    put(&mut s.replicasets, "core/replicaset-aborted-stable.yaml");
    put(&mut s.replicasets, "core/replicaset-aborted-canary.yaml");
    put(&mut s.pods, "core/pod-rollout-aborted-stable-running.yaml");
    // A pod of another Rollout in the same namespace is not ours.
    put(&mut s.pods, "core/pod-rollout-canary-running.yaml");
    put(
        &mut s.runs,
        "argo-rollouts/analysisrun-failed-web-metric.yaml",
    );
    s
}

#[test]
fn an_aborted_canary_shows_its_reason_versions_and_pods() {
    let store = aborted_store();
    let env = environment_status(&target(), &store, 5);
    assert_eq!(
        env.health,
        Health::Aborted(
            "metric \"web\" assessed Failed due to failed (1) > failureLimit (0)".into()
        )
    );
    assert_eq!(env.step, Some((0, 2)));
    // The stable image comes from the stable ReplicaSet; the canary's from the template.
    assert_eq!(env.traffic.stable, Some(Version::new("blue")));
    assert_eq!(env.traffic.canary, Some(Version::new("yellow")));
    assert_eq!(env.traffic.canary_weight, 0);
    let o = env.observed.as_ref().unwrap();
    assert_eq!(o.set_weight, Some(0));
    assert_eq!(o.object, format!("rollout {NAME} in default"));
    let stable = o.stable.as_ref().unwrap();
    assert_eq!(stable.hash, "7d84d44bb8");
    assert_eq!(stable.image.as_deref(), Some("argoproj/rollouts-demo:blue"));
    let canary = o.canary.as_ref().unwrap();
    assert_eq!(canary.hash, "db976bc44");
    assert_eq!(
        canary.image.as_deref(),
        Some("argoproj/rollouts-demo:yellow")
    );
    assert_eq!((o.ready, o.desired), (1, 1));
    assert_eq!(env.ready_desired(), (1, 1));
    assert_eq!(o.stale, None);
    assert_eq!(env.instances.len(), 1);
    assert_eq!(env.instances[0].phase, InstancePhase::Ready);
    assert_eq!(env.last_change, 5);
    assert_eq!(
        store.latest_run(NAME).unwrap()["metadata"]["name"],
        "rollout-background-analysis-db976bc44-2"
    );
}

#[test]
fn a_degraded_watch_keeps_the_data_and_marks_it_stale() {
    let mut store = aborted_store();
    store.problem = Some("API server unreachable".into());
    let env = environment_status(&target(), &store, 0);
    assert!(matches!(env.health, Health::Aborted(_)));
    assert_eq!(
        env.observed.unwrap().stale.as_deref(),
        Some("API server unreachable")
    );
}

#[test]
fn a_missing_rollout_is_named_once_listed() {
    let mut store = NamespaceStore::default();
    assert_eq!(
        environment_status(&target(), &store, 0).health,
        Health::Unknown
    );
    store.rollouts_synced = true;
    let Health::Down(why) = environment_status(&target(), &store, 0).health else {
        panic!("not down")
    };
    assert!(
        why.starts_with(&format!("no Rollout \"{NAME}\" in namespace default")),
        "{why}"
    );
    store.problem = Some("Argo Rollouts is not installed".into());
    assert_eq!(
        environment_status(&target(), &store, 0).health,
        Health::Down("Argo Rollouts is not installed".into())
    );
}

#[test]
fn the_router_address_is_the_configured_one() {
    let store = aborted_store();
    assert_eq!(environment_status(&target(), &store, 0).router_addr, "");
    let with = EnvTarget {
        address: "shop.local:8080".into(),
        ..target()
    };
    assert_eq!(
        environment_status(&with, &store, 0).router_addr,
        "shop.local:8080"
    );
    // Also while the Rollout is missing: the address is the config's.
    let empty = NamespaceStore::default();
    assert_eq!(
        environment_status(&with, &empty, 0).router_addr,
        "shop.local:8080"
    );
}
