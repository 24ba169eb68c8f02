//! Asking Argo CD to sync an Application to a revision, the way Argo CD's
//! documentation shows for kubectl: a merge patch that sets the
//! Application's `operation` (who asked, and a sync of that revision with
//! the hook strategy). The Argo CD controller picks it up, syncs, and
//! clears it.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{json, Value};

use crate::kubernetes::connect::{explain, Connection, KubeError, Request};
use crate::kubernetes::fields::{clean, raw};
use crate::kubernetes::send::FIELD_MANAGER;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("Argo CD is not installed in the cluster (no applications.argoproj.io): nothing will sync the commit; apply the overlay server-side instead")]
    ArgoCdMissing,
    #[error("no Argo CD Application \"{name}\" in {namespace}: check argocd.application for this environment")]
    NoApplication { namespace: String, name: String },
    #[error("Application \"{name}\" already has an operation in progress ({phase}); wait for it, then sync again")]
    Busy { name: String, phase: String },
    #[error("{0}")]
    Kube(#[from] KubeError),
}

/// `argoproj.io/v1alpha1` `Application`, plural `applications`.
pub fn applications_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    ApiResource::from_gvk_with_plural(&gvk, "applications")
}

/// The merge patch that asks for a sync of `revision`.
pub fn sync_patch(revision: &str) -> Value {
    json!({"operation": {
        "initiatedBy": {"username": FIELD_MANAGER},
        "sync": {"revision": revision, "syncStrategy": {"hook": {}}},
    }})
}

/// An operation already requested or running, and its phase.
fn busy(app: &Value) -> Option<String> {
    if app.get("operation").is_some_and(|o| !o.is_null()) {
        return Some("requested".into());
    }
    match raw(app, &["status", "operationState", "phase"]) {
        Some(p @ ("Running" | "Terminating")) => Some(clean(p)),
        _ => None,
    }
}

/// Ask Argo CD to sync Application `name` of `namespace` to `revision`;
/// returns the Application as the patch left it.
pub async fn request_sync(
    conn: &Connection,
    namespace: &str,
    name: &str,
    revision: &str,
) -> Result<Value, SyncError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), namespace, &applications_resource());
    let req = |verb| Request {
        verb,
        resource: "applications",
        group: "argoproj.io",
        namespace,
    };
    let missing = |e: &kube::Error| match e {
        kube::Error::Api(s) if s.code == 404 => {
            Some(if s.details.as_ref().is_some_and(|d| !d.name.is_empty()) {
                SyncError::NoApplication {
                    namespace: namespace.to_string(),
                    name: clean(name),
                }
            } else {
                SyncError::ArgoCdMissing
            })
        }
        _ => None,
    };
    let current = match api.get(name).await {
        Ok(obj) => obj,
        Err(e) => {
            return Err(missing(&e).unwrap_or_else(|| explain(&e, &conn.server, &req("get")).into()))
        }
    };
    let current = serde_json::to_value(&current).map_err(|e| KubeError::Other {
        server: conn.server.clone(),
        reason: format!("cannot read the Application: {e}"),
    })?;
    if let Some(phase) = busy(&current) {
        return Err(SyncError::Busy {
            name: clean(name),
            phase,
        });
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let after = api
        .patch(name, &params, &Patch::Merge(sync_patch(revision)))
        .await
        .map_err(|e| {
            missing(&e).unwrap_or_else(|| explain(&e, &conn.server, &req("patch")).into())
        })?;
    serde_json::to_value(&after).map_err(|e| {
        SyncError::Kube(KubeError::Other {
            server: conn.server.clone(),
            reason: format!("cannot read the Application: {e}"),
        })
    })
}
