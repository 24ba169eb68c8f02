//! The built-in sample service: a small HTTP service whose versions can be
//! slow, buggy or leaky on purpose, so rollouts and chaos have something real
//! to act on. It runs as a child process via the hidden CLI subcommand
//! `blissful-infra sample-service --port P --version V ...`, and tests serve
//! [`sample_service_router`] in-process.

use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::router::histogram::{write_header, write_sample, BucketHistogram};
use crate::domain::sanitize::sanitize_str;

/// Log lines buffered between request handlers and the stdout writer.
const LOG_CAPACITY: usize = 8192;
/// Domain events buffered per WebSocket subscriber before it starts skipping.
const EVENT_CAPACITY: usize = 256;
/// Memory the leak simulation may hold at most.
const MEMORY_GROWTH_CAP: u64 = 1 << 30;
const MEMORY_TICK: Duration = Duration::from_millis(250);
/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Longest path or name kept in logs and events.
const MAX_TEXT: usize = 256;

const PROBE_PATHS: [&str; 4] = ["/health", "/ready", "/live", "/metrics"];

#[derive(Clone, Debug)]
pub struct SampleServiceOptions {
    pub port: u16,
    pub version: String,
    pub instance: String,
    pub latency_ms: u64,
    pub error_rate: f64,
    pub memory_growth_mib_per_min: f64,
}

impl SampleServiceOptions {
    /// Options for a well-behaved instance of `version`.
    pub fn new(port: u16, version: &str) -> Self {
        SampleServiceOptions {
            port,
            version: version.to_string(),
            instance: format!("{version}-{}", std::process::id()),
            latency_ms: 0,
            error_rate: 0.0,
            memory_growth_mib_per_min: 0.0,
        }
    }

    /// Clamp rates into their meaningful ranges (NaN counts as 0).
    pub fn normalized(mut self) -> Self {
        self.error_rate = if self.error_rate.is_finite() {
            self.error_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.memory_growth_mib_per_min = if self.memory_growth_mib_per_min.is_finite() {
            self.memory_growth_mib_per_min.max(0.0)
        } else {
            0.0
        };
        self
    }
}

/// Arguments of the hidden `sample-service` subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct SampleServiceArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long)]
    pub port: u16,
    /// Version label reported in responses, logs and metrics.
    #[arg(long)]
    pub version: String,
    /// Instance id in logs (default: `<version>-<pid>`).
    #[arg(long)]
    pub instance: Option<String>,
    /// Latency added to every non-probe request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction 0..1 of non-probe requests answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Memory allocated (and touched) per minute, up to 1 GiB.
    #[arg(long, default_value_t = 0.0)]
    pub memory_growth_mib_per_min: f64,
}

impl SampleServiceArgs {
    pub fn into_options(self) -> SampleServiceOptions {
        let mut o = SampleServiceOptions::new(self.port, &self.version);
        if let Some(i) = self.instance {
            o.instance = i;
        }
        o.latency_ms = self.latency_ms;
        o.error_rate = self.error_rate;
        o.memory_growth_mib_per_min = self.memory_growth_mib_per_min;
        o.normalized()
    }
}

// ---------------------------------------------------------------------------
// Logging

/// Non-blocking sender of JSON log lines; full buffers drop lines and count them.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

/// The receiving end of a [`LogSink`].
#[derive(Debug)]
pub struct LogReceiver {
    rx: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    pub fn new(capacity: usize) -> (LogSink, LogReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        (
            LogSink {
                tx,
                dropped: dropped.clone(),
            },
            LogReceiver { rx, dropped },
        )
    }

    pub fn emit(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines lost so far (buffer full or writer gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl LogReceiver {
    /// Next line, for tests and custom writers.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// Write lines to `w` until every sink is gone or `stop` turns true, then
    /// drain what is buffered. Lines are batched and flushed whenever the
    /// buffer runs empty, so output is line-timely without a syscall per line.
    pub async fn write_until<W: AsyncWrite + Unpin>(
        mut self,
        w: W,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(64 * 1024, w);
        let mut reported = 0u64;
        loop {
            let first = tokio::select! {
                line = self.rx.recv() => line,
                _ = wait_true(&mut stop) => None,
            };
            let Some(first) = first else { break };
            self.write_line(&mut w, &first, &mut reported).await?;
            while let Ok(line) = self.rx.try_recv() {
                self.write_line(&mut w, &line, &mut reported).await?;
            }
            w.flush().await?;
        }
        while let Ok(line) = self.rx.try_recv() {
            self.write_line(&mut w, &line, &mut reported).await?;
        }
        self.report_drops(&mut w, &mut reported).await?;
        w.flush().await
    }

    async fn write_line<W: AsyncWrite + Unpin>(
        &self,
        w: &mut BufWriter<W>,
        line: &str,
        reported: &mut u64,
    ) -> std::io::Result<()> {
        self.report_drops(w, reported).await?;
        w.write_all(line.as_bytes()).await?;
        w.write_all(b"\n").await
    }

    /// Say how many lines were lost since the last report, so gaps are visible.
    async fn report_drops<W: AsyncWrite + Unpin>(
        &self,
        w: &mut BufWriter<W>,
        reported: &mut u64,
    ) -> std::io::Result<()> {
        let total = self.dropped.load(Ordering::Relaxed);
        if total > *reported {
            let line = json!({
                "ts": now_rfc3339_millis(),
                "level": "warn",
                "msg": "log lines dropped",
                "count": total - *reported,
            });
            *reported = total;
            w.write_all(line.to_string().as_bytes()).await?;
            w.write_all(b"\n").await?;
        }
        Ok(())
    }
}

/// Resolve when the watch turns true; never resolve if its sender is gone first.
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now_rfc3339_millis() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize)]
struct RequestLog<'a> {
    ts: String,
    level: &'a str,
    msg: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration_ms: f64,
    version: &'a str,
    instance: &'a str,
    request_id: &'a str,
}

// ---------------------------------------------------------------------------
// State and metrics

#[derive(Debug, Default)]
struct ServiceMetrics {
    /// (method, route, status) -> count; labels come from fixed sets so the map stays small.
    requests: HashMap<(&'static str, &'static str, u16), u64>,
    durations: HashMap<&'static str, BucketHistogram>,
}

/// Shared state of one sample-service instance.
#[derive(Debug)]
pub struct SampleServiceState {
    opts: SampleServiceOptions,
    logs: LogSink,
    events: broadcast::Sender<Arc<str>>,
    ready: AtomicBool,
    closing: watch::Sender<bool>,
    metrics: Mutex<ServiceMetrics>,
    leaked_bytes: AtomicU64,
    events_skipped: AtomicU64,
}

impl SampleServiceState {
    pub fn new(opts: SampleServiceOptions, logs: LogSink) -> Arc<Self> {
        Self::with_event_capacity(opts, logs, EVENT_CAPACITY)
    }

    /// As [`SampleServiceState::new`] with a chosen per-subscriber event buffer.
    pub fn with_event_capacity(
        opts: SampleServiceOptions,
        logs: LogSink,
        capacity: usize,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(capacity.max(1));
        let (closing, _) = watch::channel(false);
        Arc::new(SampleServiceState {
            opts: opts.normalized(),
            logs,
            events,
            ready: AtomicBool::new(false),
            closing,
            metrics: Mutex::new(ServiceMetrics::default()),
            leaked_bytes: AtomicU64::new(0),
            events_skipped: AtomicU64::new(0),
        })
    }

    pub fn options(&self) -> &SampleServiceOptions {
        &self.opts
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stop reporting ready, end event streams and the memory growth task.
    pub fn begin_shutdown(&self) {
        self.set_ready(false);
        self.closing.send_replace(true);
    }

    /// Bytes currently held by the memory-growth simulation.
    pub fn leaked_bytes(&self) -> u64 {
        self.leaked_bytes.load(Ordering::Relaxed)
    }

    /// Events a lagging WebSocket subscriber had to skip, summed over subscribers.
    pub fn events_skipped(&self) -> u64 {
        self.events_skipped.load(Ordering::Relaxed)
    }

    /// Publish a domain event to WebSocket subscribers (none listening is fine).
    pub fn publish(&self, event: &DomainEvent) {
        if let Ok(text) = serde_json::to_string(event) {
            let _ = self.events.send(Arc::from(text));
        }
    }

    /// A JSON lifecycle line (`started`, `stopping`, ...) with extra fields.
    pub fn log_lifecycle(&self, level: &str, msg: &str, extra: serde_json::Value) {
        let mut line = json!({
            "ts": now_rfc3339_millis(),
            "level": level,
            "msg": msg,
            "version": self.opts.version,
            "instance": self.opts.instance,
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
            obj.extend(extra);
        }
        self.logs.emit(line.to_string());
    }

    fn record(&self, method: &'static str, route: &'static str, status: u16, secs: f64) {
        if let Ok(mut m) = self.metrics.lock() {
            *m.requests.entry((method, route, status)).or_insert(0) += 1;
            m.durations.entry(route).or_default().observe(secs);
        }
    }

    /// Prometheus text exposition of this instance.
    pub fn render_metrics(&self, rss_bytes: Option<u64>) -> String {
        let mut out = String::with_capacity(4096);
        let (mut requests, mut durations) = match self.metrics.lock() {
            Ok(m) => (
                m.requests.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
                m.durations
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect::<Vec<_>>(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        requests.sort();
        durations.sort_by(|a, b| a.0.cmp(b.0));

        write_header(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests handled, by method, route and status.",
        );
        for ((method, path, status), n) in &requests {
            let status = status.to_string();
            write_sample(
                &mut out,
                "http_requests_total",
                &[("method", method), ("path", path), ("status", &status)],
                *n as f64,
            );
        }
        write_header(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "HTTP request duration, by route.",
        );
        for (path, h) in &durations {
            h.write(&mut out, "http_request_duration_seconds", &[("path", path)]);
        }
        if let Some(rss) = rss_bytes {
            write_header(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            write_sample(&mut out, "process_resident_memory_bytes", &[], rss as f64);
        }
        write_header(
            &mut out,
            "app_version_info",
            "gauge",
            "Version of this instance (always 1).",
        );
        write_sample(
            &mut out,
            "app_version_info",
            &[
                ("version", &self.opts.version),
                ("instance", &self.opts.instance),
            ],
            1.0,
        );
        write_header(
            &mut out,
            "sample_memory_growth_bytes",
            "gauge",
            "Memory held by the simulated leak.",
        );
        write_sample(
            &mut out,
            "sample_memory_growth_bytes",
            &[],
            self.leaked_bytes() as f64,
        );
        write_header(
            &mut out,
            "sample_ws_events_skipped_total",
            "counter",
            "Events skipped by lagging WebSocket subscribers.",
        );
        write_sample(
            &mut out,
            "sample_ws_events_skipped_total",
            &[],
            self.events_skipped() as f64,
        );
        write_header(
            &mut out,
            "sample_log_lines_dropped_total",
            "counter",
            "Log lines dropped because the log buffer was full.",
        );
        write_sample(
            &mut out,
            "sample_log_lines_dropped_total",
            &[],
            self.logs.dropped() as f64,
        );
        out
    }
}

/// A domain event streamed on `/ws/events`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub event_id: String,
    pub aggregate_id: String,
    pub occurred_at: String,
    pub event_type: String,
    pub payload: serde_json::Value,
}

impl DomainEvent {
    pub fn greeting(name: &str, message: &str) -> Self {
        DomainEvent {
            event_id: random_uuid(),
            aggregate_id: name.to_string(),
            occurred_at: now_rfc3339_millis(),
            event_type: "greeting.created".to_string(),
            payload: json!({ "name": name, "message": message }),
        }
    }
}

/// A random id in UUID v4 layout.
fn random_uuid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn random_hex16() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Route template for metrics labels; arbitrary paths collapse to `unmatched`.
fn route_label(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/ready" => "/ready",
        "/live" => "/live",
        "/metrics" => "/metrics",
        "/hello" => "/hello",
        "/echo" => "/echo",
        "/ws/events" => "/ws/events",
        p => match p.strip_prefix("/hello/") {
            Some(name) if !name.is_empty() && !name.contains('/') => "/hello/{name}",
            _ => "unmatched",
        },
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Accept a caller's request id only if it is short and plain.
fn request_id_from(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(random_hex16)
}

// ---------------------------------------------------------------------------
// HTTP

/// The sample service's routes with behaviour injection, metrics and logging.
pub fn sample_service_router(state: Arc<SampleServiceState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/live", get(live))
        .route("/metrics", get(metrics))
        .route("/hello", get(hello))
        .route("/hello/{name}", get(hello_name))
        .route("/echo", post(echo))
        .route("/ws/events", get(ws_events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn observe(State(st): State<Arc<SampleServiceState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let path = truncate(req.uri().path(), MAX_TEXT).to_string();
    let request_id = request_id_from(req.headers());
    let probe = PROBE_PATHS.contains(&path.as_str());

    let mut resp = if probe {
        next.run(req).await
    } else {
        if st.opts.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(st.opts.latency_ms)).await;
        }
        if st.opts.error_rate > 0.0 && fastrand::f64() < st.opts.error_rate {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "injected failure" })),
            )
                .into_response()
        } else {
            next.run(req).await
        }
    };

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    st.record(method, route_label(&path), status, elapsed.as_secs_f64());
    let level = match status {
        500.. => "error",
        400..=499 => "warn",
        _ => "info",
    };
    let safe_path = sanitize_str(&path);
    let line = RequestLog {
        ts: now_rfc3339_millis(),
        level,
        msg: "request",
        method,
        path: &safe_path,
        status,
        duration_ms: (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        version: &st.opts.version,
        instance: &st.opts.instance,
        request_id: &request_id,
    };
    if let Ok(text) = serde_json::to_string(&line) {
        st.logs.emit(text);
    }
    resp
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "healthy", "timestamp": now_rfc3339() }))
}

async fn ready(State(st): State<Arc<SampleServiceState>>) -> Response {
    if st.is_ready() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
            .into_response()
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

async fn metrics(State(st): State<Arc<SampleServiceState>>) -> Response {
    let rss = super::procstat::self_rss_bytes().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.render_metrics(rss),
    )
        .into_response()
}

async fn hello() -> Json<serde_json::Value> {
    Json(json!({ "message": "Hello, World!" }))
}

async fn hello_name(
    State(st): State<Arc<SampleServiceState>>,
    Path(name): Path<String>,
) -> Json<serde_json::Value> {
    let name = truncate(&name, MAX_TEXT);
    let message = format!("Hello, {name}!");
    st.publish(&DomainEvent::greeting(name, &message));
    Json(json!({ "message": message }))
}

async fn echo(headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

async fn ws_events(State(st): State<Arc<SampleServiceState>>, ws: WebSocketUpgrade) -> Response {
    // Subscribe before answering so no event published after the 101 is missed.
    let rx = st.events.subscribe();
    let closing = st.closing.subscribe();
    ws.on_upgrade(move |socket| stream_events(st, socket, rx, closing))
}

async fn stream_events(
    st: Arc<SampleServiceState>,
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<str>>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            ev = next_event(&mut rx, &st) => {
                let Some(ev) = ev else { break };
                if socket.send(Message::text(ev.to_string())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                // Pings are answered by the WebSocket layer; other input is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = wait_true(&mut closing) => {
                let frame = CloseFrame { code: close_code::AWAY, reason: "shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}

/// Next event for a subscriber; a lagging subscriber skips what it missed
/// (bounded memory) and the skip is counted and logged.
async fn next_event(
    rx: &mut broadcast::Receiver<Arc<str>>,
    st: &SampleServiceState,
) -> Option<Arc<str>> {
    loop {
        match rx.recv().await {
            Ok(ev) => return Some(ev),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                st.events_skipped.fetch_add(n, Ordering::Relaxed);
                st.log_lifecycle(
                    "warn",
                    "websocket subscriber lagged; events skipped",
                    json!({ "skipped": n }),
                );
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

// ---------------------------------------------------------------------------
// Memory growth

/// Bytes to allocate this tick given what is held, the carried-over fraction,
/// the per-tick rate and the cap. Returns (bytes, new carry).
fn growth_step(held: u64, carry: f64, per_tick: f64, cap: u64) -> (u64, f64) {
    let want = carry + per_tick.max(0.0);
    let room = cap.saturating_sub(held);
    let whole = want.floor();
    let bytes = (whole as u64).min(room);
    let carry = if room == 0 { 0.0 } else { want - whole };
    (bytes, carry)
}

/// Allocate `n` bytes and write to every page so they become resident.
fn touch_alloc(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let page = super::procstat::page_size().max(1) as usize;
    for i in (0..n).step_by(page) {
        v[i] = 1;
    }
    std::hint::black_box(v)
}

/// Simulate a leak at `memory_growth_mib_per_min` until shutdown; `None` when the rate is 0.
pub fn spawn_memory_growth(state: Arc<SampleServiceState>) -> Option<JoinHandle<()>> {
    let rate = state.opts.memory_growth_mib_per_min;
    if rate <= 0.0 {
        return None;
    }
    let per_tick = rate * 1024.0 * 1024.0 / 60.0 * MEMORY_TICK.as_secs_f64();
    let mut closing = state.closing.subscribe();
    Some(tokio::spawn(async move {
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total = 0u64;
        let mut carry = 0.0;
        let mut capped = false;
        let mut tick = tokio::time::interval(MEMORY_TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = wait_true(&mut closing) => break,
            }
            let (bytes, c) = growth_step(total, carry, per_tick, MEMORY_GROWTH_CAP);
            carry = c;
            if bytes == 0 {
                if total >= MEMORY_GROWTH_CAP && !capped {
                    capped = true;
                    state.log_lifecycle(
                        "warn",
                        "memory growth reached its 1 GiB cap",
                        json!({ "bytes": total }),
                    );
                }
                continue;
            }
            // Touching pages can take a few ms for big chunks; keep it off the async workers.
            match tokio::task::spawn_blocking(move || touch_alloc(bytes as usize)).await {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    held.push(chunk);
                    state.leaked_bytes.store(total, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        drop(held);
        state.leaked_bytes.store(0, Ordering::Relaxed);
    }))
}

// ---------------------------------------------------------------------------
// Process entry point

/// Environment variable naming the address to listen on instead of 127.0.0.1
/// (container images set `0.0.0.0` so a published port reaches the service).
pub const BIND_ENV: &str = "BLISSFUL_SAMPLE_BIND";

/// Serve the sample service on 127.0.0.1 (or `$BLISSFUL_SAMPLE_BIND`) until
/// SIGTERM/SIGINT, then shut down gracefully (readiness goes false first,
/// in-flight requests get 10 s).
pub async fn run_sample_service(opts: SampleServiceOptions) -> std::io::Result<()> {
    let opts = opts.normalized();
    let ip = match std::env::var(BIND_ENV) {
        Ok(v) if !v.is_empty() => v.parse::<std::net::IpAddr>().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{BIND_ENV}={v:?} is not an IP address: {e}"),
            )
        })?,
        _ => Ipv4Addr::LOCALHOST.into(),
    };
    let listener = tokio::net::TcpListener::bind((ip, opts.port)).await?;
    let local = listener.local_addr()?;
    let signalled = shutdown_signal()?;

    let (sink, log_rx) = LogSink::new(LOG_CAPACITY);
    let state = SampleServiceState::new(opts, sink);
    let (stop_tx, stop_rx) = watch::channel(false);
    let writer = tokio::spawn(log_rx.write_until(tokio::io::stdout(), stop_rx));
    let growth = spawn_memory_growth(state.clone());

    let o = state.options();
    state.log_lifecycle(
        "info",
        "started",
        json!({
            "port": local.port(),
            "pid": std::process::id(),
            "latency_ms": o.latency_ms,
            "error_rate": o.error_rate,
            "memory_growth_mib_per_min": o.memory_growth_mib_per_min,
        }),
    );
    state.set_ready(true);

    let app = sample_service_router(state.clone());
    let graceful = {
        let st = state.clone();
        let mut sig = signalled.clone();
        async move {
            wait_true(&mut sig).await;
            st.begin_shutdown();
            st.log_lifecycle("info", "stopping", json!({}));
        }
    };
    let deadline = {
        let mut sig = signalled.clone();
        async move {
            wait_true(&mut sig).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    let served = tokio::select! {
        r = axum::serve(listener, app).with_graceful_shutdown(graceful) => r,
        _ = deadline => {
            state.log_lifecycle("warn", "graceful shutdown timed out; closing open connections", json!({}));
            Ok(())
        }
    };
    state.begin_shutdown();
    if let Some(g) = growth {
        let _ = g.await;
    }
    match &served {
        Ok(()) => state.log_lifecycle("info", "stopped", json!({})),
        Err(e) => state.log_lifecycle("error", "server failed", json!({ "error": e.to_string() })),
    }
    stop_tx.send_replace(true);
    // A write error means stdout is gone: there is nobody left to tell.
    let _ = writer.await;
    served
}

/// A watch that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tx.send_replace(true);
            // Keep the sender alive so receivers never see a closed channel.
            std::future::pending::<()>().await;
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tx.send_replace(true);
            }
            std::future::pending::<()>().await;
        });
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(cap: usize) -> (Arc<SampleServiceState>, LogReceiver) {
        let (sink, rx) = LogSink::new(64);
        (
            SampleServiceState::with_event_capacity(SampleServiceOptions::new(0, "v1"), sink, cap),
            rx,
        )
    }

    #[test]
    fn route_labels_are_bounded() {
        assert_eq!(route_label("/hello/bob"), "/hello/{name}");
        assert_eq!(route_label("/hello/"), "unmatched");
        assert_eq!(route_label("/hello/a/b"), "unmatched");
        assert_eq!(route_label("/etc/passwd"), "unmatched");
        assert_eq!(route_label("/metrics"), "/metrics");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }

    #[test]
    fn uuid_layout() {
        let id = random_uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(random_uuid(), id);
    }

    #[test]
    fn request_ids_from_callers_are_filtered() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        assert_eq!(request_id_from(&h), "abc-123");
        h.insert("x-request-id", HeaderValue::from_static("bad id\"{"));
        let id = request_id_from(&h);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn growth_step_respects_rate_and_cap() {
        let (b, c) = growth_step(0, 0.0, 1000.5, 1 << 20);
        assert_eq!(b, 1000);
        assert!((c - 0.5).abs() < 1e-9);
        let (b, c) = growth_step(0, c, 1000.5, 1 << 20);
        assert_eq!(b, 1001);
        assert!(c.abs() < 1e-9);
        let (b, _) = growth_step((1 << 20) - 10, 0.0, 1000.0, 1 << 20);
        assert_eq!(b, 10);
        let (b, c) = growth_step(1 << 20, 0.0, 1000.0, 1 << 20);
        assert_eq!((b, c), (0, 0.0));
        assert_eq!(touch_alloc(10_000).len(), 10_000);
    }

    #[test]
    fn options_are_normalized() {
        let mut o = SampleServiceOptions::new(1, "v");
        o.error_rate = 7.0;
        o.memory_growth_mib_per_min = f64::NAN;
        let o = o.normalized();
        assert_eq!(o.error_rate, 1.0);
        assert_eq!(o.memory_growth_mib_per_min, 0.0);
        let args = SampleServiceArgs {
            port: 5,
            version: "v2".into(),
            instance: Some("i-1".into()),
            latency_ms: 3,
            error_rate: -1.0,
            memory_growth_mib_per_min: 2.0,
        };
        let o = args.into_options();
        assert_eq!(
            (o.port, o.instance.as_str(), o.latency_ms, o.error_rate),
            (5, "i-1", 3, 0.0)
        );
    }

    #[tokio::test]
    async fn lagging_subscriber_skips_and_counts() {
        let (st, _logs) = state(4);
        let mut rx = st.events.subscribe();
        for i in 0..10 {
            st.publish(&DomainEvent::greeting(&format!("n{i}"), "m"));
        }
        let first = next_event(&mut rx, &st).await.unwrap();
        let ev: DomainEvent = serde_json::from_str(&first).unwrap();
        // Capacity 4 keeps the last four (n6..n9); six were skipped.
        assert_eq!(ev.aggregate_id, "n6");
        assert_eq!(st.events_skipped(), 6);
    }

    #[tokio::test]
    async fn log_writer_batches_reports_drops_and_stops() {
        let (sink, rx) = LogSink::new(2);
        sink.emit("a".into());
        sink.emit("b".into());
        sink.emit("c".into()); // buffer full: dropped and counted
        assert_eq!(sink.dropped(), 1);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(rx.write_until(server, stop_rx));
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        while got.matches('\n').count() < 3 {
            let n = tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                .await
                .unwrap();
            assert!(n > 0);
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let lines: Vec<&str> = got.lines().collect();
        assert!(
            lines[0].contains("log lines dropped") && lines[0].contains("\"count\":1"),
            "{got}"
        );
        assert_eq!(&lines[1..], &["a", "b"]);
        stop_tx.send_replace(true);
        task.await.unwrap().unwrap();
        drop(sink);
    }

    #[tokio::test]
    async fn memory_growth_allocates_and_stops() {
        let (sink, _rx) = LogSink::new(16);
        let mut o = SampleServiceOptions::new(0, "leaky");
        o.memory_growth_mib_per_min = 240.0; // 1 MiB per 250 ms tick
        let st = SampleServiceState::new(o, sink);
        let task = spawn_memory_growth(st.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while st.leaked_bytes() < (1 << 20) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(st.leaked_bytes() >= 1 << 20);
        st.begin_shutdown();
        task.await.unwrap();
        assert_eq!(st.leaked_bytes(), 0);
        let none = SampleServiceState::new(SampleServiceOptions::new(0, "v"), LogSink::new(1).0);
        assert!(spawn_memory_growth(none).is_none());
    }
}
