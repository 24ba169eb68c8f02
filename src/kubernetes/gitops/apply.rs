//! Without Argo CD, the committed overlay is applied directly: rendered with
//! `kubectl kustomize` (see [`super::render`]; [`render_in_namespace`] for
//! an ephemeral environment's namespace), then every
//! object sent with server-side apply as field manager `blissful-infra`
//! (forced, as a GitOps controller would), each kind found by discovery.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{pinned_kind, Scope};
use serde_json::Value;

use super::render::{
    documents, namespaced_kustomization, relative_path, rendered_text, KustomizeTool,
};
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
    render_dir(&repo.join(overlay), overlay).await
}

/// Render the kustomization in `dir`; errors name it as `shown`.
async fn render_dir(dir: &Path, shown: &Path) -> Result<Vec<Value>, ApplyError> {
    let fail = |reason: String| ApplyError::Render {
        overlay: shown.display().to_string(),
        reason,
    };
    let tool = KustomizeTool::find(std::env::var_os("PATH").as_deref())
        .map_err(|e| fail(e.to_string()))?;
    let out = tokio::process::Command::from(tool.command(dir))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| fail(format!("cannot run {}: {e}", tool.label())))?;
    documents(&rendered_text(&out).map_err(fail)?).map_err(fail)
}

/// A folder of our own under the system's temporary directory, removed
/// when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "blissful-infra-kustomize-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The overlay in `overlay_dir` rendered with every namespaced object in
/// `namespace`: a wrapping kustomization (in a temporary folder, removed
/// after) whose `namespace:` kustomize applies as it does any overlay's,
/// references included. The overlay's own files are not touched.
pub async fn render_in_namespace(
    overlay_dir: &Path,
    namespace: &str,
) -> Result<Vec<Value>, ApplyError> {
    let fail = |reason: String| ApplyError::Render {
        overlay: overlay_dir.display().to_string(),
        reason,
    };
    let overlay = overlay_dir
        .canonicalize()
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    let scratch = Scratch::new().map_err(|e| fail(format!("no temporary folder: {e}")))?;
    let here = scratch
        .0
        .canonicalize()
        .map_err(|e| fail(format!("no temporary folder: {e}")))?;
    let rel = relative_path(&here, &overlay);
    let rel = rel
        .to_str()
        .ok_or_else(|| fail("its path is not UTF-8".into()))?;
    std::fs::write(
        here.join("kustomization.yaml"),
        namespaced_kustomization(rel, namespace),
    )
    .map_err(|e| fail(format!("cannot write the wrapping kustomization: {e}")))?;
    render_dir(&here, overlay_dir).await
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
