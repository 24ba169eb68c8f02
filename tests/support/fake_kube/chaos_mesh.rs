//! Playing the Chaos Mesh controller in tests: no controller runs against
//! the fake, so a test that needs a resource reported injected starts this.

use serde_json::{json, Value};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{FakeKube, ObjKey};

pub const GV: &str = "chaos-mesh.org/v1alpha1";

/// The status Chaos Mesh writes once every selected pod has the fault.
pub fn injected_status() -> Value {
    json!({
        "conditions": [
            {"type": "Selected", "status": "True"},
            {"type": "AllInjected", "status": "True"},
            {"type": "AllRecovered", "status": "False"},
            {"type": "Paused", "status": "False"}
        ],
        "experiment": {"desiredPhase": "Run"}
    })
}

/// Report every new resource of `plural` injected, until aborted.
pub fn report_injected(kube: &FakeKube, plural: &'static str) -> JoinHandle<()> {
    let kube = kube.clone();
    tokio::spawn(async move {
        loop {
            for key in created_keys(&kube, plural) {
                if kube.get(&key).is_some_and(|o| o.get("status").is_none()) {
                    kube.set_status(&key, injected_status());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
}

/// The finalizer Chaos Mesh puts on every resource it acts on.
pub const RECORDS_FINALIZER: &str = "chaos-mesh/records";

/// Play the controller's recovery: every resource of `plural` gets Chaos
/// Mesh's finalizer once created, and loses it `recovery` after its
/// deletion was asked for (then the apiserver removes it). Until aborted.
pub fn recover_after(kube: &FakeKube, plural: &'static str, recovery: Duration) -> JoinHandle<()> {
    let kube = kube.clone();
    tokio::spawn(async move {
        let mut deleting: Vec<(ObjKey, tokio::time::Instant)> = Vec::new();
        loop {
            for key in created_keys(&kube, plural) {
                let Some(mut obj) = kube.get(&key) else {
                    continue;
                };
                if obj["metadata"].get("deletionTimestamp").is_some() {
                    if !deleting.iter().any(|(k, _)| *k == key) {
                        deleting.push((key, tokio::time::Instant::now() + recovery));
                    }
                } else if obj["metadata"].get("finalizers").is_none() {
                    obj["metadata"]["finalizers"] = json!([RECORDS_FINALIZER]);
                    kube.put(obj);
                }
            }
            let now = tokio::time::Instant::now();
            for (key, _) in deleting.iter().filter(|(_, at)| *at <= now) {
                if let Some(mut obj) = kube.get(key) {
                    obj["metadata"]["finalizers"] = json!([]);
                    kube.put(obj);
                }
            }
            deleting.retain(|(_, at)| *at > now);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The keys of every resource of `plural` a client asked to create.
fn created_keys(kube: &FakeKube, plural: &str) -> Vec<ObjKey> {
    kube.received_matching("POST", &format!("/{plural}"))
        .iter()
        .filter_map(|r| {
            let body = r.body_json();
            let name = body["metadata"]["name"].as_str()?.to_string();
            let ns = r.path.split('/').nth(5)?.to_string();
            Some(ObjKey::new(GV, plural, &ns, &name))
        })
        .collect()
}
