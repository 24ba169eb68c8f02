//! The service's pods as a fault selects them: the labels of its Rollout
//! (or, without one, its Deployment) and the port its pods declare.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::manifest::Workload;
use crate::kubernetes::connect::{explain, Connection, KubeError, Request};
use crate::kubernetes::fields::at;
use crate::kubernetes::watch::rollouts_resource;

/// The Workload of `obj` (a Rollout or Deployment as JSON).
pub fn workload_of(obj: &Value, display: &str, namespace: &str) -> Workload {
    let labels: BTreeMap<String, String> = at(obj, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let port = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("ports")?.as_array())
        .flatten()
        .find_map(|p| p.get("containerPort")?.as_u64())
        .and_then(|p| u16::try_from(p).ok());
    Workload {
        namespace: namespace.to_string(),
        display: display.to_string(),
        labels,
        port,
    }
}

async fn read(
    conn: &Connection,
    res: &ApiResource,
    namespace: &str,
    name: &str,
    req: Request<'_>,
) -> Result<Option<Value>, KubeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), namespace, res);
    match api.get(name).await {
        Ok(obj) => serde_json::to_value(obj)
            .map(Some)
            .map_err(|e| KubeError::Other {
                server: conn.server.clone(),
                reason: format!("cannot read {name}: {e}"),
            }),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(explain(&e, &conn.server, &req)),
    }
}

/// Rollout `name` of `namespace`, else Deployment `name`; `Ok(None)` when
/// there is neither.
pub async fn find_workload(
    conn: &Connection,
    namespace: &str,
    name: &str,
) -> Result<Option<Workload>, KubeError> {
    let rollout = Request {
        verb: "get",
        resource: "rollouts",
        group: "argoproj.io",
        namespace,
    };
    // Argo Rollouts missing answers 404 too: then look for a Deployment.
    if let Some(obj) = read(conn, &rollouts_resource(), namespace, name, rollout).await? {
        return Ok(Some(workload_of(
            &obj,
            &format!("rollout/{name}"),
            namespace,
        )));
    }
    let deployments = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apps", "v1", "Deployment"),
        "deployments",
    );
    let req = Request {
        verb: "get",
        resource: "deployments",
        group: "apps",
        namespace,
    };
    Ok(read(conn, &deployments, namespace, name, req)
        .await?
        .map(|obj| workload_of(&obj, &format!("deployment/{name}"), namespace)))
}
