//! Log lines for the terminal, sanitised, optionally coloured by level.

use std::fmt::Display;

use chrono::TimeZone;

use crate::domain::logs::{Level, LogLine};
use crate::domain::sanitize::{sanitize_str, strip_all};

/// Sanitise untrusted text for a terminal; without colour, SGR goes too.
pub fn clean(s: &str, color: bool) -> String {
    // Bidi controls and line separators would reorder or break the line.
    let cleaned = if color { sanitize_str(s) } else { strip_all(s) };
    crate::domain::unicode::layout_safe(&cleaned).into_owned()
}

/// Options for [`format_log_line`].
#[derive(Clone, Copy, Debug)]
pub struct LogStyle {
    /// Keep allow-listed colours from the line and colour the level.
    pub color: bool,
}

fn level_sgr(level: Level) -> Option<&'static str> {
    match level {
        Level::Error => Some("\x1b[31m"),
        Level::Warn => Some("\x1b[33m"),
        Level::Debug | Level::Trace => Some("\x1b[2m"),
        Level::Info | Level::Unknown => None,
    }
}

/// `12:34:56.789 staging-v2-1 WARN  text` in the given time zone.
pub fn format_log_line<Tz: TimeZone>(line: &LogLine, style: LogStyle, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let ts = match chrono::DateTime::from_timestamp_millis(line.ts) {
        Some(t) => t.with_timezone(tz).format("%H:%M:%S%.3f").to_string(),
        None => "--:--:--.---".to_string(),
    };
    let source = if line.instance.is_empty() {
        format!("{}/{}", strip_all(&line.env), strip_all(&line.version))
    } else {
        strip_all(&line.instance)
    };
    let level = format!("{:<5}", line.level.label());
    let text = clean(&line.text, style.color);
    if style.color {
        let level = match level_sgr(line.level) {
            Some(sgr) => format!("{sgr}{level}\x1b[0m"),
            None => level,
        };
        // Reset after the text so its colours cannot leak into the next line.
        let reset = if text.contains('\x1b') { "\x1b[0m" } else { "" };
        format!("{ts} {source} {level} {text}{reset}")
    } else {
        format!("{ts} {source} {level} {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(text: &str, level: Level) -> LogLine {
        LogLine::new(
            1_700_000_000_123,
            "staging".into(),
            "v2".into(),
            "staging-v2-1".into(),
            level,
            text,
        )
    }

    #[test]
    fn log_lines_plain_and_coloured() {
        let l = log("GET / 503 \x1b[31mslow\x1b[0m\x07", Level::Warn);
        assert_eq!(
            format_log_line(&l, LogStyle { color: false }, &chrono::Utc),
            "22:13:20.123 staging-v2-1 WARN  GET / 503 slow"
        );
        assert_eq!(
            format_log_line(&l, LogStyle { color: true }, &chrono::Utc),
            "22:13:20.123 staging-v2-1 \x1b[33mWARN \x1b[0m GET / 503 \x1b[31mslow\x1b[0m\x1b[0m"
        );
        let mut anon = log("hi", Level::Info);
        anon.instance = "".into();
        assert_eq!(
            format_log_line(&anon, LogStyle { color: true }, &chrono::Utc),
            "22:13:20.123 staging/v2 INFO  hi"
        );
    }
}
