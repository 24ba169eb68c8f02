//! `query_range`: one request, or a bounded read over as many pages as needed.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::error::with_query;
use super::{parse_streams, Entry, LokiClient, LokiError};

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

/// A bounded, paged read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged {
    /// In the requested direction.
    pub entries: Vec<Entry>,
    /// False when the bound stopped the read before the range was exhausted.
    pub complete: bool,
}

impl LokiClient {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
