//! The Logs pane's filter results, kept as an index of sequence numbers
//! into the [`LogStore`]: updated as each line arrives and as lines are
//! evicted, rebuilt once when the filter changes, so no frame filters.

use std::collections::VecDeque;

use super::logs::{LogLine, LogStore};

/// What the pane filters by: a regex and/or one environment.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub regex: Option<regex::Regex>,
    pub env: Option<String>,
}

impl LogFilter {
    pub fn is_empty(&self) -> bool {
        self.regex.is_none() && self.env.is_none()
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        self.env.as_deref().is_none_or(|e| &*line.env == e)
            && self.regex.as_ref().is_none_or(|re| line.matches(re))
    }

    /// Same filter (regexes compare by pattern).
    pub fn same_as(&self, other: &LogFilter) -> bool {
        self.env == other.env
            && self.regex.as_ref().map(regex::Regex::as_str)
                == other.regex.as_ref().map(regex::Regex::as_str)
    }
}

/// Sequence numbers of the held lines that pass `filter`, oldest first.
#[derive(Clone, Debug, Default)]
pub struct LogIndex {
    filter: LogFilter,
    seqs: VecDeque<u64>,
}

impl LogIndex {
    /// Build the index for `filter` with one pass over the store, split
    /// across the machine's cores when the store is large.
    pub fn build(filter: LogFilter, store: &LogStore) -> LogIndex {
        let mut seqs = VecDeque::new();
        if !filter.is_empty() {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let (older, newer) = store.as_slices();
            let first = store.first_seq();
            seqs.extend(matching(&filter, older, first, threads));
            seqs.extend(matching(
                &filter,
                newer,
                first + older.len() as u64,
                threads,
            ));
        }
        LogIndex { filter, seqs }
    }

    pub fn filter(&self) -> &LogFilter {
        &self.filter
    }

    /// Record the line just pushed into `store` (its newest) and forget
    /// lines the push evicted.
    pub fn on_push(&mut self, store: &LogStore) {
        let first = store.first_seq();
        while self.seqs.front().is_some_and(|s| *s < first) {
            self.seqs.pop_front();
        }
        if self.filter.is_empty() {
            return;
        }
        let seq = store.end_seq().saturating_sub(1);
        if store.get(seq).is_some_and(|l| self.filter.matches(l)) {
            self.seqs.push_back(seq);
        }
    }

    /// Matching sequence numbers still held, oldest first.
    pub fn seqs(&self, store: &LogStore) -> impl DoubleEndedIterator<Item = u64> + '_ {
        let first = store.first_seq();
        self.seqs.iter().copied().filter(move |s| *s >= first)
    }

    /// How many matching lines come before sequence number `end`.
    pub fn count_before(&self, end: u64) -> usize {
        self.seqs.partition_point(|s| *s < end)
    }

    /// The matching sequence number at `i` (oldest first).
    pub fn get(&self, i: usize) -> Option<u64> {
        self.seqs.get(i).copied()
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

/// Below this many lines one thread is quicker than starting others.
const PARALLEL_FROM: usize = 16_384;
/// More threads than this gain little: the scan is bound by memory.
const MAX_THREADS: usize = 4;

/// Sequence numbers of the lines of `lines` (the first is `first`) that
/// match, in order.
fn matching(filter: &LogFilter, lines: &[LogLine], first: u64, threads: usize) -> Vec<u64> {
    let threads = threads.min(MAX_THREADS);
    if threads < 2 || lines.len() < PARALLEL_FROM {
        return scan(filter, lines, first);
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (first..)
            .step_by(chunk)
            .zip(lines.chunks(chunk))
            .map(|(start, part)| {
                // A clone per thread: threads sharing one regex contend on
                // its cache pool and lose most of the gain.
                let own = filter.clone();
                (start, part, s.spawn(move || scan(&own, part, start)))
            })
            .collect();
        parts
            .into_iter()
            // A thread that could not finish leaves its part to this one.
            .flat_map(|(start, part, h)| h.join().unwrap_or_else(|_| scan(filter, part, start)))
            .collect()
    })
}

fn scan(filter: &LogFilter, lines: &[LogLine], first: u64) -> Vec<u64> {
    (first..)
        .zip(lines)
        .filter(|(_, l)| filter.matches(l))
        .map(|(seq, _)| seq)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn line(env: &str, text: &str) -> LogLine {
        LogLine::new(
            0,
            Arc::from(env),
            "v1".into(),
            "i".into(),
            super::super::logs::Level::Info,
            text,
        )
    }

    fn filter(re: &str, env: Option<&str>) -> LogFilter {
        LogFilter {
            regex: Some(regex::Regex::new(re).unwrap()),
            env: env.map(str::to_string),
        }
    }

    #[test]
    fn follows_pushes_and_evictions() {
        let mut store = LogStore::new(4);
        let mut idx = LogIndex::build(filter("err", None), &store);
        for (n, t) in ["ok", "err 1", "ok", "err 2", "err 3", "ok", "ok"]
            .iter()
            .enumerate()
        {
            store.push(line("a", &format!("{t} #{n}")));
            idx.on_push(&store);
        }
        // Lines 3..=6 are held; the matches among them are 3 and 4.
        assert_eq!(idx.seqs(&store).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.count_before(4), 1);
        assert_eq!(idx.get(1), Some(4));
        // A rebuild over the same store agrees with the running index.
        let rebuilt = LogIndex::build(filter("err", None), &store);
        assert_eq!(
            rebuilt.seqs(&store).collect::<Vec<_>>(),
            idx.seqs(&store).collect::<Vec<_>>()
        );
    }

    #[test]
    fn env_and_json_display_filters() {
        let mut store = LogStore::new(10);
        store.push(line("prod", r#"{"msg":"x","status":500}"#));
        store.push(line("staging", r#"{"msg":"x","status":500}"#));
        store.push(line("prod", "status=200"));
        let idx = LogIndex::build(filter("status=500", Some("prod")), &store);
        assert_eq!(idx.seqs(&store).collect::<Vec<_>>(), vec![0]);
        let idx = LogIndex::build(
            LogFilter {
                regex: None,
                env: Some("prod".into()),
            },
            &store,
        );
        assert_eq!(idx.seqs(&store).collect::<Vec<_>>(), vec![0, 2]);
        assert!(LogIndex::build(LogFilter::default(), &store).is_empty());
        assert!(filter("a", None).same_as(&filter("a", None)));
        assert!(!filter("a", None).same_as(&filter("a", Some("prod"))));
    }

    #[test]
    fn a_split_scan_finds_what_one_thread_finds_in_order() {
        let lines: Vec<LogLine> = (0..40_000)
            .map(|i| {
                line(
                    "staging",
                    &format!("n={i} {}", if i % 7 == 0 { "hit" } else { "miss" }),
                )
            })
            .collect();
        let f = filter("hit", None);
        let one = matching(&f, &lines, 100, 1);
        for threads in [2, 3, 4, 16] {
            assert_eq!(matching(&f, &lines, 100, threads), one, "{threads} threads");
        }
        assert_eq!(one.len(), 40_000usize.div_ceil(7));
        assert_eq!(one[..2], [100, 107]);
        // Small stores are scanned on the caller's thread, with the same result.
        assert_eq!(matching(&f, &lines[..70], 0, 4).len(), 10);
    }

    #[test]
    fn clearing_the_store_empties_the_view() {
        let mut store = LogStore::new(10);
        let mut idx = LogIndex::build(filter(".", None), &store);
        store.push(line("a", "x"));
        idx.on_push(&store);
        store.clear();
        assert_eq!(idx.seqs(&store).count(), 0);
        store.push(line("a", "y"));
        idx.on_push(&store);
        assert_eq!(idx.seqs(&store).collect::<Vec<_>>(), vec![1]);
    }
}
