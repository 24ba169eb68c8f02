//! Watching Argo Rollouts in a namespace into a live feed of views, on the
//! generic object watch ([`super::objects`]).

use kube::api::{ApiResource, GroupVersionKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::{Connection, Request};
use super::objects::{watch_objects, ObjectFeed, Watched};
use super::rollout::{rollout_view, RolloutView};
use crate::runtime::SourceState;

/// What the Rollout watch reports.
#[derive(Clone, Debug, PartialEq)]
pub enum RolloutFeed {
    /// Connection state; sent only when it changes.
    State(SourceState),
    /// A Rollout appeared or changed.
    Rollout {
        namespace: String,
        name: String,
        view: Box<RolloutView>,
    },
    /// A Rollout is gone.
    Removed { namespace: String, name: String },
}

pub const ARGO_MISSING: &str =
    "Argo Rollouts is not installed in the cluster (no rollouts.argoproj.io)";

/// An `argoproj.io/v1alpha1` resource.
pub fn argo_resource(kind: &str, plural: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind);
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// `argoproj.io/v1alpha1` `Rollout`, plural `rollouts`.
pub fn rollouts_resource() -> ApiResource {
    argo_resource("Rollout", "rollouts")
}

/// Rollouts, whose absence means Argo Rollouts is not installed.
pub fn rollouts_watched() -> Watched {
    Watched::new(rollouts_resource(), ARGO_MISSING)
}

/// Start watching Rollouts of `namespace`; the task ends when the
/// receiver is dropped.
pub fn spawn_rollout_watch(
    conn: Connection,
    namespace: String,
    tx: mpsc::Sender<RolloutFeed>,
) -> JoinHandle<()> {
    tokio::spawn(async move { watch_rollouts(conn, namespace, tx).await })
}

/// What a call on Rollouts in `namespace` asked, for error messages.
pub(super) fn rollout_request<'a>(verb: &'a str, namespace: &'a str) -> Request<'a> {
    Request {
        verb,
        resource: "rollouts",
        group: "argoproj.io",
        namespace,
    }
}

/// The watch loop; returns when the receiver is gone.
pub async fn watch_rollouts(conn: Connection, namespace: String, tx: mpsc::Sender<RolloutFeed>) {
    watch_objects(conn, namespace, rollouts_watched(), tx, |msg| match msg {
        ObjectFeed::State(s) => Some(RolloutFeed::State(s)),
        ObjectFeed::Applied {
            namespace,
            name,
            object,
        } => Some(RolloutFeed::Rollout {
            namespace,
            name,
            view: Box::new(rollout_view(&object)),
        }),
        ObjectFeed::Removed { namespace, name } => Some(RolloutFeed::Removed { namespace, name }),
        ObjectFeed::Synced => None,
    })
    .await
}
