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
        let app = Router::new()
            .route("/loki/api/v1/query_range", get(query_range))
            .route("/loki/api/v1/tail", get(tail))
            .route("/loki/api/v1/labels", get(labels))
            .route("/ready", get(ready))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake loki");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLoki { inner, addr }
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
pub mod logql {
    use super::FakeEntry;

    #[derive(Clone, Debug, PartialEq)]
    pub enum Op {
        Eq,
        Ne,
        Re,
        NotRe,
    }

    #[derive(Clone, Debug)]
    pub struct Matcher {
        pub name: String,
        pub op: Op,
        pub value: String,
        re: Option<regex::Regex>,
    }

    impl Matcher {
        fn new(name: String, op: Op, value: String, anchored: bool) -> Result<Matcher, String> {
            let re = match op {
                Op::Re | Op::NotRe => {
                    let pattern = if anchored {
                        format!("^(?:{value})$")
                    } else {
                        value.clone()
                    };
                    Some(
                        regex::Regex::new(&pattern)
                            .map_err(|e| format!("parse error : invalid regex {value:?}: {e}"))?,
                    )
                }
                _ => None,
            };
            Ok(Matcher {
                name,
                op,
                value,
                re,
            })
        }

        fn test(&self, s: &str) -> bool {
            match self.op {
                Op::Eq => s == self.value,
                Op::Ne => s != self.value,
                Op::Re => self.re.as_ref().is_some_and(|r| r.is_match(s)),
                Op::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(s)),
            }
        }
    }

    #[derive(Clone, Debug)]
    pub enum Stage {
        /// `|=`, `!=`, `|~`, `!~` on the line (`name` unused).
        Line(Matcher),
        /// `| name op "value"` on the labels.
        Label(Matcher),
    }

    #[derive(Clone, Debug)]
    pub struct Query {
        pub selector: Vec<Matcher>,
        pub stages: Vec<Stage>,
    }

    impl Query {
        pub fn matches(&self, e: &FakeEntry) -> bool {
            let label = |m: &Matcher| m.test(e.labels.get(&m.name).map_or("", String::as_str));
            self.selector.iter().all(label)
                && self.stages.iter().all(|s| match s {
                    Stage::Line(m) => match m.op {
                        Op::Eq => e.line.contains(&m.value),
                        Op::Ne => !e.line.contains(&m.value),
                        _ => m.test(&e.line),
                    },
                    Stage::Label(m) => label(m),
                })
        }
    }

    struct Lexer<'a> {
        s: &'a str,
        i: usize,
    }

    fn err(col: usize, what: &str) -> String {
        format!("parse error at line 1, col {col}: syntax error: unexpected {what}")
    }

    impl Lexer<'_> {
        fn col(&self) -> usize {
            self.s[..self.i].chars().count() + 1
        }
        fn ws(&mut self) {
            while self.s[self.i..].starts_with([' ', '\t', '\n']) {
                self.i += 1;
            }
        }
        fn at_end(&mut self) -> bool {
            self.ws();
            self.i >= self.s.len()
        }
        fn eat(&mut self, t: &str) -> bool {
            self.ws();
            if self.s[self.i..].starts_with(t) {
                self.i += t.len();
                true
            } else {
                false
            }
        }
        /// What Loki's parser would name the next token.
        fn unexpected(&mut self) -> String {
            self.ws();
            let col = self.col();
            let r = &self.s[self.i..];
            let what = match r.chars().next() {
                None => "$end".to_string(),
                Some(c) if c.is_ascii_alphabetic() || c == '_' => "IDENTIFIER".into(),
                Some(c) if c.is_ascii_digit() => "NUMBER".into(),
                Some('"') | Some('`') => "STRING".into(),
                Some('{') => "{".into(),
                Some('}') => "}".into(),
                Some(c) => c.to_string(),
            };
            err(col, &what)
        }
        fn ident(&mut self) -> Result<String, String> {
            self.ws();
            let r = &self.s[self.i..];
            let len = r
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map_or(r.len(), |(i, _)| i);
            if len == 0 || r.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.unexpected());
            }
            self.i += len;
            Ok(r[..len].to_string())
        }
        fn op(&mut self) -> Result<Op, String> {
            for (t, op) in [
                ("=~", Op::Re),
                ("!~", Op::NotRe),
                ("!=", Op::Ne),
                ("=", Op::Eq),
            ] {
                if self.eat(t) {
                    return Ok(op);
                }
            }
            Err(self.unexpected())
        }
        /// A Go string: `"..."` with escapes, or a raw backtick string.
        fn string(&mut self) -> Result<String, String> {
            self.ws();
            let col = self.col();
            let r = &self.s[self.i..];
            if let Some(body) = r.strip_prefix('`') {
                let end = body
                    .find('`')
                    .ok_or_else(|| err(col, "unterminated raw string"))?;
                self.i += end + 2;
                return Ok(body[..end].to_string());
            }
            let Some(body) = r.strip_prefix('"') else {
                return Err(self.unexpected());
            };
            let mut out = String::new();
            let mut it = body.char_indices();
            while let Some((i, c)) = it.next() {
                match c {
                    '"' => {
                        self.i += i + 2;
                        return Ok(out);
                    }
                    '\n' => break,
                    '\\' => {
                        let bad = || err(col, "invalid escape in string");
                        let (_, e) = it.next().ok_or_else(bad)?;
                        let mut hex = |n: usize| -> Result<char, String> {
                            let digits: String =
                                (0..n).filter_map(|_| it.next().map(|x| x.1)).collect();
                            u32::from_str_radix(&digits, 16)
                                .ok()
                                .filter(|_| digits.len() == n)
                                .and_then(char::from_u32)
                                .ok_or_else(bad)
                        };
                        let ch = match e {
                            'a' => '\u{7}',
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'v' => '\u{b}',
                            '\\' => '\\',
                            '"' => '"',
                            'x' => hex(2)?,
                            'u' => hex(4)?,
                            'U' => hex(8)?,
                            _ => return Err(bad()),
                        };
                        out.push(ch);
                    }
                    c => out.push(c),
                }
            }
            Err(err(col, "unterminated string"))
        }
    }

    /// Parse `{matchers} stages…`, or say why the way Loki does.
    pub fn parse(q: &str) -> Result<Query, String> {
        let mut lx = Lexer { s: q, i: 0 };
        if !lx.eat("{") {
            return Err(lx.unexpected());
        }
        let mut selector = Vec::new();
        if !lx.eat("}") {
            loop {
                let name = lx.ident()?;
                let op = lx.op()?;
                let value = lx.string()?;
                selector.push(Matcher::new(name, op, value, true)?);
                if lx.eat("}") {
                    break;
                }
                if !lx.eat(",") {
                    return Err(lx.unexpected());
                }
            }
        }
        if !selector
            .iter()
            .any(|m| !m.test("") && matches!(m.op, Op::Eq | Op::Re))
        {
            return Err("parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into());
        }
        let mut stages = Vec::new();
        while !lx.at_end() {
            let line_op = [
                ("|=", Op::Eq),
                ("|~", Op::Re),
                ("!=", Op::Ne),
                ("!~", Op::NotRe),
            ]
            .into_iter()
            .find(|(t, _)| lx.eat(t));
            if let Some((_, op)) = line_op {
                let value = lx.string()?;
                stages.push(Stage::Line(Matcher::new(String::new(), op, value, false)?));
            } else if lx.eat("|") {
                let name = lx.ident()?;
                let op = lx.op()?;
                let value = lx.string()?;
                stages.push(Stage::Label(Matcher::new(name, op, value, true)?));
            } else {
                return Err(lx.unexpected());
            }
        }
        Ok(Query { selector, stages })
    }
}
