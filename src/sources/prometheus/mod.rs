//! A Prometheus HTTP API client (`/api/v1/query`, `/api/v1/query_range`),
//! the live metrics source built on it, and canary analysis from its data.
//!
//! Everything read from Prometheus (labels, error texts) is treated as
//! hostile and sanitised before it can reach the screen.

mod analysis;
mod source;

pub use analysis::{
    analyze_versions, version_sample, version_sample_with_queries, PromVerdict, VersionQueries,
};
pub use source::{spawn_metrics_source, spawn_metrics_source_with_history, SOURCE_NAME};

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;

use crate::config::PrometheusConfig;
use crate::domain::sanitize::strip_all;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How much of a non-JSON error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 300;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    #[error("prometheus url `{url}` is invalid: {reason}")]
    Config { url: String, reason: String },
    #[error("query `{query}`: cannot reach Prometheus at {url}: {reason}")]
    Unreachable {
        query: String,
        url: String,
        reason: String,
    },
    #[error("query `{query}`: no answer from Prometheus at {url} within {timeout_ms} ms")]
    Timeout {
        query: String,
        url: String,
        timeout_ms: u64,
    },
    #[error("query `{query}`: Prometheus answered HTTP {status}: {body}")]
    Http {
        query: String,
        status: u16,
        body: String,
    },
    /// The API's own error (`{"status":"error","errorType":…,"error":…}`).
    #[error("query `{query}`: {error_type}: {message}")]
    Api {
        query: String,
        error_type: String,
        message: String,
    },
    #[error("query `{query}`: unreadable answer: {reason}")]
    Decode { query: String, reason: String },
    #[error("query `{query}`: expected a {expected} result, got a {got}")]
    UnexpectedResult {
        query: String,
        expected: &'static str,
        got: &'static str,
    },
}

/// One value of an instant query (a scalar has no labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub ts: f64,
    pub value: f64,
}

/// One series of a range query.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(f64, f64)>,
}

/// What `/api/v1/query*` returned, by `resultType`.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    Scalar(Sample),
    /// (unix seconds, text)
    String(f64, String),
}

impl QueryResult {
    fn kind(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String(..) => "string",
        }
    }
}

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

/// The error and its causes on one line (reqwest's top-level message alone
/// rarely says what went wrong).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    strip_all(&out)
}

fn unix_secs(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

#[derive(Clone, Debug)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: String,
    auth: Option<HeaderValue>,
    timeout: Duration,
}

impl PrometheusClient {
    pub fn new(cfg: &PrometheusConfig) -> Result<Self, PromError> {
        Self::with(
            &cfg.url,
            &cfg.auth_header,
            Duration::from_millis(cfg.timeout_ms.max(1)),
        )
    }

    /// `auth_header` is sent as `Authorization` unless empty.
    pub fn with(url: &str, auth_header: &str, timeout: Duration) -> Result<Self, PromError> {
        let bad = |reason: String| PromError::Config {
            url: strip_all(url),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("must be http:// or https:// with a host".into()));
        }
        let auth = if auth_header.is_empty() {
            None
        } else {
            let mut v = HeaderValue::from_str(auth_header)
                .map_err(|_| bad("auth_header is not a valid header value".into()))?;
            v.set_sensitive(true);
            Some(v)
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| bad(error_chain(&e)))?;
        Ok(PrometheusClient {
            http,
            base: url.trim_end_matches('/').to_string(),
            auth,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Evaluate `query` now.
    pub async fn instant(&self, query: &str) -> Result<Vec<Sample>, PromError> {
        self.instant_at(query, None).await
    }

    /// Evaluate `query` at `time` (now when `None`). A scalar result comes
    /// back as one sample without labels.
    pub async fn instant_at(
        &self,
        query: &str,
        time: Option<DateTime<Utc>>,
    ) -> Result<Vec<Sample>, PromError> {
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = time {
            params.push(("time", unix_secs(t)));
        }
        match self.call("query", query, &params).await? {
            QueryResult::Vector(v) => Ok(v),
            QueryResult::Scalar(s) => Ok(vec![s]),
            other => Err(PromError::UnexpectedResult {
                query: strip_all(query),
                expected: "vector or scalar",
                got: other.kind(),
            }),
        }
    }

    /// Evaluate `query` from `start` to `end` every `step`.
    pub async fn range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, PromError> {
        let params = [
            ("query", query.to_string()),
            ("start", unix_secs(start)),
            ("end", unix_secs(end)),
            ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
        ];
        match self.call("query_range", query, &params).await? {
            QueryResult::Matrix(m) => Ok(m),
            other => Err(PromError::UnexpectedResult {
                query: strip_all(query),
                expected: "matrix",
                got: other.kind(),
            }),
        }
    }

    async fn call(
        &self,
        endpoint: &str,
        query: &str,
        params: &[(&str, String)],
    ) -> Result<QueryResult, PromError> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                PromError::Timeout {
                    query: strip_all(query),
                    url: strip_all(&self.base),
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                }
            } else {
                PromError::Unreachable {
                    query: strip_all(query),
                    url: strip_all(&self.base),
                    reason: error_chain(&e),
                }
            }
        };
        let mut req = self.http.get(&url).query(params);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(PromError::Decode {
                    query: strip_all(query),
                    reason: format!("answer larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        parse_response(query, status, &body)
    }
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

    #[test]
    fn client_refuses_bad_urls_and_headers() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            PrometheusClient::with("localhost:9090", "", t),
            Err(PromError::Config { .. })
        ));
        assert!(matches!(
            PrometheusClient::with("ftp://h", "", t),
            Err(PromError::Config { .. })
        ));
        assert!(matches!(
            PrometheusClient::with("http://h:9090", "Bearer a\nb", t),
            Err(PromError::Config { .. })
        ));
        let c = PrometheusClient::with("http://127.0.0.1:9090/", "Bearer x", t).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:9090");
    }
}
