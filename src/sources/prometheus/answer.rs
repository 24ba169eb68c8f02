//! Reading the query API's JSON answers (and its error answers).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{PromError, QueryResult, Sample, Series};
use crate::domain::sanitize::strip_all;

/// How much of a non-JSON error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 300;

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<RawSample>),
    Matrix(Vec<RawSeries>),
    Scalar(RawPoint),
    String(RawPoint),
}

/// `[unix seconds, "value"]`
type RawPoint = (f64, String);

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native-histogram samples, which are refused.
    #[serde(default)]
    value: Option<RawPoint>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<RawPoint>,
}

/// Prometheus writes special floats as `NaN`, `+Inf` and `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

fn clean_labels(raw: BTreeMap<String, String>) -> BTreeMap<String, String> {
    raw.into_iter()
        .map(|(k, v)| (strip_all(&k), strip_all(&v)))
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Interpret an answer of the query API. `http_status` decides between an
/// HTTP error and a decode error when the body is not the API's JSON.
pub fn parse_response(
    query: &str,
    http_status: u16,
    body: &[u8],
) -> Result<QueryResult, PromError> {
    let q = || strip_all(query);
    let decode = |reason: String| PromError::Decode {
        query: q(),
        reason: strip_all(&reason),
    };
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if (200..300).contains(&http_status) => return Err(decode(e.to_string())),
        Err(_) => {
            return Err(PromError::Http {
                query: q(),
                status: http_status,
                body: truncate(
                    strip_all(&String::from_utf8_lossy(body)).trim(),
                    MAX_QUOTED_BODY,
                ),
            })
        }
    };
    if envelope.status != "success" {
        return Err(PromError::Api {
            query: q(),
            error_type: strip_all(envelope.error_type.as_deref().unwrap_or("error")),
            message: strip_all(
                envelope
                    .error
                    .as_deref()
                    .unwrap_or("(no error message given)"),
            ),
        });
    }
    if !(200..300).contains(&http_status) {
        return Err(PromError::Http {
            query: q(),
            status: http_status,
            body: "a success body with an error status".into(),
        });
    }
    let data = envelope
        .data
        .ok_or_else(|| decode("`data` is missing".into()))?;
    let value = |s: &str| parse_value(s).ok_or_else(|| decode(format!("`{s}` is not a number")));
    Ok(match data {
        Data::Vector(raw) => {
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let (ts, v) = r.value.ok_or_else(|| {
                    decode("a sample without `value` (native histograms are not supported)".into())
                })?;
                out.push(Sample {
                    labels: clean_labels(r.metric),
                    ts,
                    value: value(&v)?,
                });
            }
            QueryResult::Vector(out)
        }
        Data::Matrix(raw) => {
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let points = r
                    .values
                    .iter()
                    .map(|(ts, v)| value(v).map(|v| (*ts, v)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Series {
                    labels: clean_labels(r.metric),
                    points,
                });
            }
            QueryResult::Matrix(out)
        }
        Data::Scalar((ts, v)) => QueryResult::Scalar(Sample {
            labels: BTreeMap::new(),
            ts,
            value: value(&v)?,
        }),
        Data::String((ts, s)) => QueryResult::String(ts, strip_all(&s)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> QueryResult {
        parse_response("q", 200, body.as_bytes()).unwrap()
    }

    #[test]
    fn parses_a_vector() {
        let r = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"env":"staging","version":"v1"},"value":[1700000000.5,"12.25"]},
            {"metric":{},"value":[1700000000.5,"0"]}]}}"#,
        );
        let QueryResult::Vector(v) = r else {
            panic!("not a vector: {r:?}")
        };
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels.get("env").map(String::as_str), Some("staging"));
        assert_eq!(v[0].labels.get("version").map(String::as_str), Some("v1"));
        assert_eq!(v[0].ts, 1700000000.5);
        assert_eq!(v[0].value, 12.25);
        assert!(v[1].labels.is_empty());
    }

    #[test]
    fn parses_a_matrix() {
        let r = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"router"},"values":[[1,"1"],[2,"0"],[3,"1e3"]]}]}}"#,
        );
        let QueryResult::Matrix(m) = r else {
            panic!("not a matrix: {r:?}")
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].labels.get("job").map(String::as_str), Some("router"));
        assert_eq!(m[0].points, vec![(1.0, 1.0), (2.0, 0.0), (3.0, 1000.0)]);
    }

    #[test]
    fn parses_a_scalar_and_a_string() {
        let r = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[10.25,"42"]}}"#);
        assert_eq!(
            r,
            QueryResult::Scalar(Sample {
                labels: BTreeMap::new(),
                ts: 10.25,
                value: 42.0
            })
        );
        let s = ok(r#"{"status":"success","data":{"result":[1,"hi"],"resultType":"string"}}"#);
        assert_eq!(s, QueryResult::String(1.0, "hi".into()));
    }

    #[test]
    fn parses_special_floats() {
        let r = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1,"NaN"]},
            {"metric":{"a":"2"},"value":[1,"+Inf"]},
            {"metric":{"a":"3"},"value":[1,"-Inf"]}]}}"#,
        );
        let QueryResult::Vector(v) = r else {
            panic!("not a vector: {r:?}")
        };
        assert!(v[0].value.is_nan());
        assert_eq!(v[1].value, f64::INFINITY);
        assert_eq!(v[2].value, f64::NEG_INFINITY);
    }

    #[test]
    fn surfaces_the_api_error_with_the_query() {
        let err = parse_response(
            "sum(",
            400,
            br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            PromError::Api {
                query: "sum(".into(),
                error_type: "bad_data".into(),
                message: "1:5: parse error: unclosed left parenthesis".into(),
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("`sum(`") && text.contains("bad_data"),
            "{text}"
        );
    }

    #[test]
    fn non_json_error_bodies_become_http_errors() {
        let err = parse_response("up", 502, b"<html>Bad Gateway\x1b[31m</html>").unwrap_err();
        match err {
            PromError::Http {
                query,
                status,
                body,
            } => {
                assert_eq!(query, "up");
                assert_eq!(status, 502);
                assert!(body.contains("Bad Gateway"), "{body}");
                assert!(!body.contains('\x1b'), "escape not stripped: {body:?}");
            }
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_success_bodies_are_decode_errors() {
        for body in [
            "not json",
            r#"{"status":"success"}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#,
            r#"{"status":"success","data":{"resultType":"tensor","result":[]}}"#,
        ] {
            let err = parse_response("q", 200, body.as_bytes()).unwrap_err();
            assert!(matches!(err, PromError::Decode { .. }), "{body}: {err:?}");
        }
    }

    #[test]
    fn labels_are_sanitised() {
        let r = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"env":"a\u001b]0;pwned\u0007b"},"value":[1,"1"]}]}}"#,
        );
        let QueryResult::Vector(v) = r else {
            panic!("not a vector: {r:?}")
        };
        let env = &v[0].labels["env"];
        assert!(!env.contains('\x1b') && !env.contains('\x07'), "{env:?}");
    }
}
