//! The live log source: history of the last `since`, then the tail, as
//! `RuntimeEvent::Log` into a bounded channel.
//!
//! - The channel is never waited on for a line: when it is full the line is
//!   counted, and the count goes out as `RuntimeEvent::Lagged` as soon as
//!   there is room (before any later line). Entries Loki itself dropped
//!   (`dropped_entries`) are counted the same way.
//! - State changes (`Connecting`, `Ok`, `Degraded(reason)`) are sent as
//!   `RuntimeEvent::Source { name: "loki", .. }` and do wait for room.
//! - When the tail fails, the source backs off, reads what it missed with
//!   `query_range` from the last timestamp it delivered, and opens the tail
//!   again from there; entries at that timestamp it already delivered are
//!   skipped, so nothing is shown twice.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use super::tail::TailStream;
use super::{
    duration_ns, logql, now_ns, Direction, Entry, LineMapper, LogQuery, LokiClient, LokiError,
};
use crate::config::LokiConfig;
use crate::domain::logs::LogLine;
use crate::runtime::{RuntimeEvent, SourceState};

/// Name under which the state is reported (`RuntimeEvent::Source`).
pub const SOURCE_NAME: &str = "loki";
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A tail that lived this long was healthy: the next failure retries fast.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// Most lines read to catch up after an outage before giving up on the gap.
const MAX_CATCH_UP: usize = 50_000;
/// How often a pending `Lagged` count is retried while no line arrives.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most entries at one timestamp remembered for de-duplication.
const MAX_AT_TS: usize = 65_536;

/// What the live source reads before tailing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    /// History window read first.
    pub since: Duration,
    /// Newest lines of that window sent at most; 0 starts with the tail.
    pub history_limit: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            since: Duration::from_secs(15 * 60),
            history_limit: 1_000,
        }
    }
}

/// Read the logs matching `filter` from Loki until `tx` is closed: the
/// newest `opts.history_limit` lines of the last `opts.since`, oldest first,
/// then live lines from the tail. Never panics; failures are reported as
/// `SourceState::Degraded` and retried with backoff, a bad configuration
/// once (it does not heal by retrying).
pub fn spawn_log_source(
    cfg: LokiConfig,
    filter: LogQuery,
    opts: LiveOptions,
    tx: mpsc::Sender<RuntimeEvent>,
) -> JoinHandle<()> {
    tokio::spawn(run(cfg, filter, opts, tx))
}

/// The channel side: states wait, lines never do.
struct Out {
    tx: mpsc::Sender<RuntimeEvent>,
    last: Option<SourceState>,
    /// Lines lost and not yet reported.
    lost: u64,
}

impl Out {
    /// False when nobody listens any more.
    async fn state(&mut self, state: SourceState) -> bool {
        if self.last.as_ref() == Some(&state) {
            return true;
        }
        if self.lost > 0 {
            let count = std::mem::take(&mut self.lost);
            if self.tx.send(RuntimeEvent::Lagged { count }).await.is_err() {
                return false;
            }
        }
        self.last = Some(state.clone());
        self.tx
            .send(RuntimeEvent::Source {
                name: SOURCE_NAME.into(),
                state,
            })
            .await
            .is_ok()
    }

    /// Report pending losses if there is room. False when closed.
    fn flush_lost(&mut self) -> bool {
        if self.lost == 0 {
            return true;
        }
        match self.tx.try_send(RuntimeEvent::Lagged { count: self.lost }) {
            Ok(()) => {
                self.lost = 0;
                true
            }
            Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// False when closed.
    fn line(&mut self, line: LogLine) -> bool {
        if !self.flush_lost() {
            return false;
        }
        if self.lost > 0 {
            // Keep the order: the loss report goes out before later lines.
            self.lost += 1;
            return true;
        }
        match self.tx.try_send(RuntimeEvent::Log { line }) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lost += 1;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// The newest timestamp delivered and what was delivered at it.
#[derive(Default)]
struct Cursor {
    ts: Option<i64>,
    at_ts: HashSet<(Arc<BTreeMap<String, String>>, String)>,
}

impl Cursor {
    /// Whether `e` is new (and remember it).
    fn admit(&mut self, e: &Entry) -> bool {
        match self.ts {
            Some(t) if e.ts_ns < t => true,
            Some(t) if e.ts_ns == t => {
                if self.at_ts.len() >= MAX_AT_TS {
                    return true;
                }
                self.at_ts.insert((e.labels.clone(), e.line.clone()))
            }
            _ => {
                self.ts = Some(e.ts_ns);
                self.at_ts.clear();
                self.at_ts.insert((e.labels.clone(), e.line.clone()));
                true
            }
        }
    }
}

enum Stop {
    /// The receiver went away.
    Closed,
    Failed {
        error: LokiError,
        /// The tail had been open long enough to call it healthy.
        healthy: bool,
    },
}

struct Live<'a> {
    client: LokiClient,
    query: String,
    opts: &'a LiveOptions,
    cursor: Cursor,
    mapper: LineMapper,
    out: Out,
}

impl Live<'_> {
    /// Send the entries not yet delivered, in order. False when closed.
    fn deliver(&mut self, entries: &mut [Entry]) -> bool {
        entries.sort_by_key(|e| e.ts_ns);
        for e in entries.iter() {
            if self.cursor.admit(e) {
                let line = self.mapper.line(e);
                if !self.out.line(line) {
                    return false;
                }
            }
        }
        true
    }

    /// History on the first connection, what was missed on the later ones.
    async fn catch_up(&mut self) -> Result<bool, Stop> {
        let failed = |error| Stop::Failed {
            error,
            healthy: false,
        };
        let end = now_ns().saturating_add(1);
        let Some(from) = self.cursor.ts else {
            if self.opts.history_limit == 0 {
                return Ok(true);
            }
            let start = end.saturating_sub(duration_ns(self.opts.since));
            let paged = self
                .client
                .query_range_paged(
                    &self.query,
                    start,
                    end,
                    Direction::Backward,
                    self.opts.history_limit,
                )
                .await
                .map_err(failed)?;
            let mut entries = paged.entries;
            entries.reverse();
            return Ok(self.deliver(&mut entries));
        };
        let mut read = 0usize;
        let mut start = from;
        loop {
            let paged = self
                .client
                .query_range_paged(
                    &self.query,
                    start,
                    end,
                    Direction::Forward,
                    self.client.page_limit().min(MAX_CATCH_UP - read),
                )
                .await
                .map_err(failed)?;
            read += paged.entries.len();
            let mut entries = paged.entries;
            if !self.deliver(&mut entries) {
                return Ok(false);
            }
            if paged.complete {
                return Ok(true);
            }
            if read >= MAX_CATCH_UP {
                let why = format!(
                    "caught up {read} lines after an outage and stopped; \
                     older lines from the outage are not shown"
                );
                return Ok(self.out.state(SourceState::Degraded(why)).await);
            }
            start = self.cursor.ts.unwrap_or(start);
        }
    }

    /// One connection: catch up, open the tail, stream until it fails.
    async fn connection(&mut self) -> Stop {
        match self.catch_up().await {
            Ok(true) => {}
            Ok(false) => return Stop::Closed,
            Err(stop) => return stop,
        }
        let start = self.cursor.ts.unwrap_or_else(now_ns);
        let mut tail = match TailStream::open(
            &self.client,
            &self.query,
            start,
            self.client.page_limit(),
        )
        .await
        {
            Ok(t) => t,
            Err(error) => {
                return Stop::Failed {
                    error,
                    healthy: false,
                }
            }
        };
        if !self.out.state(SourceState::Ok).await {
            return Stop::Closed;
        }
        let opened = Instant::now();
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                frame = tail.next() => match frame {
                    Ok(mut f) => {
                        self.out.lost = self.out.lost.saturating_add(f.dropped);
                        if !self.deliver(&mut f.entries) || !self.out.flush_lost() {
                            return Stop::Closed;
                        }
                    }
                    Err(error) => {
                        return Stop::Failed {
                            error,
                            healthy: opened.elapsed() >= HEALTHY_AFTER,
                        }
                    }
                },
                _ = flush.tick() => {
                    if !self.out.flush_lost() {
                        return Stop::Closed;
                    }
                }
                _ = self.out.tx.closed() => {
                    tail.close().await;
                    return Stop::Closed;
                }
            }
        }
    }
}

async fn run(cfg: LokiConfig, filter: LogQuery, opts: LiveOptions, tx: mpsc::Sender<RuntimeEvent>) {
    let mut out = Out {
        tx,
        last: None,
        lost: 0,
    };
    if !out.state(SourceState::Connecting).await {
        return;
    }
    let setup = logql::build(&cfg, &filter)
        .map_err(LokiError::from)
        .and_then(|q| LokiClient::new(&cfg).map(|c| (q, c)));
    let (query, client) = match setup {
        Ok(x) => x,
        Err(e) => {
            out.state(SourceState::Degraded(e.to_string())).await;
            return;
        }
    };
    let mut live = Live {
        client,
        query,
        opts: &opts,
        cursor: Cursor::default(),
        mapper: LineMapper::new(&cfg.labels, &filter),
        out,
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        let (error, healthy) = match live.connection().await {
            Stop::Closed => return,
            Stop::Failed { error, healthy } => (error, healthy),
        };
        if healthy {
            backoff = MIN_BACKOFF;
        }
        let wait = backoff;
        if !live.out.state(SourceState::retrying(error, wait)).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep(FLUSH_EVERY) => {
                    if !live.out.flush_lost() {
                        return;
                    }
                }
                _ = live.out.tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::Level;

    fn entry(ts: i64, line: &str) -> Entry {
        Entry {
            ts_ns: ts,
            labels: Arc::new(BTreeMap::from([("app".to_string(), "shop".to_string())])),
            line: line.into(),
        }
    }

    fn log(n: i64) -> LogLine {
        LogLine::new(
            n,
            "e".into(),
            "v".into(),
            "i".into(),
            Level::Info,
            n.to_string(),
        )
    }

    #[test]
    fn cursor_skips_what_was_delivered_at_its_timestamp() {
        let mut c = Cursor::default();
        assert!(c.admit(&entry(10, "a")));
        assert!(c.admit(&entry(10, "b")));
        assert!(!c.admit(&entry(10, "a")), "same ts, stream and line");
        assert!(c.admit(&entry(11, "a")));
        assert!(!c.admit(&entry(11, "a")));
        // A late line from another stream (older than the cursor) is kept.
        assert!(c.admit(&entry(5, "late")));
        let mut other = entry(11, "a");
        other.labels = Arc::new(BTreeMap::from([("app".into(), "other".into())]));
        assert!(c.admit(&other), "same line in another stream");
    }

    #[tokio::test]
    async fn a_full_channel_counts_lines_and_reports_them_in_order() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut out = Out {
            tx,
            last: None,
            lost: 0,
        };
        for n in 0..5 {
            assert!(out.line(log(n)));
        }
        assert_eq!(out.lost, 3);
        let got = |ev: Option<RuntimeEvent>| match ev {
            Some(RuntimeEvent::Log { line }) => format!("log {}", line.text),
            Some(RuntimeEvent::Lagged { count }) => format!("lagged {count}"),
            other => format!("{other:?}"),
        };
        assert_eq!(got(rx.recv().await), "log 0");
        // One slot free: the loss report takes it, the next line is counted.
        assert!(out.line(log(5)));
        assert_eq!(out.lost, 1);
        assert_eq!(got(rx.recv().await), "log 1");
        assert_eq!(got(rx.recv().await), "lagged 3");
        assert!(out.line(log(6)));
        assert_eq!(got(rx.recv().await), "lagged 1");
        assert_eq!(got(rx.recv().await), "log 6");
        assert!(out.line(log(7)));
        assert_eq!(got(rx.recv().await), "log 7");
        assert_eq!(out.lost, 0);
        drop(rx);
        assert!(!out.line(log(8)));
    }
}
