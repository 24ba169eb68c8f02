//! FAKE Loki server for tests only (never part of the product): Loki cannot
//! run on the test machines. It implements the documented HTTP API formats
//! the Loki source uses, on 127.0.0.1 only:
//!
//! - `GET /loki/api/v1/query_range` (`query`, `start`/`end` in ns, start
//!   inclusive, end exclusive, `limit` (default 100, capped like Loki's
//!   `max_entries_limit_per_query`), `direction` (default `backward`)),
//!   answering `{"status":"success","data":{"resultType":"streams",
//!   "result":[{"stream":{…},"values":[["<ns>","<line>"],…]}],"stats":{…}}}`;
//! - `GET /loki/api/v1/tail` as a WebSocket (`query`, `start`, `limit`,
//!   `delay_for`): first the newest `limit` stored entries since `start`,
//!   then every entry pushed, as `{"streams":[…],"dropped_entries":…}`
//!   frames;
//! - `GET /loki/api/v1/labels` and `GET /ready`;
//! - Loki's plain-text error bodies: `parse error at line 1, col N: syntax
//!   error: unexpected …` (HTTP 400) for LogQL it cannot parse, the limit
//!   error, and scripted answers (429 `too many outstanding requests`, …).
//!
//! It evaluates a small LogQL subset for real (label matchers `= != =~ !~`,
//! line filters `|= != |~ !~`, label filters `| name op "value"`), with Go's
//! string escapes, so a test can tell whether the LogQL it was sent selects
//! what it should. Every request is recorded for assertions. Answers can be
//! made slow.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::sync::broadcast;

use super::serving::{bind_free, Restartable};

/// One stored log entry.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeEntry {
    pub ts_ns: i64,
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

impl FakeEntry {
    pub fn new(ts_ns: i64, labels: &[(&str, &str)], line: &str) -> FakeEntry {
        FakeEntry {
            ts_ns,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            line: line.to_string(),
        }
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `query_range`, `tail`, `labels` or `ready`.
    pub endpoint: &'static str,
    pub params: BTreeMap<String, String>,
    pub authorization: Option<String>,
    pub tenant: Option<String>,
}

#[derive(Clone, Debug)]
enum Live {
    Entries(Vec<FakeEntry>),
    Dropped(Vec<FakeEntry>),
    CloseAll,
}

struct Inner {
    entries: Mutex<Vec<FakeEntry>>,
    received: Mutex<Vec<Received>>,
    delay: Mutex<Duration>,
    max_limit: AtomicUsize,
    scripted: Mutex<VecDeque<(u16, String)>>,
    live: broadcast::Sender<Live>,
    open_tails: AtomicUsize,
}

/// Handle on a running fake; clones share it.
#[derive(Clone)]
pub struct FakeLoki {
    inner: Arc<Inner>,
    addr: SocketAddr,
    serving: Restartable,
}

impl FakeLoki {
    /// Serve on 127.0.0.1 with a free port.
    pub async fn start() -> FakeLoki {
        let (live, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            entries: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            max_limit: AtomicUsize::new(5000),
            scripted: Mutex::new(VecDeque::new()),
            live,
            open_tails: AtomicUsize::new(0),
        });
        let listener = bind_free("fake loki").await;
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/loki/api/v1/query_range", get(query_range))
            .route("/loki/api/v1/tail", get(tail))
            .route("/loki/api/v1/labels", get(labels))
            .route("/ready", get(ready))
            .with_state(inner.clone());
        FakeLoki {
            inner,
            addr,
            serving: Restartable::serve("fake loki", listener, app),
        }
    }

    /// Go away: the port refuses connections, tails are cut, idle
    /// connections closed.
    pub async fn stop(&self) {
        self.serving.stop_with(self.drop_tails()).await;
    }

    /// Come back on the same address, with the same entries.
    pub async fn restart(&self) {
        self.stop().await;
        self.serving.restart().await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Store entries (history only).
    pub fn add(&self, entries: impl IntoIterator<Item = FakeEntry>) {
        self.inner.entries.lock().unwrap().extend(entries);
    }

    /// Store entries and send them to every open tail.
    pub fn push(&self, entries: Vec<FakeEntry>) {
        self.add(entries.clone());
        let _ = self.inner.live.send(Live::Entries(entries));
    }

    /// Tell every open tail these entries were dropped (not stored).
    pub fn push_dropped(&self, entries: Vec<FakeEntry>) {
        let _ = self.inner.live.send(Live::Dropped(entries));
    }

    /// Cut every open tail without a close frame and wait until they are gone.
    pub async fn drop_tails(&self) {
        let _ = self.inner.live.send(Live::CloseAll);
        self.wait_open_tails(0).await;
    }

    pub fn open_tails(&self) -> usize {
        self.inner.open_tails.load(Ordering::SeqCst)
    }

    pub async fn wait_open_tails(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.open_tails() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake loki: {} tails open, waited for {n}",
                self.open_tails()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every answer (and tail upgrade) waits this long first.
    pub fn set_delay(&self, d: Duration) {
        *self.inner.delay.lock().unwrap() = d;
    }

    /// Like Loki's `max_entries_limit_per_query`.
    pub fn set_max_limit(&self, n: usize) {
        self.inner.max_limit.store(n, Ordering::SeqCst);
    }

    /// The next `query_range` answers this instead (plain text, as Loki does).
    pub fn fail_next(&self, status: u16, body: &str) {
        self.inner
            .scripted
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn received_at(&self, endpoint: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.endpoint == endpoint)
            .collect()
    }
}

fn record(
    inner: &Inner,
    endpoint: &'static str,
    params: &BTreeMap<String, String>,
    headers: &HeaderMap,
) {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    inner.received.lock().unwrap().push(Received {
        endpoint,
        params: params.clone(),
        authorization: h("authorization"),
        tenant: h("x-scope-orgid"),
    });
}

async fn slow(inner: &Inner) {
    let d = *inner.delay.lock().unwrap();
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn text(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

/// Loki reads an integer of more than ten digits as nanoseconds, of ten or
/// fewer as seconds.
fn parse_time(s: Option<&String>, default: i64) -> Result<i64, String> {
    let Some(s) = s else { return Ok(default) };
    let n: i64 = s
        .parse()
        .map_err(|_| format!("cannot parse \"{s}\" to a valid timestamp"))?;
    Ok(if s.len() > 10 { n } else { n * 1_000_000_000 })
}

fn parse_limit(inner: &Inner, s: Option<&String>) -> Result<usize, String> {
    let limit = match s {
        None => 100,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| format!("invalid limit: \"{s}\""))?,
    };
    let max = inner.max_limit.load(Ordering::SeqCst);
    if limit > max {
        return Err(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {max})"
        ));
    }
    Ok(limit)
}

/// Group entries into streams in order of first appearance.
fn streams_json(entries: &[&FakeEntry]) -> serde_json::Value {
    let mut order: Vec<&BTreeMap<String, String>> = Vec::new();
    let mut values: Vec<Vec<serde_json::Value>> = Vec::new();
    for e in entries {
        let i = match order.iter().position(|l| **l == e.labels) {
            Some(i) => i,
            None => {
                order.push(&e.labels);
                values.push(Vec::new());
                order.len() - 1
            }
        };
        values[i].push(json!([e.ts_ns.to_string(), e.line]));
    }
    serde_json::Value::Array(
        order
            .into_iter()
            .zip(values)
            .map(|(l, v)| json!({"stream": l, "values": v}))
            .collect(),
    )
}

async fn query_range(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&inner, "query_range", &params, &headers);
    slow(&inner).await;
    if let Some((status, body)) = inner.scripted.lock().unwrap().pop_front() {
        return text(status, body);
    }
    let Some(q) = params.get("query") else {
        return text(400, "query parameter is required");
    };
    let query = match logql::parse(q) {
        Ok(q) => q,
        Err(e) => return text(400, e),
    };
    let now = now_ns();
    let end = match parse_time(params.get("end"), now) {
        Ok(t) => t,
        Err(e) => return text(400, e),
    };
    let start = match parse_time(params.get("start"), end - 3_600_000_000_000) {
        Ok(t) => t,
        Err(e) => return text(400, e),
    };
    let limit = match parse_limit(&inner, params.get("limit")) {
        Ok(l) => l,
        Err(e) => return text(400, e),
    };
    let forward = match params.get("direction").map(String::as_str) {
        None | Some("backward") | Some("BACKWARD") => false,
        Some("forward") | Some("FORWARD") => true,
        Some(other) => return text(400, format!("invalid direction '{other}'")),
    };
    let store = inner.entries.lock().unwrap().clone();
    let mut hits: Vec<&FakeEntry> = store
        .iter()
        .filter(|e| e.ts_ns >= start && e.ts_ns < end && query.matches(e))
        .collect();
    hits.sort_by_key(|e| e.ts_ns);
    if !forward {
        hits.reverse();
    }
    hits.truncate(limit);
    let bytes: usize = hits.iter().map(|e| e.line.len()).sum();
    let body = json!({
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": streams_json(&hits),
            "stats": {
                "summary": {
                    "bytesProcessedPerSecond": 4_812_033,
                    "linesProcessedPerSecond": 39_702,
                    "totalBytesProcessed": bytes,
                    "totalLinesProcessed": store.len(),
                    "execTime": 0.002_113,
                    "queueTime": 0.000_041,
                    "subqueries": 0,
                    "totalEntriesReturned": hits.len(),
                    "splits": 1,
                    "shards": 1
                },
                "querier": {"store": {"totalChunksRef": 0, "totalChunksDownloaded": 0}},
                "ingester": {"totalReached": 1, "totalChunksMatched": 1, "totalBatches": 1, "totalLinesSent": hits.len()},
                "cache": {"chunk": {"entriesFound": 0, "entriesRequested": 0, "requests": 0}}
            }
        }
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn labels(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&inner, "labels", &params, &headers);
    slow(&inner).await;
    let mut names: Vec<String> = inner
        .entries
        .lock()
        .unwrap()
        .iter()
        .flat_map(|e| e.labels.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    axum::Json(json!({"status": "success", "data": names})).into_response()
}

async fn ready(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    record(&inner, "ready", &BTreeMap::new(), &headers);
    text(200, "ready\n")
}

struct OpenTail(Arc<Inner>);

impl Drop for OpenTail {
    fn drop(&mut self) {
        self.0.open_tails.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn tail(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    record(&inner, "tail", &params, &headers);
    slow(&inner).await;
    let Some(q) = params.get("query") else {
        return text(400, "query parameter is required");
    };
    let query = match logql::parse(q) {
        Ok(q) => q,
        Err(e) => return text(400, e),
    };
    let limit = match parse_limit(&inner, params.get("limit")) {
        Ok(l) => l,
        Err(e) => return text(400, e),
    };
    let start = match parse_time(params.get("start"), now_ns() - 3_600_000_000_000) {
        Ok(t) => t,
        Err(e) => return text(400, e),
    };
    if let Some(d) = params.get("delay_for") {
        if d.parse::<u64>().map_or(true, |d| d > 5) {
            return text(400, "delay_for can't be greater than 5");
        }
    }
    // Subscribe before reading the store so nothing falls in between (an
    // entry may then come twice, as it can from Loki).
    let rx = inner.live.subscribe();
    inner.open_tails.fetch_add(1, Ordering::SeqCst);
    let guard = OpenTail(inner.clone());
    ws.on_upgrade(move |socket| serve_tail(socket, guard, query, start, limit, rx))
}

fn frame(streams: &[&FakeEntry], dropped: &[FakeEntry]) -> Message {
    let dropped = if dropped.is_empty() {
        serde_json::Value::Null
    } else {
        dropped
            .iter()
            .map(|e| json!({"labels": e.labels, "timestamp": e.ts_ns.to_string()}))
            .collect()
    };
    let body = json!({"streams": streams_json(streams), "dropped_entries": dropped});
    Message::Text(body.to_string().into())
}

async fn serve_tail(
    mut socket: WebSocket,
    guard: OpenTail,
    query: logql::Query,
    start: i64,
    limit: usize,
    mut rx: broadcast::Receiver<Live>,
) {
    let now = now_ns();
    let store = guard.0.entries.lock().unwrap().clone();
    let mut replay: Vec<&FakeEntry> = store
        .iter()
        .filter(|e| e.ts_ns >= start && e.ts_ns <= now && query.matches(e))
        .collect();
    replay.sort_by_key(|e| e.ts_ns);
    let skip = replay.len().saturating_sub(limit);
    let replay = &replay[skip..];
    if !replay.is_empty() && socket.send(frame(replay, &[])).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            live = rx.recv() => match live {
                Ok(Live::Entries(entries)) => {
                    let hits: Vec<&FakeEntry> = entries.iter().filter(|e| query.matches(e)).collect();
                    if !hits.is_empty() && socket.send(frame(&hits, &[])).await.is_err() {
                        return;
                    }
                }
                Ok(Live::Dropped(entries)) => {
                    if socket.send(frame(&[], &entries)).await.is_err() {
                        return;
                    }
                }
                // Cut the connection: no close frame.
                Ok(Live::CloseAll) | Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The LogQL subset the fake understands, with Loki's error wording.
pub mod logql;
