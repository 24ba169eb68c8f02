//! Watching Argo Rollouts in a namespace into a live feed of views.
//!
//! `kube::runtime::watcher` does the list + watch protocol (bookmarks on,
//! relist after 410 Expired, retries with its default backoff); this task
//! keeps its own map of the objects seen, so a relist sends only what
//! changed (updated views and removals) and never the same object twice.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::{explain, Connection, KubeError, Request};
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

/// How often a degraded watch checks whether the server answers again
/// (the watcher itself only speaks when something changes).
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// `argoproj.io/v1alpha1` `Rollout`, plural `rollouts`.
pub fn rollouts_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout");
    ApiResource::from_gvk_with_plural(&gvk, "rollouts")
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

type Key = (String, String);

/// The objects seen, by namespace and name, with their resourceVersion.
#[derive(Default)]
struct Seen {
    objects: BTreeMap<Key, String>,
    /// Objects of a relist in progress (between `Init` and `InitDone`).
    relist: Option<BTreeMap<Key, Value>>,
}

fn key_and_version(obj: &DynamicObject) -> (Key, String) {
    let m = &obj.metadata;
    let key = (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    );
    (key, m.resource_version.clone().unwrap_or_default())
}

fn rollout_msg((namespace, name): Key, obj: &Value) -> RolloutFeed {
    RolloutFeed::Rollout {
        namespace,
        name,
        view: Box::new(rollout_view(obj)),
    }
}

impl Seen {
    /// The messages one watcher event gives.
    fn apply(&mut self, event: Event<DynamicObject>) -> Vec<RolloutFeed> {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                let (key, _) = key_and_version(&obj);
                let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, value);
                Vec::new()
            }
            Event::InitDone => self.finish_relist(),
            Event::Apply(obj) => {
                let (key, rv) = key_and_version(&obj);
                if self.objects.get(&key) == Some(&rv) {
                    return Vec::new();
                }
                self.objects.insert(key.clone(), rv);
                let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
                vec![rollout_msg(key, &value)]
            }
            Event::Delete(obj) => {
                let (key, _) = key_and_version(&obj);
                match self.objects.remove(&key) {
                    Some(_) => vec![RolloutFeed::Removed {
                        namespace: key.0,
                        name: key.1,
                    }],
                    None => Vec::new(),
                }
            }
        }
    }

    /// Replace the map with the relisted objects: removals for the ones
    /// gone, views for the new and changed ones.
    fn finish_relist(&mut self) -> Vec<RolloutFeed> {
        let listed = self.relist.take().unwrap_or_default();
        let mut out: Vec<RolloutFeed> = self
            .objects
            .keys()
            .filter(|k| !listed.contains_key(*k))
            .map(|(namespace, name)| RolloutFeed::Removed {
                namespace: namespace.clone(),
                name: name.clone(),
            })
            .collect();
        let mut objects = BTreeMap::new();
        for (key, value) in listed {
            let rv = value
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if self.objects.get(&key) != Some(&rv) {
                out.push(rollout_msg(key.clone(), &value));
            }
            objects.insert(key, rv);
        }
        self.objects = objects;
        out
    }
}

/// Why the watch is degraded, or `None` for an error the watcher handles
/// by itself without losing anything (410 Expired: it relists).
fn degraded_reason(err: &watcher::Error, server: &str, namespace: &str) -> Option<String> {
    let in_stream;
    let (verb, kube_err) = match err {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        watcher::Error::WatchError(status) => {
            in_stream = kube::Error::Api(status.clone());
            ("watch", &in_stream)
        }
        watcher::Error::NoResourceVersion => return Some(err.to_string()),
    };
    match explain(kube_err, server, &rollout_request(verb, namespace)) {
        KubeError::Api { code: 410, .. } => None,
        // A namespaced list is never 404 for a served resource: the CRD is
        // not installed.
        KubeError::Api { code: 404, .. } => Some(ARGO_MISSING.to_string()),
        other => Some(other.to_string()),
    }
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
    let api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), &namespace, &rollouts_resource());
    let stream = watcher(api.clone(), watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut seen = Seen::default();
    let mut state = SourceState::Connecting;
    if tx.send(RolloutFeed::State(state.clone())).await.is_err() {
        return;
    }
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut out = Vec::new();
        let mut next_state = None;
        tokio::select! {
            item = stream.next() => match item {
                None => return,
                Some(Ok(event)) => {
                    if !matches!(event, Event::Init) {
                        next_state = Some(SourceState::Ok);
                    }
                    out = seen.apply(event);
                }
                Some(Err(err)) => {
                    next_state = degraded_reason(&err, &conn.server, &namespace)
                        .map(SourceState::Degraded);
                }
            },
            _ = probe.tick(), if matches!(state, SourceState::Degraded(_)) => {
                if api.list(&ListParams::default().limit(1)).await.is_ok() {
                    next_state = Some(SourceState::Ok);
                }
            }
            _ = tx.closed() => return,
        }
        if let Some(s) = next_state.filter(|s| *s != state) {
            state = s;
            out.insert(0, RolloutFeed::State(state.clone()));
        }
        for msg in out {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}
