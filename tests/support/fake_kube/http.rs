//! Request handling of the fake apiserver: routing by path, the rule table,
//! get / list / watch / patch / delete, and `Status` error bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::resources::{self, Res};
use super::store::{self, Filter, ObjKey};
use super::{Deny, Inner, Received};

pub(super) fn json_response(code: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A `Status` object (`status: Failure`).
pub(super) fn status_json(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    // Field order as the apiserver writes it.
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    s["code"] = json!(code);
    s
}

pub(super) fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    json_response(code, &status_json(code, reason, message, details))
}

/// `details` as Kubernetes fills it: empty fields left out.
pub(super) fn details(name: &str, res: &Res) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !res.group.is_empty() {
        d.insert("group".into(), json!(res.group));
    }
    d.insert("kind".into(), json!(res.plural));
    Value::Object(d)
}

pub(super) fn not_found(res: &Res, name: &str) -> Response {
    let msg = format!("{} \"{name}\" not found", res.qualified());
    status(404, "NotFound", &msg, Some(details(name, res)))
}

fn no_such_resource() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) async fn handle(inner: Arc<Inner>, req: Request<hyper::body::Incoming>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    inner.received.lock().unwrap().push(Received {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
    });
    let hidden = inner.hidden();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let discovery = method == Method::GET;
    match seg.as_slice() {
        ["api"] if discovery => {
            json_response(200, &resources::api_versions(&inner.addr.to_string()))
        }
        ["api", "v1"] if discovery => json_response(
            200,
            &resources::api_resource_list(&hidden, "", "v1").unwrap_or_default(),
        ),
        ["apis"] if discovery => json_response(200, &resources::api_group_list(&hidden)),
        ["apis", g] if discovery => match resources::api_group(&hidden, g) {
            Some(doc) => json_response(200, &doc),
            None => page_not_found(),
        },
        ["apis", g, v] if discovery => match resources::api_resource_list(&hidden, g, v) {
            Some(doc) => json_response(200, &doc),
            None => page_not_found(),
        },
        ["api", "v1", rest @ ..] => {
            let req = Req {
                method,
                query,
                content_type,
                body,
            };
            resource(&inner, &hidden, "", "v1", rest, req).await
        }
        ["apis", g, v, rest @ ..] => {
            let req = Req {
                method,
                query,
                content_type,
                body,
            };
            resource(&inner, &hidden, g, v, rest, req).await
        }
        _ => page_not_found(),
    }
}

pub(super) struct Req {
    pub(super) method: Method,
    pub(super) query: BTreeMap<String, String>,
    pub(super) content_type: Option<String>,
    pub(super) body: String,
}

async fn resource(
    inner: &Arc<Inner>,
    hidden: &[String],
    group: &str,
    version: &str,
    rest: &[&str],
    req: Req,
) -> Response {
    let (ns, rest) = match rest {
        ["namespaces", ns, more @ ..] if !more.is_empty() => (*ns, more),
        _ => ("", rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(*n), None),
        [p, n, s] => (*p, Some(*n), Some(*s)),
        _ => return no_such_resource(),
    };
    let Some(res) = resources::find(hidden, group, version, plural) else {
        return no_such_resource();
    };
    if (res.namespaced && ns.is_empty() && name.is_some()) || (!res.namespaced && !ns.is_empty()) {
        return no_such_resource();
    }
    if sub.is_some_and(|s| !res.subresources.contains(&s)) {
        return no_such_resource();
    }
    let watch = matches!(
        req.query.get("watch").map(String::as_str),
        Some("1" | "true")
    );
    let verb = match (&req.method, name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if watch => "watch",
        (&Method::GET, None) => "list",
        (&Method::PATCH, _) => "patch",
        (&Method::PUT, _) => "update",
        (&Method::POST, _) => "create",
        (&Method::DELETE, _) => "delete",
        _ => "",
    };
    let rule_resource = match sub {
        Some(s) => format!("{}/{s}", res.plural),
        None => res.plural.to_string(),
    };
    let denied = inner
        .rules
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.matches(verb, &rule_resource, ns))
        .map(|r| r.deny.clone());
    if let Some(deny) = denied {
        return match deny {
            Deny::Unauthorized => status(401, "Unauthorized", "Unauthorized", None),
            Deny::Forbidden { user } => {
                let who = match name {
                    Some(n) => format!("{} \"{n}\"", res.qualified()),
                    None => res.qualified(),
                };
                let scope = if ns.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace \"{ns}\"")
                };
                let msg = format!(
                    "{who} is forbidden: User \"{user}\" cannot {verb} resource \"{rule_resource}\" in API group \"{}\" {scope}",
                    res.group
                );
                status(
                    403,
                    "Forbidden",
                    &msg,
                    Some(details(name.unwrap_or(""), res)),
                )
            }
        };
    }
    let gv = res.group_version();
    let Some(name) = name else {
        let mut filter = Filter {
            gv,
            plural: res.plural.into(),
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            ..Filter::default()
        };
        if let Some(sel) = req.query.get("labelSelector") {
            match store::parse_label_selector(sel) {
                Ok(l) => filter.labels = l,
                Err(e) => return status(400, "BadRequest", &e, None),
            }
        }
        if let Some(sel) = req.query.get("fieldSelector") {
            for part in sel.split(',').filter(|p| !p.is_empty()) {
                let (k, v, eq) = match part.split_once("!=") {
                    Some((k, v)) => (k, v, false),
                    None => match part.split_once("==").or_else(|| part.split_once('=')) {
                        Some((k, v)) => (k, v, true),
                        None => {
                            return status(
                                400,
                                "BadRequest",
                                &format!("invalid selector: '{sel}'"),
                                None,
                            )
                        }
                    },
                };
                if k != "metadata.name" && k != "metadata.namespace" {
                    let msg = format!("field label not supported: {k}");
                    return status(400, "BadRequest", &msg, None);
                }
                filter.fields.push((k.into(), v.into(), eq));
            }
        }
        return match (req.method.clone(), watch) {
            (Method::POST, _) => super::create::create(inner, res, ns, &req),
            (Method::GET, true) => super::watching::watch_stream(inner, res, filter, &req.query),
            (Method::GET, false) => list(inner, res, &filter, &req.query),
            _ => status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            ),
        };
    };
    let key = ObjKey::new(&gv, res.plural, ns, name);
    match (req.method.clone(), sub) {
        (Method::GET, Some("log")) => super::logs::serve(inner, ns, name, &req.query),
        (Method::GET, _) => match inner.store.lock().unwrap().objects.get(&key) {
            Some(obj) => json_response(200, obj),
            None => not_found(res, name),
        },
        (Method::PATCH, None | Some("status")) => {
            super::patch::patch(inner, res, &key, sub.is_some(), &req)
        }
        (Method::DELETE, None) if res.kind == "Namespace" => {
            super::namespaces::delete(inner, res, &key)
        }
        (Method::DELETE, None) => match inner.store.lock().unwrap().request_delete(&key) {
            Some(obj) => json_response(200, &obj),
            None => not_found(res, name),
        },
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        ),
    }
}

pub(super) fn expired(asked: u64, floor: u64) -> Value {
    let msg = format!("too old resource version: {asked} ({floor})");
    status_json(410, "Expired", &msg, None)
}

fn list(inner: &Inner, res: &Res, filter: &Filter, query: &BTreeMap<String, String>) -> Response {
    let st = inner.store.lock().unwrap();
    let strict = matches!(
        query.get("resourceVersionMatch").map(String::as_str),
        Some("NotOlderThan" | "Exact")
    );
    if let (true, Some(rv)) = (strict, query.get("resourceVersion")) {
        match rv.parse::<u64>() {
            Ok(n) if n < st.floor => return json_response(410, &expired(n, st.floor)),
            Ok(_) => {}
            Err(_) => {
                return status(
                    400,
                    "BadRequest",
                    &format!("invalid resource version: {rv}"),
                    None,
                )
            }
        }
    }
    let body = json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.group_version(),
        "metadata": {"resourceVersion": st.rv.to_string()},
        "items": st.list(filter),
    });
    json_response(200, &body)
}
