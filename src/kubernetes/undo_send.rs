//! Sending `undo`: read the workload, list the ReplicaSets its selector
//! matches, plan with [`super::undo`], and send the JSON patch with the
//! field manager `blissful-infra`.

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::Value;

use super::connect::{explain, Connection, KubeError, Request};
use super::send::{SendError, FIELD_MANAGER};
use super::undo::{plan_undo, selector, UndoPlan, Workload};
use super::watch::rollouts_resource;

/// What undo did, and the workload as it left it.
#[derive(Clone, Debug, PartialEq)]
pub struct UndoDone {
    pub plan: UndoPlan,
    pub object: Value,
}

impl UndoDone {
    /// One line for the user: which revision, or why nothing was sent.
    pub fn summary(&self, workload: Workload, name: &str) -> String {
        let name = super::fields::clean(name);
        match &self.plan {
            UndoPlan::Patch {
                revision,
                replica_set,
                ..
            } => format!(
                "{} \"{name}\" restored to revision {revision} (ReplicaSet {})",
                workload.noun(),
                super::fields::clean(replica_set)
            ),
            UndoPlan::Skipped { revision } => format!(
                "skipped undo: the template of {} \"{name}\" already matches revision {revision}",
                workload.noun()
            ),
        }
    }
}

fn resource(workload: Workload) -> ApiResource {
    match workload {
        Workload::Rollout => rollouts_resource(),
        Workload::Deployment => ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    }
}

fn request<'a>(workload: Workload, verb: &'a str, namespace: &'a str) -> Request<'a> {
    let (resource, group) = match workload {
        Workload::Rollout => ("rollouts", "argoproj.io"),
        Workload::Deployment => ("deployments", "apps"),
    };
    Request {
        verb,
        resource,
        group,
        namespace,
    }
}

fn other(conn: &Connection, reason: String) -> KubeError {
    KubeError::Other {
        server: conn.server.clone(),
        reason,
    }
}

/// Undo Rollout or Deployment `name` of `namespace` to `to_revision` (the
/// previous revision when `None` or 0).
pub async fn send_undo(
    conn: &Connection,
    workload: Workload,
    namespace: &str,
    name: &str,
    to_revision: Option<u32>,
) -> Result<UndoDone, SendError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), namespace, &resource(workload));
    let obj = api
        .get(name)
        .await
        .map_err(|e| explain(&e, &conn.server, &request(workload, "get", namespace)))?;
    let obj = serde_json::to_value(&obj)
        .map_err(|e| other(conn, format!("cannot read the {}: {e}", workload.noun())))?;
    let labels = selector(&obj)?;
    let rs_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apps", "v1", "ReplicaSet"),
        "replicasets",
    );
    let rs_api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), namespace, &rs_resource);
    let rs_request = Request {
        verb: "list",
        resource: "replicasets",
        group: "apps",
        namespace,
    };
    let listed = rs_api
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|e| explain(&e, &conn.server, &rs_request))?;
    let replica_sets = listed
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| other(conn, format!("cannot read the ReplicaSets: {e}")))?;
    let plan = plan_undo(workload, &obj, &replica_sets, to_revision)?;
    let UndoPlan::Patch { ops, .. } = &plan else {
        return Ok(UndoDone { plan, object: obj });
    };
    let ops =
        serde_json::from_value(ops.clone()).map_err(|e| other(conn, format!("undo patch: {e}")))?;
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let after = api
        .patch(name, &params, &Patch::<Value>::Json(ops))
        .await
        .map_err(|e| explain(&e, &conn.server, &request(workload, "patch", namespace)))?;
    let object = serde_json::to_value(&after)
        .map_err(|e| other(conn, format!("cannot read the {}: {e}", workload.noun())))?;
    Ok(UndoDone { plan, object })
}
