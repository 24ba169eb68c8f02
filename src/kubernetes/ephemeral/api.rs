//! The requests of ephemeral environments: Namespaces (get, create, a
//! merge patch of the TTL, list by label, delete) and the Deployments in
//! one, as JSON, errors in plain words like every request of this adapter.

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::{json, Value};

use super::TTL_ANNOTATION;
use crate::kubernetes::connect::{explain, Connection, KubeError, Request};
use crate::kubernetes::send::FIELD_MANAGER;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn namespaces(conn: &Connection) -> Api<DynamicObject> {
    Api::all_with(
        conn.client.clone(),
        &resource("", "v1", "Namespace", "namespaces"),
    )
}

fn request<'a>(
    verb: &'a str,
    resource: &'a str,
    group: &'a str,
    namespace: &'a str,
) -> Request<'a> {
    Request {
        verb,
        resource,
        group,
        namespace,
    }
}

fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn json_of(conn: &Connection, obj: &impl serde::Serialize) -> Result<Value, KubeError> {
    serde_json::to_value(obj).map_err(|e| KubeError::Other {
        server: conn.server.clone(),
        reason: format!("cannot read the answer: {e}"),
    })
}

/// The Namespace `name`, or `None` when there is none.
pub async fn get_namespace(conn: &Connection, name: &str) -> Result<Option<Value>, KubeError> {
    match namespaces(conn).get(name).await {
        Ok(obj) => json_of(conn, &obj).map(Some),
        Err(e) if is_404(&e) => Ok(None),
        Err(e) => Err(explain(
            &e,
            &conn.server,
            &request("get", "namespaces", "", name),
        )),
    }
}

/// Create the Namespace `obj` (see [`super::namespace_object`]).
pub async fn create_namespace(conn: &Connection, obj: &Value) -> Result<Value, KubeError> {
    let name = crate::kubernetes::fields::raw(obj, &["metadata", "name"]).unwrap_or_default();
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).map_err(|e| KubeError::Other {
            server: conn.server.clone(),
            reason: format!("cannot build the Namespace: {e}"),
        })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    let made = namespaces(conn)
        .create(&params, &dynamic)
        .await
        .map_err(|e| explain(&e, &conn.server, &request("create", "namespaces", "", name)))?;
    json_of(conn, &made)
}

/// Write a new TTL into the Namespace's annotation (a merge patch).
pub async fn set_ttl(conn: &Connection, name: &str, ttl: &str) -> Result<(), KubeError> {
    let patch = json!({"metadata": {"annotations": {TTL_ANNOTATION: ttl}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    namespaces(conn)
        .patch(name, &params, &Patch::Merge(patch))
        .await
        .map_err(|e| explain(&e, &conn.server, &request("patch", "namespaces", "", name)))?;
    Ok(())
}

/// The Namespaces matching a label selector.
pub async fn list_namespaces(conn: &Connection, selector: &str) -> Result<Vec<Value>, KubeError> {
    let list = namespaces(conn)
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| {
            explain(
                &e,
                &conn.server,
                &request("list", "namespaces", "", "the cluster"),
            )
        })?;
    list.items.iter().map(|o| json_of(conn, o)).collect()
}

/// Ask for the Namespace to be deleted (the cluster then removes what is
/// in it, and it); `false` when it was already gone.
pub async fn delete_namespace(conn: &Connection, name: &str) -> Result<bool, KubeError> {
    match namespaces(conn)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_404(&e) => Ok(false),
        Err(e) => Err(explain(
            &e,
            &conn.server,
            &request("delete", "namespaces", "", name),
        )),
    }
}

/// Every Deployment in `namespace`.
pub async fn deployments(conn: &Connection, namespace: &str) -> Result<Vec<Value>, KubeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        conn.client.clone(),
        namespace,
        &resource("apps", "v1", "Deployment", "deployments"),
    );
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        explain(
            &e,
            &conn.server,
            &request("list", "deployments", "apps", namespace),
        )
    })?;
    list.items.iter().map(|o| json_of(conn, o)).collect()
}

/// Poll the Namespace `name` every `poll` until it is gone (`None`) or
/// `timeout` passes (`Some`, the Namespace as last read); `progress` is
/// called the first time it is seen still there.
pub async fn wait_gone(
    conn: &Connection,
    name: &str,
    (timeout, poll): (std::time::Duration, std::time::Duration),
    progress: &mut dyn FnMut(&Value),
) -> Result<Option<Value>, KubeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut told = false;
    loop {
        let Some(ns) = get_namespace(conn, name).await? else {
            return Ok(None);
        };
        if !told {
            progress(&ns);
            told = true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(Some(ns));
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}
