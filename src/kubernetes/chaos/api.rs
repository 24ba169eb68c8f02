//! Chaos Mesh resources on the apiserver: whether the group is served,
//! create, read and delete, with errors in plain words (a missing Chaos
//! Mesh says how to install it; a 403 names the verb, resource and
//! namespace, as every other request of this adapter does).

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
};
use serde_json::Value;

use super::manifest::{ChaosKind, Manifest, FAULT_LABEL, GROUP, MANAGED_BY, MANAGER, VERSION};
use crate::kubernetes::connect::{explain, Connection, KubeError, Request};
use crate::kubernetes::send::FIELD_MANAGER;

/// Why a request about a chaos resource failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChaosApiError {
    /// The chaos-mesh.org API group is not served: its CRDs are missing.
    #[error("Chaos Mesh is not installed in {cluster} (the apiserver serves no {GROUP}/{VERSION} API): install it (helm repo add chaos-mesh https://charts.chaos-mesh.org && helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh --create-namespace), or run this chaos with runtime: docker or sandbox (chaos.tool: builtin)")]
    Missing { cluster: String },
    #[error("{0}")]
    Kube(#[from] KubeError),
}

pub fn resource(kind: ChaosKind) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, kind.name()),
        kind.plural(),
    )
}

fn api(conn: &Connection, kind: ChaosKind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &resource(kind))
}

fn request<'a>(verb: &'a str, kind: ChaosKind, namespace: &'a str) -> Request<'a> {
    Request {
        verb,
        resource: kind.plural(),
        group: GROUP,
        namespace,
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// `Ok(())` when the apiserver serves chaos-mesh.org/v1alpha1.
pub async fn check_installed(conn: &Connection, cluster: &str) -> Result<(), ChaosApiError> {
    match conn
        .client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Err(ChaosApiError::Missing {
            cluster: cluster.to_string(),
        }),
        Err(e) => {
            let req = Request {
                verb: "get",
                resource: "the API group",
                group: GROUP,
                namespace: "the cluster",
            };
            Err(explain(&e, &conn.server, &req).into())
        }
    }
}

/// Create `m`; 404 on the group means Chaos Mesh is missing.
pub async fn create(conn: &Connection, m: &Manifest, cluster: &str) -> Result<(), ChaosApiError> {
    let obj: DynamicObject =
        serde_json::from_value(m.body.clone()).map_err(|e| KubeError::Other {
            server: conn.server.clone(),
            reason: format!("cannot encode {}/{}: {e}", m.kind.name(), m.name),
        })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api(conn, m.kind, &m.namespace).create(&params, &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s))
            if s.code == 404 && s.details.as_ref().is_none_or(|d| d.kind != "namespaces") =>
        {
            Err(ChaosApiError::Missing {
                cluster: cluster.to_string(),
            })
        }
        Err(e) => Err(explain(&e, &conn.server, &request("create", m.kind, &m.namespace)).into()),
    }
}

/// The resource as the apiserver has it, `None` when it is gone.
pub async fn get(
    conn: &Connection,
    kind: ChaosKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    match api(conn, kind, namespace).get(name).await {
        Ok(obj) => serde_json::to_value(obj)
            .map(Some)
            .map_err(|e| KubeError::Other {
                server: conn.server.clone(),
                reason: format!("cannot read {}/{name}: {e}", kind.name()),
            }),
        Err(e) if status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(explain(&e, &conn.server, &request("get", kind, namespace))),
    }
}

/// A resource blissful-infra made, as a list of the apiserver shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    pub name: String,
    /// Its `blissful-infra.io/fault` label: the fault it was made for.
    pub fault: String,
}

/// The resources of `kind` in `namespace` labelled as blissful-infra's;
/// none when the kind is not served.
pub async fn list_managed(
    conn: &Connection,
    kind: ChaosKind,
    namespace: &str,
) -> Result<Vec<Managed>, KubeError> {
    let params = ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER}"));
    match api(conn, kind, namespace).list(&params).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter_map(|o| {
                let fault = o.metadata.labels.as_ref()?.get(FAULT_LABEL)?.clone();
                Some(Managed {
                    name: crate::domain::sanitize::strip_all(&o.metadata.name?),
                    fault: crate::domain::sanitize::strip_all(&fault),
                })
            })
            .collect()),
        Err(e) if status_code(&e) == Some(404) => Ok(Vec::new()),
        Err(e) => Err(explain(&e, &conn.server, &request("list", kind, namespace))),
    }
}

/// Delete the resource; `Ok(false)` when it was already gone.
pub async fn delete(
    conn: &Connection,
    kind: ChaosKind,
    namespace: &str,
    name: &str,
) -> Result<bool, KubeError> {
    match api(conn, kind, namespace)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if status_code(&e) == Some(404) => Ok(false),
        Err(e) => Err(explain(
            &e,
            &conn.server,
            &request("delete", kind, namespace),
        )),
    }
}

/// How often a deleted resource is looked at until it is gone.
const GONE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Wait until a deleted resource is gone: Chaos Mesh keeps its finalizer
/// on it until it has recovered every pod it touched. After `within`, says
/// which finalizers still hold it.
pub async fn wait_gone(
    conn: &Connection,
    kind: ChaosKind,
    namespace: &str,
    name: &str,
    within: std::time::Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let held = match get(conn, kind, namespace, name).await {
            Ok(None) => return Ok(()),
            Ok(Some(obj)) => obj["metadata"]["finalizers"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|x| x.as_str())
                        .map(crate::domain::sanitize::strip_all)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            Err(e) => return Err(format!("{}/{name} in {namespace}: {e}", kind.name())),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{}/{name} in {namespace} is still there {}s after its deletion (finalizers: {}): Chaos Mesh has not recovered its pods yet; undo again to wait more",
                kind.name(),
                within.as_secs(),
                if held.is_empty() { "none" } else { &held }
            ));
        }
        tokio::time::sleep(GONE_POLL).await;
    }
}
