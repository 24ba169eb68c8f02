//! Turning raw output lines (a child's stdout, a container's log stream)
//! into sanitised `LogLine`s: bounded reads, JSON fields, a guessed level.
//! Shared by the sandbox, Docker and Kubernetes, so none imports another.

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::domain::logs::LogLine;
use crate::domain::EpochMillis;

/// Longest line kept from a child or container; the rest is cut.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Appended to a line that was cut at `MAX_LINE_BYTES`.
pub const TRUNCATED_MARKER: &str = " …[truncated]";

/// Read one line into `buf` (without its terminator), keeping at most `max`
/// bytes and discarding the rest of a longer line. `Ok(None)` at end of input,
/// otherwise `Ok(Some(truncated))`.
pub async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut truncated = false;
    let mut any = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(any.then_some(truncated));
        }
        any = true;
        let (chunk, consumed, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        if chunk.len() > room {
            truncated = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        r.consume(consumed);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(truncated));
        }
    }
}

/// Split a line that a log API prefixed with its time (Docker's and
/// Kubernetes' `timestamps`): `2024-05-01T12:00:00.123456789Z rest` into (ns since epoch, rest).
pub fn split_timestamp(line: &[u8]) -> (Option<i64>, &[u8]) {
    let Some(space) = line.iter().position(|b| *b == b' ') else {
        return (None, line);
    };
    let head = std::str::from_utf8(&line[..space]).ok();
    match head.and_then(|h| chrono::DateTime::parse_from_rfc3339(h).ok()) {
        Some(t) => (t.timestamp_nanos_opt(), &line[space + 1..]),
        None => (None, line),
    }
}

/// Turn one raw output line into a `LogLine`: JSON lines give `ts` and
/// `level`; plain lines get the time now and a level guessed from words like
/// `ERROR` or `WARN`. The text is always sanitised.
pub fn parse_log_line(
    raw: &[u8],
    env: &Arc<str>,
    version: &Arc<str>,
    instance: &Arc<str>,
    now: EpochMillis,
) -> LogLine {
    LogLine::parse(raw, env, version, instance, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::Level;
    use tokio::io::BufReader;

    fn labels() -> (Arc<str>, Arc<str>, Arc<str>) {
        ("staging".into(), "v1".into(), "staging-v1-1".into())
    }

    #[test]
    fn timestamps_are_split_off_log_lines() {
        let (ts, rest) = split_timestamp(b"2024-05-01T12:00:00.000000250Z hello world");
        assert_eq!(ts, Some(1_714_564_800_000_000_250));
        assert_eq!(rest, b"hello world");
        let (ts, rest) = split_timestamp(b"no timestamp here");
        assert_eq!(ts, None);
        assert_eq!(rest, b"no timestamp here");
    }

    #[test]
    fn json_lines_give_timestamp_and_level() {
        let (e, v, i) = labels();
        let raw = br#"{"ts":"2024-05-01T12:00:00.250Z","level":"warn","msg":"slow"}"#;
        let l = parse_log_line(raw, &e, &v, &i, 7);
        assert_eq!(l.level, Level::Warn);
        assert_eq!(l.ts, 1_714_564_800_250);
        assert_eq!(&*l.instance, "staging-v1-1");
    }

    #[test]
    fn plain_lines_get_now_and_a_guessed_level() {
        let (e, v, i) = labels();
        let l = parse_log_line(b"2024-05-01 ERROR database gone", &e, &v, &i, 42);
        assert_eq!(l.ts, 42);
        assert_eq!(l.level, Level::Error);
        let l = parse_log_line(b"[WARN] disk at 91%", &e, &v, &i, 42);
        assert_eq!(l.level, Level::Warn);
        // Lower-case prose is not a level.
        let l = parse_log_line(b"no error here", &e, &v, &i, 42);
        assert_eq!(l.level, Level::Unknown);
        // Broken JSON falls back to the plain rules.
        let l = parse_log_line(b"{\"level\":\"info\" ERROR", &e, &v, &i, 42);
        assert_eq!(l.level, Level::Error);
    }

    #[tokio::test]
    async fn bounded_reader_truncates_long_lines_and_keeps_the_next() {
        let mut input = vec![b'a'; 100];
        input.extend_from_slice(b"\r\nshort\nlast-without-newline");
        let mut r = BufReader::with_capacity(7, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_bounded_line(&mut r, &mut buf, 10).await.unwrap(),
            Some(true)
        );
        assert_eq!(buf, vec![b'a'; 10]);
        assert_eq!(
            read_bounded_line(&mut r, &mut buf, 10).await.unwrap(),
            Some(false)
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_bounded_line(&mut r, &mut buf, 10).await.unwrap(),
            Some(true)
        );
        assert_eq!(buf, b"last-witho");
        assert_eq!(read_bounded_line(&mut r, &mut buf, 10).await.unwrap(), None);
    }
}
