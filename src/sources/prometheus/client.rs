//! The HTTP client for `/api/v1/query` and `/api/v1/query_range`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderValue, AUTHORIZATION};

use super::{parse_response, PromError, QueryResult, Sample, Series};
use crate::config::PrometheusConfig;
use crate::domain::sanitize::strip_all;
use crate::sources::error_chain;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

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
                    // The URL holds the whole query; the base URL is named above.
                    reason: error_chain(&e.without_url()),
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
