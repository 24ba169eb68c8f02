//! The LogQL response parsers: a `query_range` answer and a tail frame
//! become entries, or an error quoting nothing that could drive the
//! terminal; every entry, mapped to a log line, is sanitised and bounded.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use blissful_infra::config::LokiLabels;
use blissful_infra::sources::loki::map::{MAX_LINE_CHARS, TRUNCATED_MARKER};
use blissful_infra::sources::loki::{parse_frame, parse_streams, Entry, StreamColumns};
use blissful_infra_fuzz::{require_log_line, require_plain_error, require_plain_text};
use libfuzzer_sys::fuzz_target;

/// A query as a user might type it, hostile bytes included.
const QUERY: &str = "{app=\"shop\"} |= \"\u{1b}]0;t\u{7}\"";

fuzz_target!(|data: &[u8]| {
    for status in [200, 502] {
        match parse_streams(QUERY, status, data) {
            Ok(entries) => {
                assert_eq!(status, 200, "an error status gave entries");
                check_entries(&entries);
            }
            Err(e) => require_plain_error("query_range error", &e),
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match parse_frame(text) {
            Ok(frame) => check_entries(&frame.entries),
            Err(e) => require_plain_error("tail error", &e),
        }
    }
});

fn check_entries(entries: &[Entry]) {
    let names = LokiLabels::default();
    let mut columns: BTreeMap<*const BTreeMap<String, String>, StreamColumns> = BTreeMap::new();
    for e in entries {
        assert!(e.ts_ns >= 0, "timestamp {} before the epoch", e.ts_ns);
        let cols = columns
            .entry(Arc::as_ptr(&e.labels))
            .or_insert_with(|| StreamColumns::new(&e.labels, &names, Some("staging"), None));
        require_plain_text("stream key", &cols.key);
        let line = cols.line(e.ts_ns, &e.line);
        require_log_line(&line);
        let limit = MAX_LINE_CHARS + TRUNCATED_MARKER.chars().count();
        let chars = line.text.chars().count();
        // Kept colours do not count against the bound, so measure them out.
        let visible = blissful_infra::domain::sanitize::strip_all(&line.text)
            .chars()
            .count();
        assert!(
            visible <= limit,
            "{visible} visible chars ({chars} in all) > {limit}"
        );
    }
}
