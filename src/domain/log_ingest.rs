//! Building a [`LogLine`]: the one place a line is read (sanitised, its JSON
//! parsed, its level and time found, its on-screen message composed).
//! Producers (supervisor, Docker follower, Loki, the daemon client) call
//! these once per line; nothing downstream parses the text again.

use std::sync::Arc;

use super::log_json::{JsonFields, JsonView};
use super::logs::{Level, LogLine};
use super::sanitize::{sanitize_bytes, sanitize_str};
use super::EpochMillis;

impl LogLine {
    /// A line from already sanitised `text`, with a known time and level.
    pub fn new(
        ts: EpochMillis,
        env: Arc<str>,
        version: Arc<str>,
        instance: Arc<str>,
        level: Level,
        text: impl Into<Arc<str>>,
    ) -> LogLine {
        let text: Arc<str> = text.into();
        let json = JsonFields::parse(&text).map(|f| Arc::new(f.view(level, &version, &instance)));
        LogLine {
            ts,
            env,
            version,
            instance,
            level,
            text,
            json,
        }
    }

    /// A line from sanitised `text` whose JSON (already parsed by the
    /// caller, who read its level or time from it) gives the message.
    pub fn with_fields(
        ts: EpochMillis,
        labels: [&Arc<str>; 3],
        level: Level,
        text: &str,
        fields: Option<&JsonFields<'_>>,
    ) -> LogLine {
        let [env, version, instance] = labels;
        LogLine {
            ts,
            env: env.clone(),
            version: version.clone(),
            instance: instance.clone(),
            level,
            text: Arc::from(text),
            json: fields.map(|f| Arc::new(f.view(level, version, instance))),
        }
    }

    /// Read one raw output line: a JSON object gives the time (`ts`, `time`,
    /// `timestamp`) and the level (`level`, `lvl`, `severity`); a plain line
    /// gets `now` and a level guessed from words like `ERROR` or `WARN`.
    pub fn parse(
        raw: &[u8],
        env: &Arc<str>,
        version: &Arc<str>,
        instance: &Arc<str>,
        now: EpochMillis,
    ) -> LogLine {
        // Valid UTF-8 (nearly every line) skips the lossy decoder's chunking.
        let text = match std::str::from_utf8(raw) {
            Ok(s) => sanitize_str(s),
            Err(_) => sanitize_bytes(raw),
        };
        let fields = JsonFields::parse(&text);
        let (ts, level) = match &fields {
            Some(f) => (
                f.timestamp().unwrap_or(now),
                f.level().unwrap_or(Level::Unknown),
            ),
            None => (now, guess_level(raw)),
        };
        LogLine::with_fields(ts, [env, version, instance], level, &text, fields.as_ref())
    }

    /// The same line with `suffix` (a truncation marker) appended to its text.
    pub fn with_suffix(self, suffix: &str) -> LogLine {
        let mut text = String::with_capacity(self.text.len() + suffix.len());
        text.push_str(&self.text);
        text.push_str(suffix);
        LogLine::new(
            self.ts,
            self.env,
            self.version,
            self.instance,
            self.level,
            text,
        )
    }

    /// The message a JSON line shows on screen, if the line is a JSON object.
    pub fn json(&self) -> Option<&JsonView> {
        self.json.as_deref()
    }

    /// Whether a filter finds the line: in its text as written, or (for a
    /// JSON line) in what the screen shows, so `status=500` finds
    /// `"status":500`.
    pub fn matches(&self, re: &regex::Regex) -> bool {
        re.is_match(&self.text) || self.json.as_ref().is_some_and(|j| re.is_match(&j.shown))
    }
}

/// Level from the first level-like upper-case word in the start of a plain line.
pub fn guess_level(raw: &[u8]) -> Level {
    let head = &raw[..raw.len().min(128)];
    for word in head
        .split(|c| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && w.len() <= 11)
    {
        if word.iter().all(u8::is_ascii_uppercase) {
            // ASCII letters only, so this is valid UTF-8.
            let l = Level::parse(std::str::from_utf8(word).unwrap_or_default());
            if l != Level::Unknown {
                return l;
            }
        }
    }
    Level::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> (Arc<str>, Arc<str>, Arc<str>) {
        ("staging".into(), "v1".into(), "staging-v1-1".into())
    }

    #[test]
    fn json_lines_give_timestamp_level_and_message() {
        let (e, v, i) = labels();
        let raw =
            br#"{"ts":"2024-05-01T12:00:00.250Z","level":"warn","msg":"slow","version":"v1"}"#;
        let l = LogLine::parse(raw, &e, &v, &i, 7);
        assert_eq!(l.level, Level::Warn);
        assert_eq!(l.ts, 1_714_564_800_250);
        assert_eq!(l.json().map(|j| j.shown.as_str()), Some("slow"));
        assert_eq!(&*l.text, std::str::from_utf8(raw).unwrap());
    }

    #[test]
    fn plain_lines_get_now_and_a_guessed_level() {
        let (e, v, i) = labels();
        let l = LogLine::parse(b"2024-05-01 ERROR database gone\x1b[2J", &e, &v, &i, 42);
        assert_eq!((l.ts, l.level), (42, Level::Error));
        assert_eq!(&*l.text, "2024-05-01 ERROR database gone");
        assert!(l.json().is_none());
        assert_eq!(guess_level(b"[WARN] disk"), Level::Warn);
        assert_eq!(guess_level(b"no error here"), Level::Unknown);
        assert_eq!(guess_level(b"{\"level\":\"info\" ERROR"), Level::Error);
    }

    #[test]
    fn filters_match_the_text_or_the_screen() {
        let (e, v, i) = labels();
        let l = LogLine::parse(br#"{"msg":"request","status":500}"#, &e, &v, &i, 0);
        let re = |p: &str| regex::Regex::new(p).unwrap();
        assert!(l.matches(&re("status=500")), "as shown");
        assert!(l.matches(&re(r#""status":500"#)), "as written");
        assert!(!l.matches(&re("status=200")));
    }

    #[test]
    fn suffix_and_wire_round_trip() {
        let (e, v, i) = labels();
        let l = LogLine::parse(br#"{"msg":"cut"#, &e, &v, &i, 0).with_suffix(" …[truncated]");
        assert_eq!(&*l.text, r#"{"msg":"cut …[truncated]"#);
        let j = LogLine::parse(br#"{"msg":"hi","n":1}"#, &e, &v, &i, 5);
        let wire = serde_json::to_string(&j).unwrap();
        assert!(!wire.contains("json"), "{wire}");
        let back: LogLine = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, j);
        assert_eq!(back.json().map(|j| j.shown.as_str()), Some("hi n=1"));
    }
}
