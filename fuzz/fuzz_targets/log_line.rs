//! The log line parser and sanitiser: any bytes, read line by line as a
//! child's or a container's output is, come out as lines with no escape
//! or control sequence but the allow-listed colours, and bounded.
#![no_main]

use std::sync::Arc;

use blissful_infra::domain::sanitize::{sanitize_bytes, strip_all};
use blissful_infra::logparse::{parse_log_line, read_bounded_line, split_timestamp};
use blissful_infra_fuzz::{require_coloured_text, require_log_line, require_plain_text};
use libfuzzer_sys::fuzz_target;

/// A small bound, so long lines are cut often.
const MAX_LINE: usize = 256;
/// Worst growth of a line when sanitised: an invalid byte becomes U+FFFD.
const MAX_GROWTH: usize = 3;

fuzz_target!(|data: &[u8]| {
    let labels: [Arc<str>; 3] = ["staging".into(), "v1".into(), "staging-v1-1".into()];
    let [env, version, instance] = &labels;
    let mut reader = data;
    let mut buf = Vec::new();
    let mut lines = 0;
    loop {
        let read = futures::executor::block_on(read_bounded_line(&mut reader, &mut buf, MAX_LINE));
        let Ok(Some(_truncated)) = read else {
            break;
        };
        lines += 1;
        assert!(
            buf.len() <= MAX_LINE,
            "{} bytes kept of at most {MAX_LINE}",
            buf.len()
        );
        assert!(!buf.contains(&b'\n'), "a line holds its terminator");
        let (ts, body) = split_timestamp(&buf);
        let line = parse_log_line(body, env, version, instance, ts.unwrap_or(0) / 1_000_000);
        require_log_line(&line);
        assert!(
            line.text.len() <= body.len() * MAX_GROWTH,
            "{} bytes from {}",
            line.text.len(),
            body.len()
        );
    }
    assert!(
        lines <= data.len(),
        "{lines} lines from {} bytes",
        data.len()
    );
    // The whole input as one line, with its colours and without.
    let all = sanitize_bytes(data);
    require_coloured_text("sanitize_bytes", &all);
    require_plain_text("strip_all", &strip_all(&all));
});
