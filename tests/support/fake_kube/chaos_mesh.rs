//! Playing the Chaos Mesh controller in tests: no controller runs against
//! the fake, so a test that needs a resource reported injected starts this.

use serde_json::{json, Value};
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
            for r in kube.received_matching("POST", &format!("/{plural}")) {
                let body = r.body_json();
                let (Some(name), Some(ns)) =
                    (body["metadata"]["name"].as_str(), r.path.split('/').nth(5))
                else {
                    continue;
                };
                let key = ObjKey::new(GV, plural, ns, name);
                if kube.get(&key).is_some_and(|o| o.get("status").is_none()) {
                    kube.set_status(&key, injected_status());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
}
