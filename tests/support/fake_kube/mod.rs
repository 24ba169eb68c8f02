//! FAKE Kubernetes API server for tests only (never part of the product): no
//! cluster can run on the test machines. It speaks the apiserver's HTTP/JSON
//! wire formats on 127.0.0.1, plain HTTP, no authentication:
//!
//! - discovery: `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//!   `/apis/{group}/{version}` (core, `apps/v1`, `argoproj.io/v1alpha1`,
//!   `chaos-mesh.org/v1alpha1`); a group can be hidden, as when its CRDs
//!   are not installed;
//! - get, list (`labelSelector` equality selectors, `fieldSelector` on
//!   `metadata.name`/`metadata.namespace`), and watch (`watch=1`,
//!   `resourceVersion`, `allowWatchBookmarks`, `timeoutSeconds`) streaming
//!   newline-delimited `{"type":…,"object":…}` events, with the in-stream
//!   410 `Expired` ERROR when the start is older than the kept history;
//! - `PATCH` as merge patch, JSON patch (add/replace/remove/test) and
//!   server-side apply (applied like a merge patch, field manager recorded),
//!   on objects and their `/status` subresource; `POST` (create: 201,
//!   409 `AlreadyExists`); `DELETE` (an object with finalizers only gets
//!   its `deletionTimestamp`, and goes when the last one is removed; a
//!   Namespace is `Terminating` for a moment, then goes with everything in
//!   it, see `namespaces.rs`);
//! - errors as `Status` objects (404, 403/401 from a rule table, 409 on a
//!   stale `resourceVersion` in a patch, 410, 415, 400);
//! - pod logs (`follow`, `timestamps`, `sinceSeconds`, `tailLines`,
//!   `container`) from lines the test pushes;
//! - going down (refusing connections, dropping open ones) and coming back
//!   on the same port.
//!
//! Objects are seeded from the upstream fixtures in
//! `../shared/fixtures/kubernetes` and served unchanged except
//! `metadata.resourceVersion` (one global counter) and, for fixtures without
//! one, `metadata.namespace`. Every request is recorded.

pub mod chaos_mesh;
pub mod client;
pub mod controller;
mod create;
mod http;
mod logs;
mod namespaces;
mod patch;
pub mod resources;
pub mod store;
mod watching;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use store::{read_fixture, ObjKey};

/// What a rule answers instead of serving the request.
#[derive(Clone, Debug)]
pub enum Deny {
    /// 403, `User "<user>" cannot <verb> resource …`.
    Forbidden { user: String },
    /// 401 `Unauthorized`.
    Unauthorized,
}

/// Deny a verb on a resource. `"*"` matches any verb or resource; the
/// resource may name a subresource (`rollouts/status`, `pods/log`).
#[derive(Clone, Debug)]
pub struct Rule {
    pub verb: String,
    pub resource: String,
    /// `None`: every namespace (and cluster scope).
    pub namespace: Option<String>,
    pub deny: Deny,
}

impl Rule {
    pub fn forbid(user: &str, verb: &str, resource: &str, namespace: Option<&str>) -> Rule {
        Rule {
            verb: verb.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
            deny: Deny::Forbidden { user: user.into() },
        }
    }

    pub fn unauthorized(verb: &str, resource: &str, namespace: Option<&str>) -> Rule {
        Rule {
            verb: verb.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
            deny: Deny::Unauthorized,
        }
    }

    fn matches(&self, verb: &str, resource: &str, namespace: &str) -> bool {
        (self.verb == "*" || self.verb == verb)
            && (self.resource == "*" || self.resource == resource)
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Received {
    /// The body as JSON (YAML for apply patches).
    pub fn body_json(&self) -> Value {
        let yaml = self
            .content_type
            .as_deref()
            .is_some_and(|c| c.contains("yaml"));
        let name = if yaml { "body.yaml" } else { "body.json" };
        store::parse_document(name, &self.body).expect("request body")
    }
}

struct Inner {
    store: Mutex<store::Store>,
    hidden: Mutex<Vec<String>>,
    rules: Mutex<Vec<Rule>>,
    received: Mutex<Vec<Received>>,
    bookmark_every: Mutex<Duration>,
    logs: Mutex<logs::Logs>,
    /// Bumped to drop every open connection.
    kill: watch::Sender<u64>,
    open_watches: AtomicUsize,
    addr: SocketAddr,
}

impl Inner {
    fn hidden(&self) -> Vec<String> {
        self.hidden.lock().unwrap().clone()
    }
}

/// Handle on a running fake; clones share it.
#[derive(Clone)]
pub struct FakeKube {
    inner: Arc<Inner>,
    accept: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl FakeKube {
    /// Serve on 127.0.0.1 with a free port, every group present, no objects.
    pub async fn start() -> FakeKube {
        FakeKube::start_hiding(&[]).await
    }

    /// Serve with these API groups absent (e.g. `["argoproj.io"]`: the Argo
    /// CRDs are not installed).
    pub async fn start_hiding(groups: &[&str]) -> FakeKube {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake kube");
        let addr = listener.local_addr().expect("addr");
        let (kill, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            store: Mutex::new(store::Store::new()),
            hidden: Mutex::new(groups.iter().map(|g| g.to_string()).collect()),
            rules: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            bookmark_every: Mutex::new(Duration::from_millis(200)),
            logs: Mutex::new(logs::Logs::default()),
            kill,
            open_watches: AtomicUsize::new(0),
            addr,
        });
        let handle = tokio::spawn(accept_loop(inner.clone(), listener));
        FakeKube {
            inner,
            accept: Arc::new(Mutex::new(Some(handle))),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Hide (or show again) an API group at run time.
    pub fn set_group_hidden(&self, group: &str, hidden: bool) {
        let mut h = self.inner.hidden.lock().unwrap();
        h.retain(|g| g != group);
        if hidden {
            h.push(group.to_string());
        }
    }

    /// Store one fixture (path relative to the fixtures folder); objects
    /// without a namespace go to `default`.
    pub fn seed_fixture(&self, rel: &str) -> ObjKey {
        self.put_in(read_fixture(rel), None)
    }

    /// Store one fixture in the given namespace.
    pub fn seed_fixture_in(&self, rel: &str, namespace: &str) -> ObjKey {
        self.put_in(read_fixture(rel), Some(namespace))
    }

    /// Store one fixture in the given namespace, or `None` when its API
    /// version is not served (old `extensions/v1beta1` captures).
    pub fn try_seed_fixture_in(&self, rel: &str, namespace: &str) -> Option<ObjKey> {
        let mut obj = read_fixture(rel);
        let key = self.try_key_for(&mut obj, Some(namespace))?;
        self.inner.store.lock().unwrap().put(key.clone(), obj);
        Some(key)
    }

    /// The URL path of an object, e.g.
    /// `/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web`.
    pub fn path_of(&self, key: &ObjKey) -> String {
        let prefix = if key.gv.contains('/') { "apis" } else { "api" };
        let ns = if key.namespace.is_empty() {
            String::new()
        } else {
            format!("/namespaces/{}", key.namespace)
        };
        format!("/{prefix}/{}{ns}/{}/{}", key.gv, key.plural, key.name)
    }

    /// Store every object fixture in file order; a fixture whose key is
    /// already taken (some upstream captures share a name) is skipped.
    pub fn seed_all_fixtures(&self) -> Vec<ObjKey> {
        let mut keys = Vec::new();
        for rel in store::object_fixtures() {
            let mut obj = read_fixture(&rel);
            // Old captures of API versions no longer served
            // (`extensions/v1beta1`) are left out.
            let Some(key) = self.try_key_for(&mut obj, None) else {
                continue;
            };
            if self.get(&key).is_none() {
                keys.push(self.put_in(obj, None));
            }
        }
        keys
    }

    fn key_for(&self, obj: &mut Value, namespace: Option<&str>) -> ObjKey {
        self.try_key_for(obj, namespace).unwrap_or_else(|| {
            panic!(
                "fake kube: no resource for {} {}",
                obj["apiVersion"], obj["kind"]
            )
        })
    }

    fn try_key_for(&self, obj: &mut Value, namespace: Option<&str>) -> Option<ObjKey> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let res = resources::RESOURCES
            .iter()
            .find(|r| r.group_version() == api_version && r.kind == kind)?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .expect("metadata.name")
            .to_string();
        let mut ns = String::new();
        if res.namespaced {
            let current = obj.pointer("/metadata/namespace").and_then(Value::as_str);
            ns = namespace.or(current).unwrap_or("default").to_string();
            if current != Some(ns.as_str()) {
                obj["metadata"]["namespace"] = Value::String(ns.clone());
            }
        }
        Some(ObjKey::new(&api_version, res.plural, &ns, &name))
    }

    fn put_in(&self, mut obj: Value, namespace: Option<&str>) -> ObjKey {
        let key = self.key_for(&mut obj, namespace);
        self.inner.store.lock().unwrap().put(key.clone(), obj);
        key
    }

    /// Create or replace an object (as a controller would); watchers get
    /// ADDED or MODIFIED.
    pub fn put(&self, obj: Value) -> ObjKey {
        self.put_in(obj, None)
    }

    pub fn get(&self, key: &ObjKey) -> Option<Value> {
        self.inner.store.lock().unwrap().objects.get(key).cloned()
    }

    /// Replace `.status` of a stored object (a controller's status write).
    pub fn set_status(&self, key: &ObjKey, status: Value) -> Value {
        let mut st = self.inner.store.lock().unwrap();
        let mut obj = st.objects.get(key).cloned().expect("object to update");
        obj["status"] = status;
        st.put(key.clone(), obj)
    }

    pub fn delete(&self, key: &ObjKey) -> Option<Value> {
        self.inner.store.lock().unwrap().delete(key)
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> String {
        self.inner.store.lock().unwrap().rv.to_string()
    }

    /// Drop all watch history: a watch from any earlier resourceVersion
    /// gets 410 Expired.
    pub fn compact(&self) {
        self.inner.store.lock().unwrap().compact();
    }

    /// How many events are kept for watches (default 100).
    pub fn set_history_limit(&self, n: usize) {
        self.inner.store.lock().unwrap().max_history = n;
    }

    /// How often a watch that allows bookmarks gets one (default 200 ms).
    pub fn set_bookmark_interval(&self, d: Duration) {
        *self.inner.bookmark_every.lock().unwrap() = d;
    }

    pub fn add_rule(&self, rule: Rule) {
        self.inner.rules.lock().unwrap().push(rule);
    }

    pub fn clear_rules(&self) {
        self.inner.rules.lock().unwrap().clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Requests with this method whose path ends with `path_suffix`.
    pub fn received_matching(&self, method: &str, path_suffix: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .collect()
    }

    /// Watch streams being served now.
    pub fn open_watches(&self) -> usize {
        self.inner.open_watches.load(Ordering::SeqCst)
    }

    pub async fn wait_open_watches(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.open_watches() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake kube: {} watches open, waited for {n}",
                self.open_watches()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop accepting connections and cut every open one (watches and log
    /// streams end without a final chunk).
    pub async fn go_down(&self) {
        let handle = self.accept.lock().unwrap().take();
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
        self.inner.kill.send_modify(|g| *g += 1);
    }

    /// Listen again on the same port.
    pub async fn come_up(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.inner.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "fake kube: rebind {}: {e}", self.inner.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let handle = tokio::spawn(accept_loop(self.inner.clone(), listener));
        *self.accept.lock().unwrap() = Some(handle);
    }

    pub fn is_up(&self) -> bool {
        self.accept.lock().unwrap().is_some()
    }

    /// Append a log line for a pod's container (`None`: the pod's only
    /// container); followed streams get it at once.
    pub fn push_log(&self, namespace: &str, pod: &str, container: Option<&str>, line: &str) {
        let container =
            container.map_or_else(|| self.default_container(namespace, pod), str::to_string);
        self.inner
            .logs
            .lock()
            .unwrap()
            .push(namespace, pod, &container, line);
    }

    /// End every followed stream of that container (it terminated).
    pub fn end_logs(&self, namespace: &str, pod: &str, container: Option<&str>) {
        let container =
            container.map_or_else(|| self.default_container(namespace, pod), str::to_string);
        self.inner
            .logs
            .lock()
            .unwrap()
            .end(namespace, pod, &container);
    }

    fn default_container(&self, namespace: &str, pod: &str) -> String {
        let key = ObjKey::new("v1", "pods", namespace, pod);
        self.get(&key)
            .and_then(|p| {
                p.pointer("/spec/containers/0/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "main".to_string())
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut kill = inner.kill.subscribe();
        let inner = inner.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let inner = inner.clone();
                async move { Ok::<_, Infallible>(http::handle(inner, req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = kill.changed() => {}
            }
        });
    }
}
