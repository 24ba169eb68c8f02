//! The per-environment edge router: weighted stable/canary routing over the
//! ready instances of each version, fault injection (latency, errors, dropped
//! connections), per-version statistics for metrics and canary analysis, and a
//! Prometheus `/metrics` endpoint on a second listener.

pub mod histogram;
pub mod probe;
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

/// Upstream request timeout (to response headers).
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

/// Resolve when `rx` turns true or its sender is gone.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    let Ok(permit) = shared.conn_limit.clone().try_acquire_owned() else {
                        shared.refused_connections.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(shared.clone(), stream, peer, stop.clone(), permit));
                }
                Err(_) => {
                    // Typically EMFILE: back off instead of spinning.
                    shared.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        conns.shutdown().await;
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let svc = service_fn(move |req| handle(shared.clone(), peer, req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn json_response(status: StatusCode, body: &'static str) -> Response<RespBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, DroppedByFault> {
    let start = Instant::now();
    let pick = lock(&shared.routes).pick();
    let fault = lock(&shared.fault).clone();
    let intended = match &pick {
        Pick::Backend { version, .. } | Pick::Nothing { version } => version.clone(),
    };

    if let Some(f) = fault {
        if f.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        }
        if f.drop_rate > 0.0 && fastrand::f64() < f.drop_rate {
            shared.record(&intended, CODE_DROPPED, start.elapsed());
            return Err(DroppedByFault);
        }
        if f.error_rate > 0.0 && fastrand::f64() < f.error_rate {
            shared.record(&intended, 503, start.elapsed());
            return Ok(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"injected by chaos"}"#,
            ));
        }
    }

    let (version, addr) = match pick {
        Pick::Backend { version, addr } => (version, addr),
        Pick::Nothing { version } => {
            shared.record(&version, 503, start.elapsed());
            return Ok(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"no ready instances"}"#,
            ));
        }
    };

    let upstream = match upstream_request(req, addr, peer) {
        Some(r) => r,
        None => {
            shared.record(&version, 400, start.elapsed());
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                r#"{"error":"bad request target"}"#,
            ));
        }
    };
    match tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(upstream)).await {
        Ok(Ok(resp)) => {
            let status = resp.status();
            shared.record(&version, status.as_u16(), start.elapsed());
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            if let Ok(v) = HeaderValue::from_str(&version) {
                parts.headers.insert("x-served-by-version", v);
            }
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Ok(Err(_)) => {
            shared.record(&version, 502, start.elapsed());
            Ok(json_response(
                StatusCode::BAD_GATEWAY,
                r#"{"error":"upstream unavailable"}"#,
            ))
        }
        Err(_) => {
            shared.record(&version, 504, start.elapsed());
            Ok(json_response(
                StatusCode::GATEWAY_TIMEOUT,
                r#"{"error":"upstream timed out"}"#,
            ))
        }
    }
}

/// The client's request re-targeted at `addr`, minus hop-by-hop headers, plus
/// `x-forwarded-for`. `None` if the target cannot form a valid URI.
fn upstream_request(
    req: Request<Incoming>,
    addr: SocketAddr,
    peer: SocketAddr,
) -> Option<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: Uri = format!("http://{addr}{pq}").parse().ok()?;
    strip_hop_by_hop(&mut parts.headers);
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {}", peer.ip()),
        _ => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    Some(Request::from_parts(parts, body))
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including any the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

impl Shared {
    fn record(&self, version: &Arc<str>, code: u16, elapsed: Duration) {
        let error = code >= 500 || code == CODE_DROPPED;
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut stats = lock(&self.stats);
        let s = match stats.get_mut(version) {
            Some(s) => s,
            None => stats.entry(version.clone()).or_default(),
        };
        *s.codes.entry(code).or_insert(0) += 1;
        if error {
            s.errors += 1;
        }
        s.duration.observe(elapsed.as_secs_f64());
        s.window.record(ms, error);
        s.analysis.record(ms, error);
    }

    fn render_metrics(&self) -> String {
        let env = self.env.as_str();
        // Copy what is needed under the locks, format without them.
        let snapshot: Vec<StatsSnapshot> = lock(&self.stats)
            .iter()
            .map(|(v, s)| StatsSnapshot {
                version: v.to_string(),
                codes: s.codes.iter().map(|(c, n)| (*c, *n)).collect(),
                errors: s.errors,
                duration: s.duration.clone(),
            })
            .collect();
        let (weight, backends) = {
            let r = lock(&self.routes);
            let weight = if r.canary.is_some() { r.weight } else { 0 };
            let mut b: Vec<(String, usize)> = r
                .versions
                .iter()
                .map(|(k, v)| (k.to_string(), v.addrs.len()))
                .collect();
            b.sort();
            (weight, b)
        };
        let fault = lock(&self.fault).clone().unwrap_or_default();

        let mut out = String::with_capacity(4096);
        write_header(
            &mut out,
            "blissful_router_requests_total",
            "counter",
            "Requests handled by the edge router, by version and status code.",
        );
        for snap in &snapshot {
            for (code, n) in &snap.codes {
                let code = if *code == CODE_DROPPED {
                    "dropped".to_string()
                } else {
                    code.to_string()
                };
                write_sample(
                    &mut out,
                    "blissful_router_requests_total",
                    &[("env", env), ("version", &snap.version), ("code", &code)],
                    *n as f64,
                );
            }
        }
        write_header(
            &mut out,
            "blissful_router_errors_total",
            "counter",
            "Failed requests (5xx, upstream failures, dropped connections).",
        );
        for snap in &snapshot {
            write_sample(
                &mut out,
                "blissful_router_errors_total",
                &[("env", env), ("version", &snap.version)],
                snap.errors as f64,
            );
        }
        write_header(
            &mut out,
            "blissful_router_request_duration_seconds",
            "histogram",
            "Time from request arrival to response headers.",
        );
        for snap in &snapshot {
            snap.duration.write(
                &mut out,
                "blissful_router_request_duration_seconds",
                &[("env", env), ("version", &snap.version)],
            );
        }
        write_header(
            &mut out,
            "blissful_router_canary_weight",
            "gauge",
            "Percent of traffic routed to the canary.",
        );
        write_sample(
            &mut out,
            "blissful_router_canary_weight",
            &[("env", env)],
            weight as f64,
        );
        write_header(
            &mut out,
            "blissful_router_fault_active",
            "gauge",
            "1 while an injected fault of this kind is active.",
        );
        for (kind, on) in [
            ("latency", fault.latency_ms > 0),
            ("error", fault.error_rate > 0.0),
            ("drop", fault.drop_rate > 0.0),
        ] {
            write_sample(
                &mut out,
                "blissful_router_fault_active",
                &[("env", env), ("kind", kind)],
                if on { 1.0 } else { 0.0 },
            );
        }
        write_header(
            &mut out,
            "blissful_router_backends",
            "gauge",
            "Ready instances the router sends traffic to, by version.",
        );
        for (v, n) in &backends {
            write_sample(
                &mut out,
                "blissful_router_backends",
                &[("env", env), ("version", v)],
                *n as f64,
            );
        }
        write_header(
            &mut out,
            "blissful_router_refused_connections_total",
            "counter",
            "Client connections refused at the connection limit.",
        );
        write_sample(
            &mut out,
            "blissful_router_refused_connections_total",
            &[("env", env)],
            self.refused_connections.load(Ordering::Relaxed) as f64,
        );
        out
    }
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.render_metrics(),
    )
        .into_response()
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
