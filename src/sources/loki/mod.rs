//! A Loki source: `query_range` for history, the tail WebSocket for live
//! lines, LogQL built from the log pane's filter.
//!
//! # Calling it
//!
//! History (what `blissful-infra logs --since 15m --grep timeout` needs):
//!
//! ```no_run
//! # async fn f(cfg: &blissful_infra::config::Config) -> Result<(), blissful_infra::sources::loki::LokiError> {
//! use std::time::Duration;
//! use blissful_infra::sources::loki::{history, LogQuery};
//! let filter = LogQuery {
//!     project: cfg.project.clone(),
//!     env: Some("staging".into()),
//!     grep: Some("timeout".into()),
//!     ..Default::default()
//! };
//! // The newest 500 lines of the last 15 minutes, oldest first.
//! let lines = history(&cfg.loki, &filter, Duration::from_secs(15 * 60), 500).await?;
//! # Ok(()) }
//! ```
//!
//! Live (`--follow`, the console's log pane): [`spawn_log_source`] sends the
//! same history, then every new line, as `RuntimeEvent::Log` into a bounded
//! channel, with its state as `RuntimeEvent::Source { name: "loki", .. }`
//! and losses as `RuntimeEvent::Lagged { count }`. It reconnects by itself
//! and ends when the receiver is dropped.
//!
//! Lower level: [`LokiClient`] (`query_range`, paged reads, `labels`,
//! `ready`, opening the tail) and [`logql::build`].
//!
//! Everything read from Loki (lines, labels, error bodies) is hostile: lines
//! go through `sanitize_str`, labels and errors through `strip_all`.

pub mod logql;
pub mod map;
mod source;
mod tail;

pub use logql::{LogQlError, LogQuery};
pub use map::StreamColumns;
pub use source::{spawn_log_source, LiveOptions, SOURCE_NAME};
pub use tail::{parse_frame, TailFrame, TailStream};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::config::{LokiConfig, LokiLabels};
use crate::domain::logs::LogLine;
use crate::domain::sanitize::strip_all;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// How much of an error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 500;
/// Most lines [`history`] returns, whatever is asked.
pub const MAX_HISTORY: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LokiError {
    #[error("loki: {reason} (url `{url}`)")]
    Config { url: String, reason: String },
    #[error("loki: {0}")]
    Query(#[from] LogQlError),
    #[error("cannot reach Loki at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("no answer from Loki at {url} within {timeout_ms} ms")]
    Timeout { url: String, timeout_ms: u64 },
    /// HTTP 400: Loki's own message, e.g. a LogQL parse error.
    #[error("Loki rejected `{query}`: {message}")]
    Rejected { query: String, message: String },
    /// HTTP 429: too many outstanding requests, or a tenant's rate limit.
    #[error("Loki is overloaded (HTTP 429) for `{query}`: {message}")]
    RateLimited { query: String, message: String },
    #[error("Loki answered HTTP {status} for `{query}`: {body}")]
    Http {
        query: String,
        status: u16,
        body: String,
    },
    #[error("unreadable answer from Loki for `{query}`: {reason}")]
    Decode { query: String, reason: String },
    #[error("`{query}` is a metric query ({got} result); a log query returns streams")]
    NotLogs { query: String, got: String },
    /// The tail's WebSocket failed or Loki closed it.
    #[error("Loki tail: {reason}")]
    Tail { reason: String },
}

/// Order of `query_range` answers (Loki's `direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    Backward,
}

impl Direction {
    fn param(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// One log entry as Loki returned it (not yet sanitised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The stream's labels, shared by its entries.
    pub labels: Arc<BTreeMap<String, String>>,
    pub line: String,
}

/// A bounded, paged read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged {
    /// In the requested direction.
    pub entries: Vec<Entry>,
    /// False when the bound stopped the read before the range was exhausted.
    pub complete: bool,
}

/// Maps entries to `LogLine`s, computing each stream's columns once.
pub struct LineMapper {
    names: LokiLabels,
    env: Option<String>,
    version: Option<String>,
    streams: HashMap<Arc<BTreeMap<String, String>>, StreamColumns>,
}

/// Streams whose columns are remembered before the cache starts over.
const MAX_CACHED_STREAMS: usize = 4096;

impl LineMapper {
    /// `filter`'s env and version fill columns a stream has no label for.
    pub fn new(names: &LokiLabels, filter: &LogQuery) -> Self {
        LineMapper {
            names: names.clone(),
            env: filter.env.clone(),
            version: filter.version.clone(),
            streams: HashMap::new(),
        }
    }

    pub fn columns(&mut self, labels: &Arc<BTreeMap<String, String>>) -> &StreamColumns {
        if self.streams.len() >= MAX_CACHED_STREAMS && !self.streams.contains_key(labels) {
            self.streams.clear();
        }
        self.streams.entry(labels.clone()).or_insert_with(|| {
            StreamColumns::new(
                labels,
                &self.names,
                self.env.as_deref(),
                self.version.as_deref(),
            )
        })
    }

    pub fn line(&mut self, e: &Entry) -> LogLine {
        self.columns(&e.labels).line(e.ts_ns, &e.line)
    }
}

// ---- answers -------------------------------------------------------------

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Deserialize)]
pub(crate) struct RawStream {
    #[serde(default)]
    pub(crate) stream: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) values: Vec<RawEntry>,
}

/// `["<ns>", "<line>"]`, or with a third element (structured metadata),
/// which is ignored.
pub(crate) struct RawEntry {
    pub(crate) ts: String,
    pub(crate) line: String,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[timestamp, line]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawEntry, A::Error> {
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawEntry { ts, line })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Raw streams to entries (checking the timestamps).
pub(crate) fn flatten(raw: Vec<RawStream>) -> Result<Vec<Entry>, String> {
    let mut out = Vec::with_capacity(raw.iter().map(|s| s.values.len()).sum());
    for s in raw {
        let labels = Arc::new(s.stream);
        for v in s.values {
            let ts_ns = map::parse_ns(&v.ts).ok_or_else(|| {
                format!("`{}` is not a timestamp in nanoseconds", strip_all(&v.ts))
            })?;
            out.push(Entry {
                ts_ns,
                labels: labels.clone(),
                line: v.line,
            });
        }
    }
    Ok(out)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// An answer that is not a success: Loki writes plain-text bodies; a proxy
/// in front may write JSON in Prometheus' error format.
pub(crate) fn status_error(query: &str, status: u16, body: &[u8]) -> LokiError {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(e),
            status: s,
            ..
        }) if s == "error" => e,
        _ => text.into_owned(),
    };
    let message = truncate(strip_all(&message).trim(), MAX_QUOTED_BODY);
    let query = strip_all(query);
    match status {
        400 => LokiError::Rejected { query, message },
        429 => LokiError::RateLimited { query, message },
        status => LokiError::Http {
            query,
            status,
            body: message,
        },
    }
}

/// Interpret an answer of `query_range` (or `query`) for a log query.
pub fn parse_streams(query: &str, http_status: u16, body: &[u8]) -> Result<Vec<Entry>, LokiError> {
    if !(200..300).contains(&http_status) {
        return Err(status_error(query, http_status, body));
    }
    let decode = |reason: String| LokiError::Decode {
        query: strip_all(query),
        reason: strip_all(&reason),
    };
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    if envelope.status != "success" {
        return Err(LokiError::Rejected {
            query: strip_all(query),
            message: strip_all(
                envelope
                    .error
                    .as_deref()
                    .unwrap_or("(no error message given)"),
            ),
        });
    }
    let data = envelope
        .data
        .ok_or_else(|| decode("`data` is missing".into()))?;
    if data.result_type != "streams" {
        return Err(LokiError::NotLogs {
            query: strip_all(query),
            got: strip_all(&data.result_type),
        });
    }
    let raw: Vec<RawStream> =
        serde_json::from_value(data.result).map_err(|e| decode(e.to_string()))?;
    flatten(raw).map_err(decode)
}

/// The error and its causes on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    strip_all(&out)
}

pub(crate) fn now_ns() -> i64 {
    let now = chrono::Utc::now();
    now.timestamp_nanos_opt()
        .unwrap_or_else(|| now.timestamp_millis().saturating_mul(1_000_000))
}

pub(crate) fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

// ---- the client ----------------------------------------------------------

#[derive(Clone, Debug)]
pub struct LokiClient {
    /// With the per-request timeout.
    http: reqwest::Client,
    /// Without a total timeout (the tail's upgraded connection lives on).
    stream_http: reqwest::Client,
    base: String,
    timeout: Duration,
    /// Lowered when Loki says its `max_entries_limit_per_query` is smaller.
    page_limit: Arc<AtomicUsize>,
}

impl LokiClient {
    pub fn new(cfg: &LokiConfig) -> Result<Self, LokiError> {
        let url = &cfg.url;
        let bad = |reason: String| LokiError::Config {
            url: strip_all(url),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("the url must be http:// or https:// with a host".into()));
        }
        let mut headers = HeaderMap::new();
        if !cfg.auth_header.is_empty() {
            let mut v = HeaderValue::from_str(&cfg.auth_header)
                .map_err(|_| bad("auth_header is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        if !cfg.tenant.is_empty() {
            let v = HeaderValue::from_str(&cfg.tenant)
                .map_err(|_| bad("tenant is not a valid header value".into()))?;
            headers.insert(HeaderName::from_static("x-scope-orgid"), v);
        }
        let mut roots = Vec::new();
        if !cfg.tls.ca_file.is_empty() {
            let pem = std::fs::read(&cfg.tls.ca_file).map_err(|e| {
                bad(format!(
                    "cannot read tls.ca_file `{}`: {e}",
                    strip_all(&cfg.tls.ca_file)
                ))
            })?;
            roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                bad(format!(
                    "tls.ca_file `{}` is not PEM certificates: {}",
                    strip_all(&cfg.tls.ca_file),
                    error_chain(&e)
                ))
            })?;
            if roots.is_empty() {
                return Err(bad(format!(
                    "tls.ca_file `{}` holds no certificate",
                    strip_all(&cfg.tls.ca_file)
                )));
            }
        }
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let builder = |total: bool| {
            let mut b = reqwest::Client::builder()
                .default_headers(headers.clone())
                .connect_timeout(timeout)
                .http1_only()
                .danger_accept_invalid_certs(cfg.tls.insecure_skip_verify);
            if total {
                b = b.timeout(timeout);
            }
            for c in &roots {
                b = b.add_root_certificate(c.clone());
            }
            b.build().map_err(|e| bad(error_chain(&e)))
        };
        Ok(LokiClient {
            http: builder(true)?,
            stream_http: builder(false)?,
            base: url.trim_end_matches('/').to_string(),
            timeout,
            page_limit: Arc::new(AtomicUsize::new(cfg.page_limit.max(1))),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Entries asked for per request.
    pub fn page_limit(&self) -> usize {
        self.page_limit.load(Ordering::Relaxed)
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn transport_error(&self, e: &reqwest::Error) -> LokiError {
        if e.is_timeout() {
            LokiError::Timeout {
                url: strip_all(&self.base),
                timeout_ms: self.timeout_ms(),
            }
        } else {
            LokiError::Unreachable {
                url: strip_all(&self.base),
                reason: error_chain(e),
            }
        }
    }

    /// GET `path` and read the body (bounded).
    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>), LokiError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .http
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let body = read_body(&mut resp).await.map_err(|e| match e {
            BodyError::Transport(e) => self.transport_error(&e),
            BodyError::TooLarge => LokiError::Decode {
                query: String::new(),
                reason: format!("answer larger than {MAX_BODY_BYTES} bytes"),
            },
        })?;
        Ok((status, body))
    }

    /// One `query_range` request: at most `limit` entries with
    /// `start_ns <= ts < end_ns`, in `direction`.
    pub async fn query_range(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<Entry>, LokiError> {
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", limit.max(1).to_string()),
            ("direction", direction.param().to_string()),
        ];
        let (status, body) = self
            .get("/loki/api/v1/query_range", &params)
            .await
            .map_err(|e| with_query(e, query))?;
        parse_streams(query, status, &body)
    }

    /// Up to `max` entries of `[start_ns, end_ns)` in `direction`, over as
    /// many requests of `page_limit` as needed. Each page starts at the last
    /// timestamp of the one before (Loki has no cursor), so the entries at
    /// that timestamp come twice and are dropped the second time.
    pub async fn query_range_paged(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        max: usize,
    ) -> Result<Paged, LokiError> {
        let mut out: Vec<Entry> = Vec::new();
        let (mut start, mut end) = (start_ns, end_ns);
        // Entries at the edge timestamp already taken.
        let mut edge_ts: Option<i64> = None;
        let mut edge: HashSet<(Arc<BTreeMap<String, String>>, String)> = HashSet::new();
        // Entries at one timestamp filled a whole page, so the read moved
        // past that timestamp and may have missed some of them.
        let mut skipped = false;
        let max_pages = max / self.page_limit() + 64;
        for _ in 0..max_pages {
            if out.len() >= max || start >= end {
                return Ok(Paged {
                    complete: start >= end && !skipped,
                    entries: out,
                });
            }
            let want = (max - out.len())
                .saturating_add(edge.len())
                .min(self.page_limit());
            let page = match self.query_range(query, start, end, want, direction).await {
                Err(LokiError::Rejected { message, .. })
                    if entries_cap(&message).is_some_and(|cap| cap > 0 && cap < want) =>
                {
                    // Loki's max_entries_limit_per_query is lower than
                    // page_limit: use it from now on.
                    let cap = entries_cap(&message).unwrap_or(1);
                    self.page_limit.store(cap, Ordering::Relaxed);
                    continue;
                }
                other => other?,
            };
            let got = page.len();
            let mut page = page;
            // Loki orders entries within a stream; order across streams here.
            match direction {
                Direction::Forward => page.sort_by_key(|e| e.ts_ns),
                Direction::Backward => page.sort_by_key(|e| std::cmp::Reverse(e.ts_ns)),
            }
            let mut fresh = 0usize;
            let mut full = false;
            for e in page {
                if edge_ts == Some(e.ts_ns) && edge.contains(&(e.labels.clone(), e.line.clone())) {
                    continue;
                }
                if out.len() >= max {
                    full = true;
                    break;
                }
                if edge_ts != Some(e.ts_ns) {
                    edge_ts = Some(e.ts_ns);
                    edge.clear();
                }
                edge.insert((e.labels.clone(), e.line.clone()));
                out.push(e);
                fresh += 1;
            }
            if got < want && !full {
                // Loki had no more than this.
                return Ok(Paged {
                    entries: out,
                    complete: !skipped,
                });
            }
            let Some(ts) = edge_ts else {
                // A full page of nothing usable cannot happen; stop rather than spin.
                break;
            };
            // Next page from the edge; past it when a whole page sat on it.
            let skip = i64::from(fresh == 0);
            match direction {
                Direction::Forward => start = ts.saturating_add(skip),
                Direction::Backward => end = ts.saturating_add(1 - skip),
            }
            if fresh == 0 {
                edge.clear();
                skipped = true;
            }
        }
        Ok(Paged {
            entries: out,
            complete: false,
        })
    }

    /// Label names Loki knows in `[start_ns, end_ns)` (`/loki/api/v1/labels`).
    pub async fn labels(&self, start_ns: i64, end_ns: i64) -> Result<Vec<String>, LokiError> {
        const WHAT: &str = "labels";
        let params = [("start", start_ns.to_string()), ("end", end_ns.to_string())];
        let (status, body) = self
            .get("/loki/api/v1/labels", &params)
            .await
            .map_err(|e| with_query(e, WHAT))?;
        if !(200..300).contains(&status) {
            return Err(status_error(WHAT, status, &body));
        }
        #[derive(Deserialize)]
        struct Labels {
            status: String,
            #[serde(default)]
            data: Vec<String>,
        }
        let l: Labels = serde_json::from_slice(&body).map_err(|e| LokiError::Decode {
            query: WHAT.into(),
            reason: strip_all(&e.to_string()),
        })?;
        if l.status != "success" {
            return Err(status_error(WHAT, status, &body));
        }
        Ok(l.data.iter().map(|s| strip_all(s)).collect())
    }

    /// `/ready`: Ok when Loki says it is ready, else its reason.
    pub async fn ready(&self) -> Result<(), LokiError> {
        let (status, body) = self
            .get("/ready", &[])
            .await
            .map_err(|e| with_query(e, "ready"))?;
        if status == 200 {
            Ok(())
        } else {
            Err(status_error("ready", status, &body))
        }
    }
}

/// The cap in Loki's `max entries limit per query exceeded, limit >
/// max_entries_limit (5001 > 5000)`.
fn entries_cap(message: &str) -> Option<usize> {
    if !message.contains("max entries limit") {
        return None;
    }
    let open = message.rfind('(')?;
    let inner = message[open + 1..].split(')').next()?;
    inner.split('>').nth(1)?.trim().parse().ok()
}

fn with_query(e: LokiError, query: &str) -> LokiError {
    match e {
        LokiError::Decode { reason, .. } => LokiError::Decode {
            query: strip_all(query),
            reason,
        },
        other => other,
    }
}

pub(crate) enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

pub(crate) async fn read_body(resp: &mut reqwest::Response) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The newest `limit` lines (at most [`MAX_HISTORY`]) of the last `since`
/// that match `filter`, oldest first. One client per call: fine for the
/// CLI; a long-lived caller should use [`LokiClient`] and [`logql::build`].
pub async fn history(
    cfg: &LokiConfig,
    filter: &LogQuery,
    since: Duration,
    limit: usize,
) -> Result<Vec<LogLine>, LokiError> {
    let query = logql::build(cfg, filter)?;
    let client = LokiClient::new(cfg)?;
    let end = now_ns().saturating_add(1);
    let start = end.saturating_sub(duration_ns(since));
    let paged = client
        .query_range_paged(
            &query,
            start,
            end,
            Direction::Backward,
            limit.min(MAX_HISTORY),
        )
        .await?;
    let mut mapper = LineMapper::new(&cfg.labels, filter);
    Ok(paged.entries.iter().rev().map(|e| mapper.line(e)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"status":"success","data":{"resultType":"streams","result":[
        {"stream":{"app":"shop","env":"staging","version":"v1","instance":"shop-1"},
         "values":[["1700000000000000002","second"],["1700000000000000001","first",{"trace_id":"abc"}]]},
        {"stream":{"app":"shop","env":"staging","version":"v2","instance":"shop-2"},
         "values":[["1700000000000000003","third"]]}],
        "stats":{"summary":{"bytesProcessedPerSecond":1234,"totalEntriesReturned":3}}}}"#;

    #[test]
    fn parses_streams() {
        let e = parse_streams("q", 200, BODY.as_bytes()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].ts_ns, 1_700_000_000_000_000_002);
        assert_eq!(e[0].line, "second");
        assert_eq!(e[1].line, "first");
        assert_eq!(e[0].labels.get("version").map(String::as_str), Some("v1"));
        assert!(Arc::ptr_eq(&e[0].labels, &e[1].labels));
        assert_eq!(
            e[2].labels.get("instance").map(String::as_str),
            Some("shop-2")
        );
    }

    #[test]
    fn plain_text_errors_are_typed_and_sanitised() {
        let e = parse_streams(
            "{app=\"x\"} |= foo",
            400,
            b"parse error at line 1, col 13: syntax error: unexpected IDENTIFIER\x1b[2J\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            LokiError::Rejected {
                query: "{app=\"x\"} |= foo".into(),
                message: "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"
                    .into()
            }
        );
        let e = parse_streams("q", 429, b"too many outstanding requests\n").unwrap_err();
        assert_eq!(
            e,
            LokiError::RateLimited {
                query: "q".into(),
                message: "too many outstanding requests".into()
            }
        );
        let e = parse_streams("q", 502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(
            matches!(&e, LokiError::Http { status: 502, body, .. } if body == "<html>Bad Gateway</html>"),
            "{e:?}"
        );
        let json = br#"{"status":"error","errorType":"bad_data","error":"invalid query"}"#;
        let e = parse_streams("q", 400, json).unwrap_err();
        assert!(matches!(&e, LokiError::Rejected { message, .. } if message == "invalid query"));
    }

    #[test]
    fn metric_queries_and_garbage_are_refused() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(
            parse_streams("rate({a=\"b\"}[1m])", 200, matrix.as_bytes()),
            Err(LokiError::NotLogs { .. })
        ));
        for body in [
            "not json",
            r#"{"status":"success"}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["12a","x"]]}]}}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["1"]]}]}}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":{}}}"#,
        ] {
            let e = parse_streams("q", 200, body.as_bytes()).unwrap_err();
            assert!(matches!(e, LokiError::Decode { .. }), "{body}: {e:?}");
        }
    }

    #[test]
    fn reads_the_entries_cap_from_lokis_message() {
        assert_eq!(
            entries_cap(
                "max entries limit per query exceeded, limit > max_entries_limit (1000 > 500)"
            ),
            Some(500)
        );
        assert_eq!(entries_cap("parse error at line 1, col 5 (a > b)"), None);
        assert_eq!(entries_cap("max entries limit per query exceeded"), None);
    }

    #[test]
    fn client_refuses_bad_config() {
        let cfg = |url: &str| LokiConfig {
            url: url.into(),
            ..Default::default()
        };
        assert!(matches!(
            LokiClient::new(&cfg("localhost:3100")),
            Err(LokiError::Config { .. })
        ));
        assert!(matches!(
            LokiClient::new(&cfg("")),
            Err(LokiError::Config { .. })
        ));
        let mut c = cfg("http://127.0.0.1:3100/");
        assert_eq!(LokiClient::new(&c).unwrap().url(), "http://127.0.0.1:3100");
        c.tenant = "a\nb".into();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
        c.tenant = "team-a".into();
        c.auth_header = "Bearer \r".into();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
        c.auth_header = "Bearer x".into();
        c.tls.ca_file = "/nonexistent/ca.pem".into();
        let e = LokiClient::new(&c).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        c.tls.ca_file = junk.display().to_string();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
    }
}
