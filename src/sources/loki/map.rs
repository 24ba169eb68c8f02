//! Loki entries to `LogLine`s: labels to the log pane's columns, the level
//! from a label or the line itself, the text sanitised and bounded.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::LokiLabels;
use crate::domain::log_json::JsonFields;
use crate::domain::logs::{Level, LogLine};
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::domain::EpochMillis;

/// Longest line kept (after sanitising); the rest is cut and marked.
pub const MAX_LINE_CHARS: usize = 16 * 1024;
/// Appended to a line that was cut.
pub const TRUNCATED_MARKER: &str = " …[truncated]";
/// Shown in a column whose label a stream does not have.
pub const MISSING: &str = "-";
/// Loki's own label for a level it detected (Loki 3).
const DETECTED_LEVEL: &str = "detected_level";

/// The columns of one stream, computed once and shared by its entries.
#[derive(Clone, Debug)]
pub struct StreamColumns {
    pub env: Arc<str>,
    pub version: Arc<str>,
    pub instance: Arc<str>,
    /// From the level label, if the stream has one.
    pub level: Option<Level>,
    /// All labels, sanitised, as `{a="1", b="2"}`: tells streams apart.
    pub key: Arc<str>,
}

impl StreamColumns {
    /// `fallback_env`/`fallback_version` fill columns the stream has no label
    /// for (the filter asked for them, so they are known).
    pub fn new(
        stream: &BTreeMap<String, String>,
        names: &LokiLabels,
        fallback_env: Option<&str>,
        fallback_version: Option<&str>,
    ) -> StreamColumns {
        let get = |k: &str| {
            stream
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| strip_all(v))
        };
        let col = |v: Option<String>, fallback: Option<&str>| -> Arc<str> {
            match v {
                Some(v) => Arc::from(v),
                None => Arc::from(fallback.map_or_else(|| MISSING.to_string(), strip_all)),
            }
        };
        let instance = get(&names.instance)
            .or_else(|| get("pod"))
            .or_else(|| get("container"));
        let level = get(&names.level)
            .or_else(|| get(DETECTED_LEVEL))
            .map(|l| Level::parse(&l))
            .filter(|l| *l != Level::Unknown);
        let key = stream
            .iter()
            .map(|(k, v)| format!("{}={:?}", strip_all(k), strip_all(v)))
            .collect::<Vec<_>>()
            .join(", ");
        StreamColumns {
            env: col(get(&names.env), fallback_env),
            version: col(get(&names.version), fallback_version),
            instance: col(instance, None),
            level,
            key: Arc::from(format!("{{{key}}}")),
        }
    }

    /// One entry as a log line. Its JSON is parsed once, for the level
    /// (when the stream has no level label) and for the message.
    pub fn line(&self, ts_ns: i64, raw: &str) -> LogLine {
        let text = bounded(sanitize_str(raw));
        let fields = JsonFields::parse(&text);
        let level = self.level.unwrap_or_else(|| match &fields {
            Some(f) => f.level().unwrap_or(Level::Unknown),
            None => logfmt_level(text.trim_start()),
        });
        LogLine::with_fields(
            ns_to_millis(ts_ns),
            [&self.env, &self.version, &self.instance],
            level,
            &text,
            fields.as_ref(),
        )
    }
}

/// Nanoseconds (Loki's timestamps) to milliseconds, rounding down.
pub fn ns_to_millis(ns: i64) -> EpochMillis {
    ns.div_euclid(1_000_000)
}

/// Loki's timestamp string (decimal nanoseconds since the epoch).
pub fn parse_ns(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `text` (sanitised) cut at `MAX_LINE_CHARS`. The cut may fall inside a
/// colour sequence the sanitiser kept, so the kept part is sanitised again,
/// which drops the unfinished sequence.
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => {
            let mut kept = sanitize_str(&text[..i]);
            kept.push_str(TRUNCATED_MARKER);
            kept
        }
        None => text,
    }
}

/// The level written in the line: a JSON object's `level`/`lvl`/`severity`
/// (names, or pino/bunyan numbers), or logfmt's `level=`/`lvl=`.
pub fn level_in_line(raw: &str) -> Level {
    match JsonFields::parse(raw) {
        Some(f) => f.level().unwrap_or(Level::Unknown),
        None => logfmt_level(raw.trim_start()),
    }
}

fn logfmt_level(line: &str) -> Level {
    // Only the first few hundred bytes: level keys come early, and this runs
    // for every line without a level label.
    let head_end = line.char_indices().nth(512).map_or(line.len(), |(i, _)| i);
    let head = &line[..head_end];
    let mut rest = head;
    while let Some(i) = rest.find("level=").or_else(|| rest.find("lvl=")) {
        let key_len = if rest[i..].starts_with("level=") {
            6
        } else {
            4
        };
        let at_word_start = i == 0 || rest[..i].ends_with([' ', '\t']);
        let value = &rest[i + key_len..];
        if at_word_start {
            let v = match value.strip_prefix('"') {
                Some(q) => q.split('"').next().unwrap_or(""),
                None => value.split([' ', '\t']).next().unwrap_or(""),
            };
            return Level::parse(v);
        }
        rest = value;
    }
    Level::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_cut_never_leaves_half_a_colour_sequence() {
        let c = StreamColumns::new(&labels(&[]), &LokiLabels::default(), None, None);
        let head = "x".repeat(MAX_LINE_CHARS - 3);
        // The cut falls after `ESC [ 3`, inside a kept SGR.
        let l = c.line(0, &format!("{head}\x1b[38;5;208mred\x1b[0m"));
        assert_eq!(&*l.text, format!("{head}{TRUNCATED_MARKER}"));
        // A whole sequence before the cut stays.
        let head = "x".repeat(MAX_LINE_CHARS - 5);
        let l = c.line(0, &format!("{head}\x1b[1mcd"));
        assert_eq!(&*l.text, format!("{head}\x1b[1mc{TRUNCATED_MARKER}"));
    }

    #[test]
    fn labels_fill_the_columns() {
        let names = LokiLabels::default();
        let c = StreamColumns::new(
            &labels(&[
                ("app", "shop"),
                ("env", "staging"),
                ("version", "v2"),
                ("instance", "shop-7d9f-x2"),
                ("level", "warning"),
            ]),
            &names,
            None,
            None,
        );
        let l = c.line(1_700_000_000_123_456_789, "slow upstream");
        assert_eq!(l.ts, 1_700_000_000_123);
        assert_eq!(
            (&*l.env, &*l.version, &*l.instance),
            ("staging", "v2", "shop-7d9f-x2")
        );
        assert_eq!(l.level, Level::Warn);
        assert_eq!(&*l.text, "slow upstream");
        assert_eq!(
            &*c.key,
            r#"{app="shop", env="staging", instance="shop-7d9f-x2", level="warning", version="v2"}"#
        );
    }

    #[test]
    fn missing_labels_fall_back() {
        let names = LokiLabels::default();
        let c = StreamColumns::new(
            &labels(&[("pod", "shop-1"), ("container", "app")]),
            &names,
            Some("prod"),
            None,
        );
        assert_eq!(
            (&*c.env, &*c.version, &*c.instance),
            ("prod", MISSING, "shop-1")
        );
        let c = StreamColumns::new(&labels(&[("container", "app")]), &names, None, None);
        assert_eq!((&*c.env, &*c.instance), (MISSING, "app"));
        let c = StreamColumns::new(&labels(&[("detected_level", "error")]), &names, None, None);
        assert_eq!(c.level, Some(Level::Error));
    }

    #[test]
    fn level_from_the_line() {
        for (line, level) in [
            (r#"{"level":"error","msg":"boom"}"#, Level::Error),
            (r#"  {"severity":"WARNING","message":"x"}"#, Level::Warn),
            (r#"{"lvl":"dbg"}"#, Level::Debug),
            (r#"{"level":30,"msg":"pino info"}"#, Level::Info),
            (r#"{"level":50}"#, Level::Error),
            (r#"{"msg":"no level"}"#, Level::Unknown),
            (
                r#"ts=2024-01-01T00:00:00Z level=warn msg="disk 91%""#,
                Level::Warn,
            ),
            (r#"level="error" msg=x"#, Level::Error),
            ("caller=main.go:12 lvl=info", Level::Info),
            ("loglevel=error msg=x", Level::Unknown),
            ("plain text", Level::Unknown),
            ("{not json level=error", Level::Error),
        ] {
            assert_eq!(level_in_line(line), level, "{line}");
        }
    }

    #[test]
    fn hostile_text_and_labels_are_sanitised() {
        let names = LokiLabels::default();
        let c = StreamColumns::new(
            &labels(&[("env", "st\x1b]0;pwned\x07aging"), ("instance", "i\x1b[2J")]),
            &names,
            None,
            None,
        );
        assert_eq!((&*c.env, &*c.instance), ("staging", "i"));
        let l = c.line(1, "ok\x1b[2J\x1b]52;c;ZXZpbA==\x07 \x1b[31mred\x1b[0m\r\n");
        assert_eq!(&*l.text, "ok \x1b[31mred\x1b[0m");
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let c = StreamColumns::new(&BTreeMap::new(), &LokiLabels::default(), None, None);
        let l = c.line(1, &"é".repeat(MAX_LINE_CHARS + 10));
        assert!(l.text.ends_with(TRUNCATED_MARKER));
        assert_eq!(
            l.text.chars().count(),
            MAX_LINE_CHARS + TRUNCATED_MARKER.chars().count()
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_ns("1700000000123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(parse_ns("-1"), None);
        assert_eq!(parse_ns("1.5"), None);
        assert_eq!(parse_ns(""), None);
        assert_eq!(parse_ns("99999999999999999999"), None);
        assert_eq!(ns_to_millis(1_999_999), 1);
    }
}
