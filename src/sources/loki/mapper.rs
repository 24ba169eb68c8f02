//! Turning Loki entries into the console's log lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Entry, LogQuery, StreamColumns};
use crate::config::LokiLabels;
use crate::domain::logs::LogLine;

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
