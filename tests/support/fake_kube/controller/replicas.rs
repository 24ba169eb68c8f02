//! ReplicaSets and Pods of a Rollout: the pod-template hash, the
//! ReplicaSets it controls, and Pods created or deleted to match each
//! ReplicaSet's count (ready at once).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::super::store::{ObjKey, Store};
use super::{now_rfc3339, Mem};

pub(super) const HASH_LABEL: &str = "rollouts-pod-template-hash";
pub(super) const REVISION: &str = "rollout.argoproj.io/revision";
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A 10-character hash of a pod template, in Kubernetes' safe alphabet.
pub(super) fn pod_hash(template: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..10)
        .map(|i| SAFE[((h >> (i * 6)) % SAFE.len() as u64) as usize] as char)
        .collect()
}

/// `template` without the hash label.
pub(super) fn bare(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    t
}

fn controlled_by(obj: &Value, kind: &str, name: &str, uid: Option<&str>) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r["controller"] == json!(true)
                    && r["kind"] == kind
                    && match uid {
                        Some(u) => r["uid"] == u,
                        None => r["name"] == name,
                    }
            })
        })
}

/// The ReplicaSets `ro` controls: hash -> key.
pub(super) fn owned(st: &Store, ro: &Value, ns: &str) -> BTreeMap<String, ObjKey> {
    let name = ro["metadata"]["name"].as_str().unwrap_or_default();
    let uid = ro["metadata"]["uid"].as_str();
    st.objects
        .iter()
        .filter(|(k, o)| {
            k.plural == "replicasets" && k.namespace == ns && controlled_by(o, "Rollout", name, uid)
        })
        .filter_map(|(k, o)| {
            let hash = o
                .pointer("/metadata/labels")
                .and_then(|l| l.get(HASH_LABEL))?
                .as_str()?;
            Some((hash.to_string(), k.clone()))
        })
        .collect()
}

pub(super) fn revision_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn owner(kind: &str, obj: &Value, api_version: &str) -> Value {
    json!([{
        "apiVersion": api_version, "kind": kind, "blockOwnerDeletion": true, "controller": true,
        "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"].as_str().unwrap_or_default(),
    }])
}

/// Create (or re-annotate) the ReplicaSet of `hash` at `revision`.
pub(super) fn ensure_rs(
    st: &mut Store,
    ro: &Value,
    ns: &str,
    hash: &str,
    template: &Value,
    revision: u64,
) -> ObjKey {
    let name = format!(
        "{}-{hash}",
        ro["metadata"]["name"].as_str().unwrap_or_default()
    );
    let key = ObjKey::new("apps/v1", "replicasets", ns, &name);
    let mut rs = match st.objects.get(&key) {
        Some(rs) => rs.clone(),
        None => {
            let mut t = template.clone();
            t["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = ro
                .pointer("/spec/selector/matchLabels")
                .cloned()
                .unwrap_or(json!({}));
            selector[HASH_LABEL] = json!(hash);
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"),
                    "generation": 1, "creationTimestamp": now_rfc3339(),
                    "labels": t["metadata"]["labels"].clone(), "annotations": {},
                    "ownerReferences": owner("Rollout", ro, "argoproj.io/v1alpha1")},
                "spec": {"replicas": 0, "selector": {"matchLabels": selector}, "template": t},
                "status": {"replicas": 0},
            })
        }
    };
    let before = rs.clone();
    rs["metadata"]["annotations"][REVISION] = json!(revision.to_string());
    if rs != before || !st.objects.contains_key(&key) {
        st.put(key.clone(), rs);
    }
    key
}

/// Scale each owned ReplicaSet to its count (others to 0) and make its
/// Pods match; returns the ready Pods per hash.
pub(super) fn scale(
    st: &mut Store,
    mem: &mut Mem,
    ro: &Value,
    ns: &str,
    counts: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut ready = BTreeMap::new();
    for (hash, key) in owned(st, ro, ns) {
        let want = counts.get(&hash).copied().unwrap_or(0);
        let Some(mut rs) = st.objects.get(&key).cloned() else {
            continue;
        };
        let rs_name = key.name.clone();
        let mut pods: Vec<ObjKey> = st
            .objects
            .iter()
            .filter(|(k, o)| {
                k.plural == "pods"
                    && k.namespace == ns
                    && controlled_by(o, "ReplicaSet", &rs_name, None)
            })
            .map(|(k, _)| k.clone())
            .collect();
        while (pods.len() as u64) > want {
            if let Some(k) = pods.pop() {
                st.delete(&k);
            }
        }
        while (pods.len() as u64) < want {
            mem.pod_seq += 1;
            pods.push(create_pod(st, &rs, mem.pod_seq));
        }
        let before = rs.clone();
        rs["spec"]["replicas"] = json!(want);
        rs["status"] = json!({"replicas": want, "fullyLabeledReplicas": want, "readyReplicas": want,
            "availableReplicas": want, "observedGeneration": rs["metadata"]["generation"].clone()});
        if rs != before {
            st.put(key, rs);
        }
        ready.insert(hash, want);
    }
    ready
}

fn create_pod(st: &mut Store, rs: &Value, seq: u64) -> ObjKey {
    let ns = rs["metadata"]["namespace"].as_str().unwrap_or_default();
    let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
    let suffix: String = (0..5)
        .map(|i| SAFE[((seq >> (i * 4)) % SAFE.len() as u64) as usize] as char)
        .collect();
    let name = format!("{rs_name}-{suffix}");
    let t = &rs["spec"]["template"];
    let now = now_rfc3339();
    let statuses: Vec<Value> = t["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "ready": true, "started": true,
            "restartCount": 0, "state": {"running": {"startedAt": now}}})
                })
                .collect()
        })
        .unwrap_or_default();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "creationTimestamp": now,
            "labels": t["metadata"]["labels"].clone(), "ownerReferences": owner("ReplicaSet", rs, "apps/v1")},
        "spec": t["spec"].clone(),
        "status": {"phase": "Running", "startTime": now, "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]},
    });
    let key = ObjKey::new("v1", "pods", ns, &name);
    st.put(key.clone(), pod);
    key
}

/// Delete every Pod of the Rollout's ReplicaSets (a restart); the next
/// scale creates new ones.
pub(super) fn delete_pods(st: &mut Store, ro: &Value, ns: &str) {
    let names: Vec<String> = owned(st, ro, ns).into_values().map(|k| k.name).collect();
    let pods: Vec<ObjKey> = st
        .objects
        .iter()
        .filter(|(k, o)| {
            k.plural == "pods"
                && k.namespace == ns
                && names
                    .iter()
                    .any(|n| controlled_by(o, "ReplicaSet", n, None))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in pods {
        st.delete(&k);
    }
}
