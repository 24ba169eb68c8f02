//! Loki's JSON answers: the envelope, its streams and their entries.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::status_error;
use super::{map, LokiError};
use crate::domain::sanitize::strip_all;

/// One log entry as Loki returned it (not yet sanitised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The stream's labels, shared by its entries.
    pub labels: Arc<BTreeMap<String, String>>,
    pub line: String,
}

#[derive(Deserialize)]
pub(super) struct Envelope {
    pub(super) status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    pub(super) error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Deserialize)]
pub(crate) struct RawStream {
    #[serde(default)]
    pub(crate) stream: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) values: Vec<RawEntry>,
}

/// `["<ns>", "<line>"]`, or with a third element (structured metadata),
/// which is ignored.
pub(crate) struct RawEntry {
    pub(crate) ts: String,
    pub(crate) line: String,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[timestamp, line]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawEntry, A::Error> {
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawEntry { ts, line })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Raw streams to entries (checking the timestamps).
pub(crate) fn flatten(raw: Vec<RawStream>) -> Result<Vec<Entry>, String> {
    let mut out = Vec::with_capacity(raw.iter().map(|s| s.values.len()).sum());
    for s in raw {
        let labels = Arc::new(s.stream);
        for v in s.values {
            let ts_ns = map::parse_ns(&v.ts).ok_or_else(|| {
                format!("`{}` is not a timestamp in nanoseconds", strip_all(&v.ts))
            })?;
            out.push(Entry {
                ts_ns,
                labels: labels.clone(),
                line: v.line,
            });
        }
    }
    Ok(out)
}

/// Interpret an answer of `query_range` (or `query`) for a log query.
pub fn parse_streams(query: &str, http_status: u16, body: &[u8]) -> Result<Vec<Entry>, LokiError> {
    if !(200..300).contains(&http_status) {
        return Err(status_error(query, http_status, body));
    }
    let decode = |reason: String| LokiError::Decode {
        query: strip_all(query),
        reason: strip_all(&reason),
    };
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    if envelope.status != "success" {
        return Err(LokiError::Rejected {
            query: strip_all(query),
            message: strip_all(
                envelope
                    .error
                    .as_deref()
                    .unwrap_or("(no error message given)"),
            ),
        });
    }
    let data = envelope
        .data
        .ok_or_else(|| decode("`data` is missing".into()))?;
    if data.result_type != "streams" {
        return Err(LokiError::NotLogs {
            query: strip_all(query),
            got: strip_all(&data.result_type),
        });
    }
    let raw: Vec<RawStream> =
        serde_json::from_value(data.result).map_err(|e| decode(e.to_string()))?;
    flatten(raw).map_err(decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"status":"success","data":{"resultType":"streams","result":[
        {"stream":{"app":"shop","env":"staging","version":"v1","instance":"shop-1"},
         "values":[["1700000000000000002","second"],["1700000000000000001","first",{"trace_id":"abc"}]]},
        {"stream":{"app":"shop","env":"staging","version":"v2","instance":"shop-2"},
         "values":[["1700000000000000003","third"]]}],
        "stats":{"summary":{"bytesProcessedPerSecond":1234,"totalEntriesReturned":3}}}}"#;

    #[test]
    fn parses_streams() {
        let e = parse_streams("q", 200, BODY.as_bytes()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].ts_ns, 1_700_000_000_000_000_002);
        assert_eq!(e[0].line, "second");
        assert_eq!(e[1].line, "first");
        assert_eq!(e[0].labels.get("version").map(String::as_str), Some("v1"));
        assert!(Arc::ptr_eq(&e[0].labels, &e[1].labels));
        assert_eq!(
            e[2].labels.get("instance").map(String::as_str),
            Some("shop-2")
        );
    }

    #[test]
    fn plain_text_errors_are_typed_and_sanitised() {
        let e = parse_streams(
            "{app=\"x\"} |= foo",
            400,
            b"parse error at line 1, col 13: syntax error: unexpected IDENTIFIER\x1b[2J\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            LokiError::Rejected {
                query: "{app=\"x\"} |= foo".into(),
                message: "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"
                    .into()
            }
        );
        let e = parse_streams("q", 429, b"too many outstanding requests\n").unwrap_err();
        assert_eq!(
            e,
            LokiError::RateLimited {
                query: "q".into(),
                message: "too many outstanding requests".into()
            }
        );
        let e = parse_streams("q", 502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(
            matches!(&e, LokiError::Http { status: 502, body, .. } if body == "<html>Bad Gateway</html>"),
            "{e:?}"
        );
        let json = br#"{"status":"error","errorType":"bad_data","error":"invalid query"}"#;
        let e = parse_streams("q", 400, json).unwrap_err();
        assert!(matches!(&e, LokiError::Rejected { message, .. } if message == "invalid query"));
    }

    #[test]
    fn metric_queries_and_garbage_are_refused() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(
            parse_streams("rate({a=\"b\"}[1m])", 200, matrix.as_bytes()),
            Err(LokiError::NotLogs { .. })
        ));
        for body in [
            "not json",
            r#"{"status":"success"}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["12a","x"]]}]}}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["1"]]}]}}"#,
            r#"{"status":"success","data":{"resultType":"streams","result":{}}}"#,
        ] {
            let e = parse_streams("q", 200, body.as_bytes()).unwrap_err();
            assert!(matches!(e, LokiError::Decode { .. }), "{body}: {e:?}");
        }
    }
}
