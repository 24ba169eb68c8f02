//! `POST` to a collection: create an object as the apiserver does (201 with
//! the stored object; 409 `AlreadyExists`; 400 when the body's kind or
//! namespace does not fit the URL; 422 without a name). `.status` sent with
//! a create is dropped for kinds with a status subresource, as the
//! apiserver does.

use axum::response::Response;
use serde_json::{json, Value};

use super::http::{details, json_response, status, Req};
use super::resources::Res;
use super::store::ObjKey;
use super::Inner;

pub(super) fn create(inner: &Inner, res: &Res, ns: &str, req: &Req) -> Response {
    let mut obj: Value = match serde_json::from_str(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return status(400, "BadRequest", "the body is not an object", None),
        Err(e) => {
            let msg = format!("error decoding the request body: {e}");
            return status(400, "BadRequest", &msg, None);
        }
    };
    let (api_version, kind) = (
        obj["apiVersion"].as_str().unwrap_or_default().to_string(),
        obj["kind"].as_str().unwrap_or_default().to_string(),
    );
    if api_version != res.group_version() || kind != res.kind {
        let msg = format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.group_version()
        );
        return status(400, "BadRequest", &msg, None);
    }
    let Some(name) = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        let msg = format!(
            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
            kind
        );
        return status(
            422,
            "Invalid",
            &msg,
            Some(json!({"group": res.group, "kind": kind})),
        );
    };
    let sent_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    if sent_ns.is_some_and(|s| s != ns) {
        return status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            None,
        );
    }
    let mut st = inner.store.lock().unwrap();
    let key = ObjKey::new(&res.group_version(), res.plural, ns, &name);
    if st.objects.contains_key(&key) {
        let msg = format!("{} \"{name}\" already exists", res.qualified());
        return status(409, "AlreadyExists", &msg, Some(details(&name, res)));
    }
    if res.has_status() {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    let meta = &mut obj["metadata"];
    if res.namespaced {
        meta["namespace"] = json!(ns);
    }
    meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", st.rv + 1));
    meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    meta["generation"] = json!(1);
    if res.kind == "Namespace" {
        super::namespaces::on_create(&mut obj);
    }
    let stored = st.put(key, obj);
    json_response(201, &stored)
}
