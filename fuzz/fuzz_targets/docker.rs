//! The Docker event and stats decoders: the same bytes read as an engine
//! event (its log line and timeline entry plain, naming the container), as
//! a stats sample (CPU and memory finite and not negative), and as a log
//! body (its line sanitised and bounded).
#![no_main]

use std::sync::Arc;

use blissful_infra::docker::runtime::{event_note, event_subject, stats_point};
use blissful_infra::fuzzing::docker_body_line;
use blissful_infra::logparse::{split_timestamp, MAX_LINE_BYTES, TRUNCATED_MARKER};
use blissful_infra_fuzz::{require_log_line, require_plain_text};
use bollard::models::{ContainerStatsResponse, EventMessage};
use libfuzzer_sys::fuzz_target;

/// Worst growth of a line when sanitised: an invalid byte becomes U+FFFD.
const MAX_GROWTH: usize = 3;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = serde_json::from_slice::<EventMessage>(data) {
        let subject = event_subject(&msg);
        let hostile_name = Some("shop\u{1b}[2J-1".to_string());
        for known in [None, hostile_name] {
            if let Some(note) = event_note(&msg, None, known) {
                assert!(subject.is_some(), "a note for an event without a subject");
                require_plain_text("event log", &note.log);
                require_plain_text("event title", &note.title);
                require_plain_text("event detail", &note.detail);
                if let Some(f) = &note.failed {
                    require_plain_text("event failure", f);
                }
            }
        }
    }
    if let Ok(stats) = serde_json::from_slice::<ContainerStatsResponse>(data) {
        if let Some(p) = stats_point(&stats, 0) {
            for (what, v) in [("cpu", p.cpu_pct), ("memory", p.mem_mib)] {
                assert!(v.is_finite() && v >= 0.0, "{what} {v} from {stats:?}");
            }
        }
    }
    let labels: [Arc<str>; 3] = ["staging".into(), "v1".into(), "shop-app-1".into()];
    let [env, version, instance] = &labels;
    let (ts, body) = split_timestamp(data);
    let line = docker_body_line(body, ts, [env, version, instance]);
    require_log_line(&line);
    let kept = body.len().min(MAX_LINE_BYTES);
    let limit = kept * MAX_GROWTH + TRUNCATED_MARKER.len();
    assert!(
        line.text.len() <= limit,
        "{} bytes from {kept}",
        line.text.len()
    );
});
