//! A console subscribes to the runtime and then loads its recent lines, so
//! lines logged in between arrive twice: in the snapshot and again on the
//! subscription. After a reconnect the snapshot also repeats lines already
//! shown. This keeps each line on screen once.

use std::collections::VecDeque;

use crate::domain::logs::LogLine;
use crate::domain::EpochMillis;

/// How far before the subscription a snapshot line may still be redelivered
/// (the runtime stamps a line before it publishes it).
const SLACK_MS: EpochMillis = 1_000;

#[derive(Default)]
pub(super) struct LogOverlap {
    /// The newest line handed to the console.
    last_sent: Option<LogLine>,
    /// Snapshot lines the subscription may deliver again, oldest first.
    pending: VecDeque<LogLine>,
}

impl LogOverlap {
    /// The snapshot's lines the console has not shown yet. `subscribed_at`
    /// is when the subscription that follows the snapshot was opened.
    pub(super) fn snapshot(
        &mut self,
        lines: Vec<LogLine>,
        subscribed_at: EpochMillis,
    ) -> Vec<LogLine> {
        let start = self
            .last_sent
            .as_ref()
            .and_then(|last| lines.iter().rposition(|l| l == last))
            .map_or(0, |p| p + 1);
        let fresh: Vec<LogLine> = lines.into_iter().skip(start).collect();
        self.pending = fresh
            .iter()
            .filter(|l| l.ts >= subscribed_at - SLACK_MS)
            .cloned()
            .collect();
        if let Some(last) = fresh.last() {
            self.last_sent = Some(last.clone());
        }
        fresh
    }

    /// Whether a line from the subscription is new. The subscription repeats
    /// the snapshot's tail in order, so the first line that is not in it
    /// ends the overlap.
    pub(super) fn is_new(&mut self, line: &LogLine) -> bool {
        if !self.pending.is_empty() {
            if let Some(p) = self.pending.iter().position(|l| l == line) {
                self.pending.drain(..=p);
                return false;
            }
            self.pending.clear();
        }
        self.last_sent = Some(line.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::Level;

    fn line(ts: EpochMillis, text: &str) -> LogLine {
        LogLine::new(
            ts,
            "staging".into(),
            "v1".into(),
            "staging-v1-1".into(),
            Level::Info,
            text,
        )
    }

    #[test]
    fn lines_logged_between_subscribe_and_snapshot_show_once() {
        let mut o = LogOverlap::default();
        let snap = vec![line(1_000, "old"), line(5_000, "a"), line(5_001, "b")];
        assert_eq!(o.snapshot(snap, 5_000).len(), 3);
        // The subscription repeats a and b, then goes on.
        assert!(!o.is_new(&line(5_000, "a")));
        assert!(!o.is_new(&line(5_001, "b")));
        assert!(o.is_new(&line(5_002, "c")));
        // Once the overlap is over, an identical line is a new line.
        assert!(o.is_new(&line(5_002, "c")));
    }

    #[test]
    fn a_subscription_without_overlap_loses_nothing() {
        let mut o = LogOverlap::default();
        o.snapshot(vec![line(5_000, "a")], 5_000);
        assert!(o.is_new(&line(5_003, "z")));
        assert!(o.is_new(&line(5_000, "a")), "the overlap ended at z");
    }

    #[test]
    fn a_reconnect_snapshot_skips_what_was_shown() {
        let mut o = LogOverlap::default();
        o.snapshot(vec![line(1, "a"), line(2, "b")], 0);
        assert!(!o.is_new(&line(1, "a")));
        assert!(!o.is_new(&line(2, "b")));
        assert!(o.is_new(&line(3, "c")));
        // The stream ended; the new snapshot holds everything again plus d.
        let again = o.snapshot(
            vec![line(1, "a"), line(2, "b"), line(3, "c"), line(4, "d")],
            4,
        );
        assert_eq!(again, vec![line(4, "d")]);
        // A restarted daemon with a fresh store: all of its lines are new.
        let fresh = o.snapshot(vec![line(10, "x")], 10);
        assert_eq!(fresh, vec![line(10, "x")]);
    }
}
