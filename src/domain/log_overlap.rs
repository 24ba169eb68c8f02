//! A reader (the console, `logs --follow`) subscribes to the runtime and
//! then loads its recent lines, so lines logged in between arrive twice: in
//! the snapshot and again on the subscription. After a reconnect the
//! snapshot also repeats lines already shown. This keeps each line shown
//! once. It goes by the order lines arrive in, not by their time stamps,
//! which jump when the wall clock is stepped.

use std::collections::VecDeque;

use crate::domain::logs::LogLine;

#[derive(Default)]
pub struct LogOverlap {
    /// The newest line handed to the console.
    last_sent: Option<LogLine>,
    /// Snapshot lines the subscription may deliver again, oldest first.
    pending: VecDeque<LogLine>,
}

impl LogOverlap {
    /// The snapshot's lines the reader has not shown yet. Any of them may
    /// come again on the subscription opened before it; which ones is told
    /// by order, not by time stamps: the runtime's clock may not be the
    /// reader's, and either may have been stepped.
    pub fn snapshot(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        let start = self
            .last_sent
            .as_ref()
            .and_then(|last| lines.iter().rposition(|l| l == last))
            .map_or(0, |p| p + 1);
        let fresh: Vec<LogLine> = lines.into_iter().skip(start).collect();
        self.pending = fresh.iter().cloned().collect();
        if let Some(last) = fresh.last() {
            self.last_sent = Some(last.clone());
        }
        fresh
    }

    /// Whether a line from the subscription is new. The subscription repeats
    /// the snapshot's tail in order, so the first line that is not in it
    /// ends the overlap.
    pub fn is_new(&mut self, line: &LogLine) -> bool {
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
    use crate::domain::EpochMillis;

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
        assert_eq!(o.snapshot(snap).len(), 3);
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
        o.snapshot(vec![line(5_000, "a")]);
        assert!(o.is_new(&line(5_003, "z")));
        assert!(o.is_new(&line(5_000, "a")), "the overlap ended at z");
    }

    #[test]
    fn a_reconnect_snapshot_skips_what_was_shown() {
        let mut o = LogOverlap::default();
        o.snapshot(vec![line(1, "a"), line(2, "b")]);
        assert!(!o.is_new(&line(1, "a")));
        assert!(!o.is_new(&line(2, "b")));
        assert!(o.is_new(&line(3, "c")));
        // The stream ended; the new snapshot holds everything again plus d.
        let again = o.snapshot(vec![line(1, "a"), line(2, "b"), line(3, "c"), line(4, "d")]);
        assert_eq!(again, vec![line(4, "d")]);
        // A restarted daemon with a fresh store: all of its lines are new.
        let fresh = o.snapshot(vec![line(10, "x")]);
        assert_eq!(fresh, vec![line(10, "x")]);
    }
}
