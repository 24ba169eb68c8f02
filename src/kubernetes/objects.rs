//! Watching one kind of object in one namespace into a feed of changes.
//!
//! `kube::runtime::watcher` does the list + watch protocol (bookmarks on,
//! relist after 410 Expired, retries with its default backoff); this task
//! keeps its own map of the objects seen, so a relist sends only what
//! changed (updated objects and removals) and never the same object twice.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::connect::{explain, Connection, KubeError, Request};
use crate::runtime::SourceState;

/// What an object watch reports.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectFeed {
    /// Connection state; sent only when it changes.
    State(SourceState),
    /// An object appeared or changed (as the server sent it).
    Applied {
        namespace: String,
        name: String,
        object: Box<Value>,
    },
    /// An object is gone.
    Removed { namespace: String, name: String },
    /// A (re)list is done: every object that exists has been reported.
    Synced,
}

/// One kind of object to watch.
#[derive(Clone, Debug)]
pub struct Watched {
    pub resource: ApiResource,
    /// Said instead of a 404 on a namespaced list, which means the
    /// resource is not served (its CRD is not installed).
    pub missing: String,
}

impl Watched {
    /// A resource whose absence is explained by `missing`.
    pub fn new(resource: ApiResource, missing: impl Into<String>) -> Self {
        Watched {
            resource,
            missing: missing.into(),
        }
    }

    /// What a call in `namespace` asked, for error messages.
    pub fn request<'a>(&'a self, verb: &'a str, namespace: &'a str) -> Request<'a> {
        Request {
            verb,
            resource: &self.resource.plural,
            group: &self.resource.group,
            namespace,
        }
    }
}

/// How often a degraded watch checks whether the server answers again
/// (the watcher itself only speaks when something changes).
const PROBE_EVERY: Duration = Duration::from_secs(1);

type Key = (String, String);

/// The objects seen, by namespace and name, with their resourceVersion.
#[derive(Default)]
struct Seen {
    objects: BTreeMap<Key, String>,
    /// Objects of a relist in progress (between `Init` and `InitDone`).
    relist: Option<BTreeMap<Key, Value>>,
}

fn key_of(obj: &DynamicObject) -> Key {
    let m = &obj.metadata;
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

fn version_of(value: &Value) -> String {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn applied((namespace, name): Key, object: Value) -> ObjectFeed {
    ObjectFeed::Applied {
        namespace,
        name,
        object: Box::new(object),
    }
}

impl Seen {
    /// The messages one watcher event gives.
    fn apply(&mut self, event: Event<DynamicObject>) -> Vec<ObjectFeed> {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                let key = key_of(&obj);
                let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, value);
                Vec::new()
            }
            Event::InitDone => self.finish_relist(),
            Event::Apply(obj) => {
                let key = key_of(&obj);
                let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
                let rv = version_of(&value);
                if self.objects.get(&key) == Some(&rv) {
                    return Vec::new();
                }
                self.objects.insert(key.clone(), rv);
                vec![applied(key, value)]
            }
            Event::Delete(obj) => {
                let key = key_of(&obj);
                match self.objects.remove(&key) {
                    Some(_) => vec![ObjectFeed::Removed {
                        namespace: key.0,
                        name: key.1,
                    }],
                    None => Vec::new(),
                }
            }
        }
    }

    /// Replace the map with the relisted objects: removals for the ones
    /// gone, the new and changed ones, then `Synced`.
    fn finish_relist(&mut self) -> Vec<ObjectFeed> {
        let listed = self.relist.take().unwrap_or_default();
        let mut out: Vec<ObjectFeed> = self
            .objects
            .keys()
            .filter(|k| !listed.contains_key(*k))
            .map(|(namespace, name)| ObjectFeed::Removed {
                namespace: namespace.clone(),
                name: name.clone(),
            })
            .collect();
        let mut objects = BTreeMap::new();
        for (key, value) in listed {
            let rv = version_of(&value);
            if self.objects.get(&key) != Some(&rv) {
                out.push(applied(key.clone(), value));
            }
            objects.insert(key, rv);
        }
        self.objects = objects;
        out.push(ObjectFeed::Synced);
        out
    }
}

/// Why the watch is degraded, or `None` for an error the watcher handles
/// by itself without losing anything (410 Expired: it relists).
fn degraded_reason(
    err: &watcher::Error,
    server: &str,
    namespace: &str,
    watched: &Watched,
) -> Option<String> {
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
    match explain(kube_err, server, &watched.request(verb, namespace)) {
        KubeError::Api { code: 410, .. } => None,
        // A namespaced list is never 404 for a served resource.
        KubeError::Api { code: 404, .. } => Some(watched.missing.clone()),
        other => Some(other.to_string()),
    }
}

/// Watch `watched` in `namespace`, sending each message through `map`
/// (`None` drops it); returns when the receiver is gone.
pub async fn watch_objects<T: Send>(
    conn: Connection,
    namespace: String,
    watched: Watched,
    tx: mpsc::Sender<T>,
    map: impl Fn(ObjectFeed) -> Option<T> + Send + Sync,
) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(conn.client.clone(), &namespace, &watched.resource);
    let stream = watcher(api.clone(), watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut seen = Seen::default();
    let mut state = SourceState::Connecting;
    let send = |msg: ObjectFeed| {
        let out = map(msg);
        let tx = tx.clone();
        async move {
            match out {
                Some(m) => tx.send(m).await.is_ok(),
                None => true,
            }
        }
    };
    if !send(ObjectFeed::State(state.clone())).await {
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
                    next_state = degraded_reason(&err, &conn.server, &namespace, &watched)
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
            out.insert(0, ObjectFeed::State(state.clone()));
        }
        for msg in out {
            if !send(msg).await {
                return;
            }
        }
    }
}
