//! The per-environment edge router: weighted stable/canary routing over the
//! ready instances of each version, fault injection (latency, errors, dropped
//! connections), per-version statistics for metrics and canary analysis, and a
//! Prometheus `/metrics` endpoint on a second listener.

pub mod histogram;
pub mod probe;
pub mod process;
mod serve;
pub mod traffic;

use axum::extract::State;
use axum::routing::get;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::domain::analysis::VersionSample;
use histogram::{write_header, write_sample, BucketHistogram, LatencyAcc};
pub use process::ProcessUsage;

/// Upstream request timeout (to response headers).
use serve::*;

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Client connections served at once; more are refused (and counted).
const MAX_CONNECTIONS: usize = 4096;
/// How long open connections get to finish when the router shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Label used when no version is configured at all.
const NO_VERSION: &str = "none";
/// Code label for connections closed by the drop fault.
const CODE_DROPPED: u16 = 0;

pub struct RouterConfig {
    pub env: String,
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouterFault {
    pub latency_ms: u64,
    /// Fraction 0..1 of requests answered 503 by the router.
    pub error_rate: f64,
    /// Fraction 0..1 of requests whose connection is closed without an answer.
    pub drop_rate: f64,
}

impl RouterFault {
    fn normalized(mut self) -> Self {
        let clamp = |r: f64| {
            if r.is_finite() {
                r.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        self.error_rate = clamp(self.error_rate);
        self.drop_rate = clamp(self.drop_rate);
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowStats {
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl From<VersionSample> for WindowStats {
    fn from(s: VersionSample) -> Self {
        WindowStats {
            requests: s.requests,
            errors: s.errors,
            p50_ms: s.p50_ms,
            p95_ms: s.p95_ms,
            p99_ms: s.p99_ms,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by injected fault")]
struct DroppedByFault;

type RespBody = BoxBody<Bytes, hyper::Error>;

#[derive(Debug, Default)]
struct Backends {
    addrs: Vec<SocketAddr>,
    next: usize,
}

#[derive(Debug, Default)]
struct Routes {
    versions: HashMap<Arc<str>, Backends>,
    stable: Option<Arc<str>>,
    canary: Option<Arc<str>>,
    weight: u8,
}

enum Pick {
    Backend {
        version: Arc<str>,
        addr: SocketAddr,
    },
    /// No ready instance anywhere; `version` is the one the request was meant for.
    Nothing {
        version: Arc<str>,
    },
}

impl Routes {
    fn pick(&mut self) -> Pick {
        let to_canary = match &self.canary {
            Some(_) if self.weight >= 100 => true,
            Some(_) if self.weight > 0 => fastrand::u8(0..100) < self.weight,
            _ => false,
        };
        let (first, second) = if to_canary {
            (self.canary.clone(), self.stable.clone())
        } else {
            (self.stable.clone(), self.canary.clone())
        };
        for v in [&first, &second].into_iter().flatten() {
            if let Some(b) = self.versions.get_mut(v) {
                if !b.addrs.is_empty() {
                    let addr = b.addrs[b.next % b.addrs.len()];
                    b.next = b.next.wrapping_add(1);
                    return Pick::Backend {
                        version: v.clone(),
                        addr,
                    };
                }
            }
        }
        Pick::Nothing {
            version: first.or(second).unwrap_or_else(|| Arc::from(NO_VERSION)),
        }
    }
}

#[derive(Debug, Default)]
struct VersionStats {
    /// Status code -> requests since start (`CODE_DROPPED` for dropped connections).
    codes: BTreeMap<u16, u64>,
    errors: u64,
    duration: BucketHistogram,
    window: LatencyAcc,
    analysis: LatencyAcc,
}

/// Cumulative counters of one version, copied out of the lock for rendering.
struct StatsSnapshot {
    version: String,
    codes: Vec<(u16, u64)>,
    errors: u64,
    duration: BucketHistogram,
}

/// State shared by the handle and the serving tasks.
struct Shared {
    env: String,
    routes: Mutex<Routes>,
    fault: Mutex<Option<RouterFault>>,
    stats: Mutex<BTreeMap<Arc<str>, VersionStats>>,
    /// Latest process CPU and memory per version, from the owning runtime.
    process: Mutex<BTreeMap<String, ProcessUsage>>,
    client: Client<HttpConnector, Incoming>,
    conn_limit: Arc<Semaphore>,
    refused_connections: AtomicU64,
    accept_errors: AtomicU64,
}

/// Owned by the handles only: when the last handle goes, the tasks see the
/// stop channel close and end.
struct Control {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    addr: SocketAddr,
    metrics_addr: SocketAddr,
}

#[derive(Clone)]
pub struct RouterHandle {
    shared: Arc<Shared>,
    control: Arc<Control>,
}

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterHandle")
            .field("env", &self.shared.env)
            .field("addr", &self.control.addr)
            .field("metrics_addr", &self.control.metrics_addr)
            .finish()
    }
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it (the
/// guarded state is plain counters and maps, valid at every step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RouterHandle {
    /// Bind the traffic and metrics listeners (port 0 picks free ports) and start serving.
    pub async fn start(cfg: RouterConfig) -> std::io::Result<RouterHandle> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let metrics_listener = TcpListener::bind(cfg.metrics_listen).await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics_listener.local_addr()?;

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .build(connector);

        let shared = Arc::new(Shared {
            env: cfg.env,
            routes: Mutex::new(Routes::default()),
            fault: Mutex::new(None),
            stats: Mutex::new(BTreeMap::new()),
            process: Mutex::new(BTreeMap::new()),
            client,
            conn_limit: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            refused_connections: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let proxy = tokio::spawn(accept_loop(shared.clone(), listener, stop_rx.clone()));
        let metrics_app = axum::Router::new()
            .route("/metrics", get(metrics_handler))
            .with_state(shared.clone());
        let mut metrics_stop = stop_rx;
        let metrics = tokio::spawn(async move {
            let _ = axum::serve(metrics_listener, metrics_app)
                .with_graceful_shutdown(async move { stopped(&mut metrics_stop).await })
                .await;
        });
        Ok(RouterHandle {
            shared,
            control: Arc::new(Control {
                stop,
                tasks: Mutex::new(vec![proxy, metrics]),
                addr,
                metrics_addr,
            }),
        })
    }

    pub fn env(&self) -> &str {
        &self.shared.env
    }

    pub fn addr(&self) -> SocketAddr {
        self.control.addr
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.control.metrics_addr
    }

    /// Set the ready instances of `version`; an empty list means none is ready.
    pub fn set_backends(&self, version: &str, backends: Vec<SocketAddr>) {
        let mut r = lock(&self.shared.routes);
        match r.versions.get_mut(version) {
            Some(b) => b.addrs = backends,
            None => {
                r.versions.insert(
                    Arc::from(version),
                    Backends {
                        addrs: backends,
                        next: 0,
                    },
                );
            }
        }
    }

    pub fn remove_version(&self, version: &str) {
        lock(&self.shared.routes).versions.remove(version);
    }

    /// Versions with their current backends, sorted by version.
    pub fn backends(&self) -> BTreeMap<String, Vec<SocketAddr>> {
        lock(&self.shared.routes)
            .versions
            .iter()
            .map(|(k, b)| (k.to_string(), b.addrs.clone()))
            .collect()
    }

    /// Route `canary_weight`% (0..=100) of traffic to `canary`, the rest to
    /// `stable`. Takes effect for the next request; blue/green is 0 or 100.
    pub fn set_split(&self, stable: Option<&str>, canary: Option<&str>, canary_weight: u8) {
        let mut r = lock(&self.shared.routes);
        r.stable = stable.map(Arc::from);
        r.canary = canary.map(Arc::from);
        r.weight = canary_weight.min(100);
    }

    /// Current (stable, canary, canary weight).
    pub fn split(&self) -> (Option<String>, Option<String>, u8) {
        let r = lock(&self.shared.routes);
        (
            r.stable.as_deref().map(str::to_string),
            r.canary.as_deref().map(str::to_string),
            r.weight,
        )
    }

    pub fn set_fault(&self, fault: Option<RouterFault>) {
        *lock(&self.shared.fault) = fault.map(RouterFault::normalized);
    }

    pub fn fault(&self) -> Option<RouterFault> {
        lock(&self.shared.fault).clone()
    }

    /// Per-version stats since the previous call (for 1 Hz metrics); versions
    /// with no traffic are omitted.
    pub fn take_window(&self) -> BTreeMap<String, WindowStats> {
        let routed: HashSet<Arc<str>> =
            lock(&self.shared.routes).versions.keys().cloned().collect();
        let mut stats = lock(&self.shared.stats);
        let mut out = BTreeMap::new();
        for (version, s) in stats.iter_mut() {
            if s.window.requests > 0 {
                out.insert(version.to_string(), s.window.sample().into());
                s.window.reset();
            } else if s.analysis.requests == 0 && !routed.contains(version) {
                // A retired version: give its histograms' memory back.
                s.window.release();
                s.analysis.release();
            }
        }
        out
    }

    /// Start a new analysis window for every version.
    pub fn reset_analysis(&self) {
        for s in lock(&self.shared.stats).values_mut() {
            s.analysis.reset();
        }
    }

    /// What `version` saw since the last `reset_analysis`.
    pub fn analysis_sample(&self, version: &str) -> VersionSample {
        lock(&self.shared.stats)
            .get(version)
            .map(|s| s.analysis.sample())
            .unwrap_or_default()
    }

    /// Replace the process CPU and memory published on `/metrics`: one entry
    /// per version that has a sample; versions left out lose their series.
    pub fn set_process_usage(&self, usage: BTreeMap<String, ProcessUsage>) {
        *lock(&self.shared.process) = usage;
    }

    /// Prometheus text exposition (what `GET /metrics` on the metrics listener returns).
    pub fn render_metrics(&self) -> String {
        self.shared.render_metrics()
    }

    /// Connections refused because `MAX_CONNECTIONS` were open.
    pub fn refused_connections(&self) -> u64 {
        self.shared.refused_connections.load(Ordering::Relaxed)
    }

    /// Stop accepting, let open connections finish (bounded), and stop the
    /// metrics listener. Safe to call more than once.
    pub async fn shutdown(&self) {
        self.control.stop.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.control.tasks));
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn routes(stable: Option<&str>, canary: Option<&str>, weight: u8) -> Routes {
        Routes {
            versions: HashMap::new(),
            stable: stable.map(Arc::from),
            canary: canary.map(Arc::from),
            weight,
        }
    }

    fn backend(p: Pick) -> (String, u16) {
        match p {
            Pick::Backend { version, addr } => (version.to_string(), addr.port()),
            Pick::Nothing { version } => (format!("nothing:{version}"), 0),
        }
    }

    #[test]
    fn round_robin_within_a_version() {
        let mut r = routes(Some("v1"), None, 0);
        r.versions.insert(
            Arc::from("v1"),
            Backends {
                addrs: vec![addr(1), addr(2), addr(3)],
                next: 0,
            },
        );
        let ports: Vec<u16> = (0..6).map(|_| backend(r.pick()).1).collect();
        assert_eq!(ports, vec![1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn weights_fallback_and_nothing() {
        let mut r = routes(Some("v1"), Some("v2"), 100);
        r.versions.insert(
            Arc::from("v1"),
            Backends {
                addrs: vec![addr(1)],
                next: 0,
            },
        );
        r.versions.insert(
            Arc::from("v2"),
            Backends {
                addrs: vec![addr(2)],
                next: 0,
            },
        );
        assert!((0..50).all(|_| backend(r.pick()).0 == "v2"));
        r.weight = 0;
        assert!((0..50).all(|_| backend(r.pick()).0 == "v1"));
        // Stable has no ready instance: fall back to the canary.
        r.versions.insert(Arc::from("v1"), Backends::default());
        assert_eq!(backend(r.pick()).0, "v2");
        r.versions.clear();
        assert_eq!(backend(r.pick()).0, "nothing:v1");
        let mut empty = routes(None, None, 0);
        assert_eq!(backend(empty.pick()).0, "nothing:none");
        let mut only_canary = routes(None, Some("c"), 0);
        assert_eq!(backend(only_canary.pick()).0, "nothing:c");
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-keep", HeaderValue::from_static("yes"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("x-keep").unwrap(), "yes");
    }

    #[test]
    fn fault_rates_are_clamped() {
        let f = RouterFault {
            latency_ms: 1,
            error_rate: 3.0,
            drop_rate: f64::NAN,
        }
        .normalized();
        assert_eq!((f.error_rate, f.drop_rate), (1.0, 0.0));
    }
}
