//! Sending an intent to an Argo Rollout: read the object, compute the
//! plugin's patches ([`super::intents`]) and PATCH them in order, with the
//! field manager `blissful-infra`; undo is planned from the ReplicaSets
//! ([`super::undo_send`]). Errors come back in plain words
//! ([`super::connect::explain`]).

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use super::connect::{explain, Connection, KubeError};
use super::intents::{rollout_patches, IntentRefused, RolloutPatch};
use super::undo::Workload;
use super::undo_send::send_undo;
use super::watch::{rollout_request, rollouts_resource};
use crate::runtime::intent::Intent;

/// The field manager named in every write.
pub const FIELD_MANAGER: &str = "blissful-infra";

/// Why an intent was not carried out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Argo cannot do it for this Rollout; nothing was sent.
    #[error("{0}")]
    Refused(#[from] IntentRefused),
    #[error("{0}")]
    Kube(#[from] KubeError),
}

fn rollouts(conn: &Connection, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &rollouts_resource())
}

fn to_json(obj: &DynamicObject, conn: &Connection) -> Result<Value, KubeError> {
    serde_json::to_value(obj).map_err(|e| KubeError::Other {
        server: conn.server.clone(),
        reason: format!("cannot read the Rollout: {e}"),
    })
}

/// Read Rollout `name` of `namespace`, then send the patches of `intent`.
/// Returns the Rollout as the last write left it (as read, when there was
/// nothing to write). Undo goes through [`super::undo_send`] (it reads the
/// ReplicaSets too).
pub async fn send_intent(
    conn: &Connection,
    namespace: &str,
    name: &str,
    intent: &Intent,
    now_rfc3339: &str,
) -> Result<Value, SendError> {
    if let Intent::Undo { to_revision } = intent {
        let done = send_undo(conn, Workload::Rollout, namespace, name, *to_revision).await?;
        return Ok(done.object);
    }
    let api = rollouts(conn, namespace);
    let current = api
        .get(name)
        .await
        .map_err(|e| explain(&e, &conn.server, &rollout_request("get", namespace)))?;
    let current = to_json(&current, conn)?;
    let patches = rollout_patches(intent, &current, now_rfc3339)?;
    Ok(send_patches(conn, namespace, name, &patches)
        .await?
        .unwrap_or(current))
}

/// PATCH `patches` in order; the Rollout after the last one, `None` when
/// the list is empty. A status patch answered 404 is replaced by its
/// fallback on the object, and the rest of the list is skipped (as the
/// plugin does for CRDs without the status subresource).
pub async fn send_patches(
    conn: &Connection,
    namespace: &str,
    name: &str,
    patches: &[RolloutPatch],
) -> Result<Option<Value>, KubeError> {
    let api = rollouts(conn, namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let explain_patch =
        |e: &kube::Error| explain(e, &conn.server, &rollout_request("patch", namespace));
    let mut last = None;
    for p in patches {
        let sent = match p.subresource {
            None => api.patch(name, &params, &Patch::Merge(&p.body)).await,
            Some(_) => {
                api.patch_status(name, &params, &Patch::Merge(&p.body))
                    .await
            }
        };
        let obj = match (sent, &p.object_fallback) {
            (Ok(obj), _) => obj,
            (Err(kube::Error::Api(s)), Some(fallback)) if s.code == 404 => {
                let obj = api
                    .patch(name, &params, &Patch::Merge(fallback))
                    .await
                    .map_err(|e| explain_patch(&e))?;
                return Ok(Some(to_json(&obj, conn)?));
            }
            (Err(e), _) => return Err(explain_patch(&e)),
        };
        last = Some(to_json(&obj, conn)?);
    }
    Ok(last)
}
