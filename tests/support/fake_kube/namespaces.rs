//! Namespaces as the apiserver and its namespace controller keep them: a
//! created Namespace gets `spec.finalizers: [kubernetes]` and phase
//! `Active`; a DELETE marks it (`deletionTimestamp`, phase `Terminating`,
//! 200 with the object), and [`TERMINATING_FOR`] later every object in it
//! is deleted, then the finalizer removed and the Namespace with it. A
//! Namespace stored without the finalizer (seeded) goes at once, contents
//! first.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use serde_json::{json, Value};

use super::http::{json_response, not_found};
use super::resources::Res;
use super::store::{ObjKey, Store};
use super::Inner;

/// How long a deleted Namespace stays `Terminating`.
pub const TERMINATING_FOR: Duration = Duration::from_millis(300);

pub(super) fn on_create(obj: &mut Value) {
    if obj.pointer("/spec/finalizers").is_none() {
        obj["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    obj["status"] = json!({"phase": "Active"});
}

/// Delete every object of namespace `name`.
fn remove_contents(st: &mut Store, name: &str) {
    let inside: Vec<ObjKey> = st
        .objects
        .keys()
        .filter(|k| k.namespace == name)
        .cloned()
        .collect();
    for k in inside {
        st.delete(&k);
    }
}

pub(super) fn delete(inner: &Arc<Inner>, res: &Res, key: &ObjKey) -> Response {
    let mut st = inner.store.lock().unwrap();
    let Some(mut obj) = st.objects.get(key).cloned() else {
        return not_found(res, &key.name);
    };
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return json_response(200, &obj);
    }
    obj["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
    obj["status"] = json!({"phase": "Terminating"});
    let finalized = obj["spec"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if !finalized {
        remove_contents(&mut st, &key.name);
        st.objects.insert(key.clone(), obj.clone());
        let gone = st.delete(key).unwrap_or(obj);
        return json_response(200, &gone);
    }
    let marked = st.put(key.clone(), obj);
    let (inner, key) = (inner.clone(), key.clone());
    tokio::spawn(async move {
        tokio::time::sleep(TERMINATING_FOR).await;
        let mut st = inner.store.lock().unwrap();
        remove_contents(&mut st, &key.name);
        if let Some(mut ns) = st.objects.get(&key).cloned() {
            ns["spec"]["finalizers"] = json!([]);
            // Marked for deletion and no finalizer left: the store lets it go.
            st.put(key, ns);
        }
    });
    json_response(200, &marked)
}
