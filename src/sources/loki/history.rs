//! Reading the recent past in one call (what `logs --since` needs).

use std::time::Duration;

use super::{logql, Direction, LineMapper, LogQuery, LokiClient, LokiError};
use crate::config::LokiConfig;
use crate::domain::logs::LogLine;

/// Most lines [`history`] returns, whatever is asked.
pub const MAX_HISTORY: usize = 100_000;

pub(crate) fn now_ns() -> i64 {
    let now = chrono::Utc::now();
    now.timestamp_nanos_opt()
        .unwrap_or_else(|| now.timestamp_millis().saturating_mul(1_000_000))
}

pub(crate) fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
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
