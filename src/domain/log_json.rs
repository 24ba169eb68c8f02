//! A JSON log line read once, at ingest: its fields borrowed from the text
//! where possible, the timestamp and level it states, and the message the
//! Logs pane shows (`msg key=value …`).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

use super::logs::Level;
use super::unicode::visible_controls;
use super::EpochMillis;

/// One field value. Strings stay borrowed unless they hold escapes.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Str(Cow<'a, str>),
    /// A number, `true`/`false`/`null`, or a nested array/object, as compact JSON.
    Other(String),
}

impl FieldValue<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            FieldValue::Other(_) => None,
        }
    }
    fn shown(&self) -> Cow<'_, str> {
        match self {
            FieldValue::Str(s) => visible_controls(s),
            FieldValue::Other(s) => visible_controls(s),
        }
    }
}

/// The top-level fields of a JSON object line, in the order written; a key
/// written twice keeps its last value (as `serde_json::Map` would).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonFields<'a> {
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
}

/// What the Logs pane shows for a JSON line, built once at ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonView {
    /// `msg key=value …`; control characters inside values are shown as
    /// control pictures and layout-breaking Unicode is made safe.
    pub shown: String,
    /// Byte ranges of the `key=` parts of `shown` (drawn muted).
    pub keys: Vec<(u32, u32)>,
}

impl<'a> JsonFields<'a> {
    /// The fields of `text` when it is one JSON object, else `None`.
    pub fn parse(text: &'a str) -> Option<JsonFields<'a>> {
        let t = text.trim();
        if !t.starts_with('{') || !t.ends_with('}') {
            return None;
        }
        let mut fields = serde_json::from_str::<Fields<'a>>(t).ok()?.0;
        drop_repeated_keys(&mut fields);
        Some(JsonFields { fields })
    }

    pub fn get(&self, key: &str) -> Option<&FieldValue<'a>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `ts`, `time` or `timestamp` as RFC 3339.
    pub fn timestamp(&self) -> Option<EpochMillis> {
        ["ts", "time", "timestamp"]
            .into_iter()
            .find_map(|k| self.get(k))
            .and_then(FieldValue::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_millis())
    }

    /// `level`, `lvl` or `severity`: a name, or a pino/bunyan number.
    pub fn level(&self) -> Option<Level> {
        let v = ["level", "lvl", "severity"]
            .into_iter()
            .find_map(|k| self.get(k))?;
        Some(match v {
            FieldValue::Str(s) => Level::parse(s),
            FieldValue::Other(n) => match n.parse::<u64>() {
                Ok(0..=10) => Level::Trace,
                Ok(11..=20) => Level::Debug,
                Ok(21..=30) => Level::Info,
                Ok(31..=40) => Level::Warn,
                Ok(_) => Level::Error,
                Err(_) => Level::Unknown,
            },
        })
    }

    /// The message as shown: `msg` (or `message`) first, then the fields a
    /// reader scans for first, then the rest by key. Fields the columns
    /// already show (time, a level that agrees, the version and instance)
    /// are left out.
    pub fn view(&self, level: Level, version: &str, instance: &str) -> JsonView {
        const FIRST: [&str; 6] = ["method", "path", "status", "duration_ms", "error", "reason"];
        let rank = |k: &str| FIRST.iter().position(|f| *f == k).unwrap_or(FIRST.len());
        let msg_key = ["msg", "message"]
            .into_iter()
            .find(|k| self.get(k).is_some());
        let mut view = JsonView {
            shown: String::with_capacity(128),
            keys: Vec::with_capacity(self.fields.len()),
        };
        if let Some(v) = msg_key.and_then(|k| self.get(k)) {
            view.shown.push_str(&v.shown());
        }
        let mut rest: Vec<&(Cow<'a, str>, FieldValue<'a>)> = self
            .fields
            .iter()
            .filter(|(k, v)| {
                let k = k.as_ref();
                let hidden = Some(k) == msg_key
                    || ((k == "level" || k == "lvl")
                        && v.as_str().is_some_and(|s| Level::parse(s) == level))
                    || matches!(k, "ts" | "time" | "timestamp")
                    || (k == "version" && v.as_str() == Some(version))
                    || (k == "instance" && v.as_str() == Some(instance));
                !hidden
            })
            .collect();
        rest.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
        for (k, v) in rest {
            if !view.shown.is_empty() {
                view.shown.push(' ');
            }
            let start = view.shown.len() as u32;
            view.shown.push_str(&visible_controls(k));
            view.shown.push('=');
            view.keys.push((start, view.shown.len() as u32));
            view.shown.push_str(&v.shown());
        }
        view
    }
}

/// A key written twice keeps its last value. Small objects (the usual log
/// line) are checked pairwise without allocating; large ones by sorting.
fn drop_repeated_keys(fields: &mut Vec<(Cow<'_, str>, FieldValue<'_>)>) {
    let n = fields.len();
    let keep: Vec<bool> = if n <= 16 {
        let repeated_later = |i: usize| fields[i + 1..].iter().any(|(k, _)| *k == fields[i].0);
        if !(0..n).any(repeated_later) {
            return;
        }
        (0..n).map(|i| !repeated_later(i)).collect()
    } else {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| fields[*a].0.cmp(&fields[*b].0));
        let mut keep = vec![true; n];
        for w in order.windows(2) {
            if fields[w[0]].0 == fields[w[1]].0 {
                keep[w[0]] = false;
            }
        }
        keep
    };
    let mut i = 0;
    fields.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// The object's fields, deserialised without building a `serde_json::Value`.
struct Fields<'a>(Vec<(Cow<'a, str>, FieldValue<'a>)>);

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let v = map.next_value::<FieldValue<'de>>()?;
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for FieldValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(FieldValue::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(FieldValue::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(FieldValue::Other(b.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(FieldValue::Other(n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(FieldValue::Other(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                // serde_json's own formatting (`1.7`, `1e21`).
                Ok(FieldValue::Other(
                    serde_json::Number::from_f64(n)
                        .map_or_else(|| "null".into(), |n| n.to_string()),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FieldValue::Other("null".into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(FieldValue::Other(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FieldValue::Other(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str, level: Level, version: &str, instance: &str) -> Option<String> {
        JsonFields::parse(text).map(|f| f.view(level, version, instance).shown)
    }

    #[test]
    fn json_messages_read_as_text() {
        let text = r#"{"level":"info","msg":"served","path":"/hello","status":200,"ok":true,"d":1.5,"n":null,"ts":"x","version":"v1","instance":"i-0","nest":{"a":[1,"b"]}}"#;
        assert_eq!(
            shown(text, Level::Info, "v1", "i-0").as_deref(),
            Some(r#"served path=/hello status=200 d=1.5 n=null nest={"a":[1,"b"]} ok=true"#)
        );
        // A level or version that disagrees with the columns is kept.
        assert_eq!(
            shown(
                r#"{"msg":"x","level":"warn","version":"v2"}"#,
                Level::Info,
                "v1",
                "i"
            )
            .as_deref(),
            Some("x level=warn version=v2")
        );
        for not_object in ["{not json}", "[1,2]", "plain", "{\"a\":1} trailing", ""] {
            assert!(JsonFields::parse(not_object).is_none(), "{not_object}");
        }
    }

    #[test]
    fn key_parts_are_marked() {
        let f = JsonFields::parse(r#"{"message":"m","path":"/p","status":500}"#).expect("json");
        let v = f.view(Level::Unknown, "", "");
        assert_eq!(v.shown, "m path=/p status=500");
        let keys: Vec<&str> = v
            .keys
            .iter()
            .map(|(a, b)| &v.shown[*a as usize..*b as usize])
            .collect();
        assert_eq!(keys, vec!["path=", "status="]);
    }

    #[test]
    fn escapes_in_values_are_visible() {
        let text = r#"{"msg":"secret\rHIDDEN","evil":"a\u001b]52;c;QQ==\u0007\u001b[2Jb","k\u001b":"\u202eok"}"#;
        assert_eq!(
            shown(text, Level::Unknown, "", "").as_deref(),
            Some("secret␍HIDDEN evil=a␛]52;c;QQ==␇␛[2Jb k␛=\u{fffd}ok")
        );
    }

    #[test]
    fn timestamp_level_and_repeated_keys() {
        let f =
            JsonFields::parse(r#"{"ts":"2024-05-01T12:00:00.250Z","level":"warn","a":1,"a":2}"#)
                .expect("json");
        assert_eq!(f.timestamp(), Some(1_714_564_800_250));
        assert_eq!(f.level(), Some(Level::Warn));
        assert_eq!(f.get("a"), Some(&FieldValue::Other("2".into())));
        assert_eq!(f.fields.len(), 3);
        let pino = JsonFields::parse(r#"{"level":50,"time":"nope"}"#).expect("json");
        assert_eq!(pino.level(), Some(Level::Error));
        assert_eq!(pino.timestamp(), None);
        let sev = JsonFields::parse(r#"{"severity":"WARNING"}"#).expect("json");
        assert_eq!(sev.level(), Some(Level::Warn));
        assert_eq!(JsonFields::parse("{}").and_then(|f| f.level()), None);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let f = JsonFields::parse(r#"{"k\"ey":"a\"b\\c\u00e9"}"#).expect("json");
        assert_eq!(f.fields[0].0, "k\"ey");
        assert_eq!(f.fields[0].1.as_str(), Some("a\"b\\cé"));
    }
}
