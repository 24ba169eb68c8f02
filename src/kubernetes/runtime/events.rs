//! Kubernetes Events (core/v1) as log lines of their environment, with the
//! version column `k8s-event`, so they read next to the pods' own lines.

use std::sync::Arc;

use serde_json::Value;

use crate::domain::logs::{Level, LogLine};
use crate::domain::EpochMillis;
use crate::kubernetes::fields::{clean_max, raw, text, uint};

/// The version column of an event's line: where it came from.
pub const EVENT_SOURCE: &str = "k8s-event";
/// Longest event message kept.
const MAX_MESSAGE_CHARS: usize = 2048;

/// Epoch milliseconds of an RFC 3339 time.
pub fn epoch_ms(s: &str) -> Option<EpochMillis> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// When the event last happened: `lastTimestamp`, else `eventTime` (events.k8s.io
/// writers), else `firstTimestamp`, else its creation; `now` without any.
fn when(ev: &Value, now: EpochMillis) -> EpochMillis {
    [
        &["lastTimestamp"][..],
        &["eventTime"],
        &["firstTimestamp"],
        &["metadata", "creationTimestamp"],
    ]
    .iter()
    .find_map(|p| raw(ev, p).and_then(epoch_ms))
    .unwrap_or(now)
}

/// The object an event is about, as `Kind/name`.
pub fn involved(ev: &Value) -> String {
    let kind = text(ev, &["involvedObject", "kind"]).unwrap_or_else(|| "?".into());
    let name = text(ev, &["involvedObject", "name"]).unwrap_or_else(|| "?".into());
    format!("{kind}/{name}")
}

/// One event as a line of `env`: `Reason: message (×count)`, Warning events
/// at level WARN, every string cleaned.
pub fn event_line(ev: &Value, env: &str, now: EpochMillis) -> LogLine {
    let level = match raw(ev, &["type"]) {
        Some("Warning") => Level::Warn,
        _ => Level::Info,
    };
    let reason = text(ev, &["reason"]);
    let message = raw(ev, &["message"])
        .or_else(|| raw(ev, &["note"]))
        .map(|m| clean_max(m, MAX_MESSAGE_CHARS))
        .filter(|m| !m.is_empty());
    let mut body = match (reason, message) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "(no message)".to_string(),
    };
    if let Some(n) = uint(ev, &["count"]).filter(|n| *n > 1) {
        body.push_str(&format!(" (×{n})"));
    }
    LogLine::new(
        when(ev, now),
        Arc::from(env),
        Arc::from(EVENT_SOURCE),
        Arc::from(involved(ev)),
        level,
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::fixture::fixture;
    use serde_json::json;

    #[test]
    fn an_upstream_event_reads_as_a_line() {
        let ev = fixture("core/event-pod-pulled.json");
        let line = event_line(&ev, "staging", 7);
        assert_eq!(&*line.env, "staging");
        assert_eq!(&*line.version, EVENT_SOURCE);
        assert_eq!(&*line.instance, "Pod/hello-1567197780-mn4mv");
        assert_eq!(line.level, Level::Info);
        assert_eq!(
            &*line.text,
            "Pulled: Successfully pulled image \"blang/busybox-bash\""
        );
        assert_eq!(line.ts, epoch_ms("2019-08-30T20:43:05Z").unwrap());
    }

    #[test]
    fn a_hostile_warning_is_cleaned_and_counted() {
        let ev = json!({
            "type": "Warning",
            "reason": "BackOff\u{1b}]0;HACKED\u{7}",
            "message": "restart \u{1b}[2J\u{202e}failed\r\u{9b}31m container",
            "count": 4,
            "involvedObject": {"kind": "Pod", "name": "web-1\u{1b}[H"},
        });
        let line = event_line(&ev, "staging", 42);
        assert_eq!(line.level, Level::Warn);
        assert_eq!(line.ts, 42);
        for s in [&*line.text, &*line.instance] {
            assert!(
                !s.chars()
                    .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                "{s:?}"
            );
        }
        assert!(line.text.starts_with("BackOff"), "{}", line.text);
        assert!(line.text.ends_with("(×4)"), "{}", line.text);
    }
}
