//! Log lines and the bounded log store behind the Logs pane.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

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

/// One log line. `text` is already sanitised: no control or escape sequences
/// except allow-listed SGR colour codes. Labels are shared `Arc<str>` so that
/// ingesting a line allocates only its text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts: EpochMillis,
    pub env: Arc<str>,
    pub version: Arc<str>,
    pub instance: Arc<str>,
    pub level: Level,
    pub text: String,
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
    pub fn clear(&mut self) {
        self.first_seq += self.lines.len() as u64;
        self.lines.clear();
    }
}
