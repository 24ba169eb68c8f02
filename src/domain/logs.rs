//! Log lines and the bounded log store behind the Logs pane.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

use super::log_json::JsonView;
use super::EpochMillis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Unknown,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Unknown => "-",
        }
    }

    /// Parse the usual spellings (`warn`, `WARNING`, `err`, `fatal`, ...).
    pub fn parse(s: &str) -> Level {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" | "dbg" => Level::Debug,
            "info" | "information" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "fatal" | "critical" | "crit" | "panic" => Level::Error,
            _ => Level::Unknown,
        }
    }
}

/// One log line, read once at ingest and immutable after: build it with
/// [`LogLine::parse`] (raw output) or [`LogLine::new`] (sanitised text).
/// `text` is sanitised: no control or escape sequences except allow-listed
/// SGR colour codes. Everything is shared (`Arc`), so a clone for the
/// daemon protocol, the app state or a pane copies no text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireLine", into = "WireLine")]
pub struct LogLine {
    pub ts: EpochMillis,
    pub env: Arc<str>,
    pub version: Arc<str>,
    pub instance: Arc<str>,
    pub level: Level,
    pub text: Arc<str>,
    /// A JSON object line as the Logs pane shows it; derived from the other
    /// fields, so it never travels on the wire.
    pub(crate) json: Option<Arc<JsonView>>,
}

/// A line on the wire (daemon protocol): the receiver re-derives the rest.
#[derive(Clone, Serialize, Deserialize)]
struct WireLine {
    ts: EpochMillis,
    env: Arc<str>,
    version: Arc<str>,
    instance: Arc<str>,
    level: Level,
    text: Arc<str>,
}

impl From<WireLine> for LogLine {
    fn from(w: WireLine) -> LogLine {
        LogLine::new(w.ts, w.env, w.version, w.instance, w.level, w.text)
    }
}

impl From<LogLine> for WireLine {
    fn from(l: LogLine) -> WireLine {
        WireLine {
            ts: l.ts,
            env: l.env,
            version: l.version,
            instance: l.instance,
            level: l.level,
            text: l.text,
        }
    }
}

/// A trace or request id found in a line (JSON field or `key=value`), for
/// following one request across environments and sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationId {
    /// The key as written (`trace_id`, `requestId`, `x-request-id`, ...).
    pub key: String,
    pub id: String,
}

fn correlation_pattern() -> Option<&'static regex::Regex> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r#"(?i)"?\b((?:x[-_])?(?:trace|request|correlation)[-_]?id|traceparent)"?\s*[:=]\s*"?([A-Za-z0-9][A-Za-z0-9._:-]{5,127})"#,
        )
        .ok()
    })
    .as_ref()
}

/// The first trace/request/correlation id in `text`, if any. Ids are 6 to
/// 128 characters of letters, digits, `.`, `_`, `:` and `-`.
pub fn correlation_id(text: &str) -> Option<CorrelationId> {
    let caps = correlation_pattern()?.captures(text)?;
    Some(CorrelationId {
        key: caps.get(1)?.as_str().to_string(),
        id: caps.get(2)?.as_str().to_string(),
    })
}

/// Bounded ring of log lines that counts what it had to drop.
#[derive(Clone, Debug)]
pub struct LogStore {
    capacity: usize,
    lines: VecDeque<LogLine>,
    /// Lines evicted because the store was full.
    evicted: u64,
    /// Lines lost upstream (a lagging channel, a full socket) and reported to us.
    lost_upstream: u64,
    /// Sequence number of the first line currently held (grows as lines are evicted).
    first_seq: u64,
}

impl LogStore {
    pub fn new(capacity: usize) -> Self {
        LogStore {
            capacity: capacity.max(1),
            lines: VecDeque::with_capacity(capacity.clamp(1, 65_536)),
            evicted: 0,
            lost_upstream: 0,
            first_seq: 0,
        }
    }

    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
            self.evicted += 1;
            self.first_seq += 1;
        }
        self.lines.push_back(line);
    }

    /// Record lines that never reached the store.
    pub fn note_lost(&mut self, n: u64) {
        self.lost_upstream += n;
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Everything dropped: evicted from the buffer plus lost upstream.
    pub fn dropped(&self) -> u64 {
        self.evicted + self.lost_upstream
    }
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
    pub fn lost_upstream(&self) -> u64 {
        self.lost_upstream
    }
    /// Sequence number of the oldest held line; the newest is `end_seq() - 1`.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }
    /// Line by absolute sequence number, if still held.
    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        seq.checked_sub(self.first_seq)
            .and_then(|i| self.lines.get(i as usize))
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator {
        self.lines.iter()
    }
    /// The held lines as two slices, oldest first (the ring's two halves).
    pub fn as_slices(&self) -> (&[LogLine], &[LogLine]) {
        self.lines.as_slices()
    }
    /// The newest `limit` lines, of `env` only when given, oldest first.
    pub fn newest(&self, env: Option<&str>, limit: usize) -> Vec<LogLine> {
        let mut out: Vec<LogLine> = self
            .lines
            .iter()
            .rev()
            .filter(|l| env.is_none_or(|e| &*l.env == e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }
    pub fn clear(&mut self) {
        self.first_seq += self.lines.len() as u64;
        self.lines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_from_json_and_logfmt() {
        let id = |t: &str| correlation_id(t).map(|c| (c.key, c.id));
        assert_eq!(
            id(r#"{"level":"info","msg":"served","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#),
            Some(("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()))
        );
        assert_eq!(
            id("level=info msg=ok request_id=req-7f3a9c path=/hello"),
            Some(("request_id".into(), "req-7f3a9c".into()))
        );
        assert_eq!(
            id(r#"{"requestId": "abc-123456"}"#).map(|c| c.1),
            Some("abc-123456".into())
        );
        assert_eq!(
            id("X-Request-Id: 9f1c2e3d4b5a").map(|c| c.1),
            Some("9f1c2e3d4b5a".into())
        );
        // Too short, or no id at all.
        assert_eq!(id("trace_id=ab"), None);
        assert_eq!(id("GET /hello 200 12ms"), None);
        // Hostile bytes stop the id.
        assert_eq!(
            id("trace_id=abcdef123\u{1b}[2J").map(|c| c.1),
            Some("abcdef123".into())
        );
    }

    fn line(n: i64) -> LogLine {
        let label: Arc<str> = Arc::from("staging");
        LogLine::new(
            n,
            label.clone(),
            "v1".into(),
            label,
            Level::Info,
            format!("line {n}"),
        )
    }

    #[test]
    fn level_parsing() {
        assert_eq!(Level::parse("WARNING"), Level::Warn);
        assert_eq!(Level::parse(" err "), Level::Error);
        assert_eq!(Level::parse("fatal"), Level::Error);
        assert_eq!(Level::parse("dbg"), Level::Debug);
        assert_eq!(Level::parse("notice"), Level::Info);
        assert_eq!(Level::parse("verbose"), Level::Unknown);
        assert_eq!(Level::Unknown.label(), "-");
        assert!(Level::Error > Level::Warn);
    }

    #[test]
    fn bounded_store_evicts_oldest_and_counts() {
        let mut s = LogStore::new(3);
        assert!(s.is_empty());
        for n in 0..5 {
            s.push(line(n));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.capacity(), 3);
        assert_eq!(s.evicted(), 2);
        assert_eq!(s.dropped(), 2);
        assert_eq!(s.first_seq(), 2);
        assert_eq!(s.end_seq(), 5);
        assert_eq!(s.iter().map(|l| l.ts).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(s.iter().next_back().map(|l| l.ts), Some(4));
    }

    #[test]
    fn lost_upstream_adds_to_dropped() {
        let mut s = LogStore::new(2);
        s.note_lost(7);
        s.push(line(0));
        s.push(line(1));
        s.push(line(2));
        assert_eq!(s.lost_upstream(), 7);
        assert_eq!(s.evicted(), 1);
        assert_eq!(s.dropped(), 8);
    }

    #[test]
    fn get_by_sequence_number() {
        let mut s = LogStore::new(3);
        for n in 0..5 {
            s.push(line(n));
        }
        assert!(s.get(0).is_none(), "evicted");
        assert!(s.get(1).is_none(), "evicted");
        assert_eq!(s.get(2).map(|l| &*l.text), Some("line 2"));
        assert_eq!(s.get(4).map(|l| l.ts), Some(4));
        assert!(s.get(5).is_none(), "not yet written");
        s.clear();
        assert!(s.is_empty());
        assert_eq!(
            s.first_seq(),
            5,
            "sequence numbers keep growing after clear"
        );
        assert_eq!(s.evicted(), 2, "clearing is not data loss");
        s.push(line(5));
        assert_eq!(s.get(5).map(|l| l.ts), Some(5));
    }

    #[test]
    fn zero_capacity_holds_one_line() {
        let mut s = LogStore::new(0);
        s.push(line(0));
        s.push(line(1));
        assert_eq!(s.capacity(), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.evicted(), 1);
    }

    #[test]
    fn newest_lines_of_one_environment_come_oldest_first() {
        let mut store = LogStore::new(10);
        for n in 0..6 {
            let mut l = line(n);
            if n % 2 == 1 {
                l.env = Arc::from("production");
            }
            store.push(l);
        }
        let text = |v: Vec<LogLine>| v.iter().map(|l| l.text.to_string()).collect::<Vec<_>>();
        assert_eq!(text(store.newest(Some("staging"), 2)), ["line 2", "line 4"]);
        assert_eq!(text(store.newest(None, 3)), ["line 3", "line 4", "line 5"]);
        assert!(store.newest(Some("qa"), 5).is_empty());
    }
}
