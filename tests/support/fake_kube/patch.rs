//! `PATCH` on an object or its `/status`: merge patch, JSON patch,
//! server-side apply (applied as a merge; `fieldManager` required), and
//! strategic merge for built-in kinds (applied as a merge too).

use axum::response::Response;
use serde_json::{json, Value};

use super::http::{details, json_response, not_found, status, Req};
use super::resources::Res;
use super::store::{self, ObjKey};
use super::Inner;

pub(super) fn patch(
    inner: &Inner,
    res: &Res,
    key: &ObjKey,
    to_status: bool,
    req: &Req,
) -> Response {
    let ct = req
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let mut st = inner.store.lock().unwrap();
    let current = st.objects.get(key).cloned();
    let bad = |e: String| status(400, "BadRequest", &e, None);
    let mut patched = current.clone().unwrap_or_else(|| json!({}));
    let patch_doc: Value = match ct.as_str() {
        "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json" => match serde_json::from_str(&req.body) {
            Ok(v) => v,
            Err(e) => return bad(format!("error decoding patch: {e}")),
        },
        "application/apply-patch+yaml" => {
            if req.query.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return status(
                    400,
                    "BadRequest",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    None,
                );
            }
            match store::parse_document("apply.yaml", &req.body) {
                Ok(v) => v,
                Err(e) => return bad(e),
            }
        }
        _ => return unsupported(),
    };
    let built_in = res.group.is_empty() || res.group == "apps";
    if ct == "application/strategic-merge-patch+json" && !built_in {
        return unsupported();
    }
    let creates = ct == "application/apply-patch+yaml" && !to_status;
    if current.is_none() && !creates {
        return not_found(res, &key.name);
    }
    if ct == "application/json-patch+json" {
        if let Err(e) = store::json_patch(&mut patched, &patch_doc) {
            return status(422, "Invalid", &e, Some(details(&key.name, res)));
        }
    } else {
        let sent_rv = patch_doc
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        let now_rv = current
            .as_ref()
            .and_then(|c| c.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str);
        if let (Some(sent), Some(now)) = (sent_rv, now_rv) {
            if sent != now {
                let msg = format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    res.qualified(),
                    key.name
                );
                return status(409, "Conflict", &msg, Some(details(&key.name, res)));
            }
        }
        store::merge_patch(&mut patched, &patch_doc);
    }
    let Some(old) = current else {
        // Server-side apply creating the object.
        patched["metadata"]["name"] = json!(key.name);
        if !key.namespace.is_empty() {
            patched["metadata"]["namespace"] = json!(key.namespace);
        }
        let created = st.put(key.clone(), patched);
        return json_response(201, &created);
    };
    let mut new = if to_status {
        let mut n = old.clone();
        match patched.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Some(o) = n.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        n
    } else {
        let mut n = patched;
        if res.has_status() {
            match old.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        n
    };
    // Identity and the server-owned fields stay.
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        match old.pointer(&format!("/metadata/{f}")) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove(f);
                }
            }
        }
    }
    if new == old {
        // A no-op write: no new resourceVersion, no event (as Kubernetes).
        return json_response(200, &old);
    }
    if !to_status && new.get("spec") != old.get("spec") {
        if let Some(g) = old.pointer("/metadata/generation").and_then(Value::as_i64) {
            new["metadata"]["generation"] = json!(g + 1);
        }
    }
    let stored = st.put(key.clone(), new);
    json_response(200, &stored)
}

fn unsupported() -> Response {
    status(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        Some(json!({})),
    )
}
