//! A SIMULATED Argo CD sync (tests only), enough for GitOps round trips:
//! when a registered Application gets an `operation` with a sync revision,
//! the overlay's kustomization.yaml is read at that revision from the
//! test's git repository, its `images:` tags are applied to the Rollout's
//! containers (a spec change, so the generation moves and the simulated
//! Rollouts controller starts a canary), and the Application records the
//! operation as Succeeded and Synced at that revision (or Failed, saying
//! why), with `operation` cleared.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::super::store::{self, ObjKey};
use super::super::Inner;
use super::{now_rfc3339, Mem};

/// An Application the simulation syncs, and what it deploys.
#[derive(Clone, Debug)]
pub struct ArgoApp {
    pub app: ObjKey,
    /// The git working tree (or bare repository) Argo CD would clone.
    pub repo: PathBuf,
    /// The overlay folder inside it (`k8s/overlays/staging`).
    pub overlay: PathBuf,
    pub rollout: ObjKey,
}

/// The image reference without its tag or digest.
fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// `images:` of the kustomization at `revision`, or why not.
async fn images_at(a: &ArgoApp, revision: &str) -> Result<Vec<Value>, String> {
    let spec = format!("{revision}:{}/kustomization.yaml", a.overlay.display());
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(&a.repo)
        .args(["show", &spec])
        .output()
        .await
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("rpc error: unable to read {spec}: {}", err.trim()));
    }
    let doc = store::parse_document("kustomization.yaml", &String::from_utf8_lossy(&out.stdout))?;
    Ok(doc["images"].as_array().cloned().unwrap_or_default())
}

/// Set each container's image whose name an entry matches; whether any changed.
fn apply_images(rollout: &mut Value, images: &[Value]) -> bool {
    let mut changed = false;
    let Some(containers) = rollout
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    for c in containers {
        let current = c["image"].as_str().unwrap_or_default().to_string();
        let Some(entry) = images.iter().find(|e| e["name"] == image_name(&current)) else {
            continue;
        };
        let name = entry["newName"].as_str().unwrap_or(image_name(&current));
        let new = match entry["newTag"].as_str() {
            Some(tag) => format!("{name}:{tag}"),
            None => name.to_string(),
        };
        if new != current {
            c["image"] = json!(new);
            changed = true;
        }
    }
    changed
}

/// Run the pending sync operations of the registered Applications.
pub(super) async fn sync_all(inner: &Arc<Inner>, mem: &Arc<Mutex<Mem>>) {
    let apps = mem.lock().unwrap().apps.clone();
    for a in apps {
        let op = inner
            .store
            .lock()
            .unwrap()
            .objects
            .get(&a.app)
            .map(|o| o["operation"].clone());
        let Some(op) = op.filter(|o| o.is_object()) else {
            continue;
        };
        let revision = op["sync"]["revision"]
            .as_str()
            .unwrap_or("HEAD")
            .to_string();
        let started = now_rfc3339();
        let result = images_at(&a, &revision).await;
        let mut st = inner.store.lock().unwrap();
        let outcome = result.and_then(|images| {
            let mut ro = st
                .objects
                .get(&a.rollout)
                .cloned()
                .ok_or_else(|| "the Rollout is gone".to_string())?;
            if apply_images(&mut ro, &images) {
                let g = ro["metadata"]["generation"].as_i64().unwrap_or(1);
                ro["metadata"]["generation"] = json!(g + 1);
                st.put(a.rollout.clone(), ro);
            }
            Ok(())
        });
        let Some(mut app) = st.objects.get(&a.app).cloned() else {
            continue;
        };
        if let Some(o) = app.as_object_mut() {
            o.remove("operation");
        }
        let (phase, message) = match &outcome {
            Ok(()) => (
                "Succeeded",
                "successfully synced (all tasks run)".to_string(),
            ),
            Err(e) => ("Failed", e.clone()),
        };
        app["status"]["operationState"] = json!({"phase": phase, "message": message, "operation": op,
            "startedAt": started, "finishedAt": now_rfc3339(), "syncResult": {"revision": revision}});
        if outcome.is_ok() {
            app["status"]["sync"]["status"] = json!("Synced");
            app["status"]["sync"]["revision"] = json!(revision);
        }
        st.put(a.app.clone(), app);
    }
}
