//! Without Argo CD, the committed overlay is applied directly: rendered with
//! `kubectl kustomize` (see [`super::render`]), then every
//! object sent with server-side apply as field manager `blissful-infra`
//! (forced, as a GitOps controller would), each kind found by discovery.

use std::path::Path;

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{pinned_kind, Scope};
use serde_json::Value;

use super::render::{documents, rendered_text, KustomizeTool};
use crate::kubernetes::connect::{explain, Connection, KubeError, Request};
use crate::kubernetes::fields::{clean, raw};
use crate::kubernetes::send::FIELD_MANAGER;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot render {overlay}: {reason}")]
    Render { overlay: String, reason: String },
    #[error("{kind} ({api_version}) is not served by the cluster: is its CRD installed? Nothing after it was applied")]
    UnknownKind { api_version: String, kind: String },
    #[error("an object of the overlay has no {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Kube(#[from] KubeError),
}

/// `kubectl kustomize <repo>/<overlay>` (or `kustomize build`) as JSON
/// objects, in order.
pub async fn render(repo: &Path, overlay: &Path) -> Result<Vec<Value>, ApplyError> {
    let dir = repo.join(overlay);
    let fail = |reason: String| ApplyError::Render {
        overlay: overlay.display().to_string(),
        reason,
    };
    let tool = KustomizeTool::find(std::env::var_os("PATH").as_deref())
        .map_err(|e| fail(e.to_string()))?;
    let out = tokio::process::Command::from(tool.command(&dir))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| fail(format!("cannot run {}: {e}", tool.label())))?;
    documents(&rendered_text(&out).map_err(fail)?).map_err(fail)
}

/// Server-side apply every object; `kind/name` of each, in order. The
/// first failure stops (what came before it stays applied).
pub async fn apply_objects(
    conn: &Connection,
    objects: &[Value],
    default_namespace: &str,
) -> Result<Vec<String>, ApplyError> {
    let mut done = Vec::new();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for obj in objects {
        let api_version = raw(obj, &["apiVersion"]).ok_or(ApplyError::Malformed("apiVersion"))?;
        let kind = raw(obj, &["kind"]).ok_or(ApplyError::Malformed("kind"))?;
        let name = raw(obj, &["metadata", "name"]).ok_or(ApplyError::Malformed("metadata.name"))?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let unknown = || ApplyError::UnknownKind {
            api_version: clean(api_version),
            kind: clean(kind),
        };
        let (resource, caps) = match pinned_kind(&conn.client, &gvk).await {
            Ok(found) => found,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(unknown()),
            Err(kube::Error::Discovery(_)) => return Err(unknown()),
            Err(e) => {
                let req = Request {
                    verb: "get",
                    resource: "discovery",
                    group,
                    namespace: default_namespace,
                };
                return Err(explain(&e, &conn.server, &req).into());
            }
        };
        let namespace = raw(obj, &["metadata", "namespace"]).unwrap_or(default_namespace);
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(conn.client.clone(), namespace, &resource),
            Scope::Cluster => Api::all_with(conn.client.clone(), &resource),
        };
        let req = Request {
            verb: "patch",
            resource: &resource.plural,
            group,
            namespace,
        };
        api.patch(name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| explain(&e, &conn.server, &req))?;
        done.push(format!("{}/{}", clean(kind), clean(name)));
    }
    Ok(done)
}
