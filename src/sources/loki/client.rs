//! The HTTP client for Loki: configuration, bounded reads, `labels` and `ready`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use serde::Deserialize;

use super::error::{status_error, with_query};
use super::LokiError;
use crate::config::LokiConfig;
use crate::domain::sanitize::strip_all;
use crate::sources::error_chain;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct LokiClient {
    /// With the per-request timeout.
    pub(super) http: reqwest::Client,
    /// Without a total timeout (the tail's upgraded connection lives on).
    pub(super) stream_http: reqwest::Client,
    pub(super) base: String,
    pub(super) timeout: Duration,
    /// Lowered when Loki says its `max_entries_limit_per_query` is smaller.
    pub(super) page_limit: Arc<AtomicUsize>,
}

impl LokiClient {
    pub fn new(cfg: &LokiConfig) -> Result<Self, LokiError> {
        let url = &cfg.url;
        let bad = |reason: String| LokiError::Config {
            url: strip_all(url),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("the url must be http:// or https:// with a host".into()));
        }
        let mut headers = HeaderMap::new();
        if !cfg.auth_header.is_empty() {
            let mut v = HeaderValue::from_str(&cfg.auth_header)
                .map_err(|_| bad("auth_header is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        if !cfg.tenant.is_empty() {
            let v = HeaderValue::from_str(&cfg.tenant)
                .map_err(|_| bad("tenant is not a valid header value".into()))?;
            headers.insert(HeaderName::from_static("x-scope-orgid"), v);
        }
        let mut roots = Vec::new();
        if !cfg.tls.ca_file.is_empty() {
            let pem = std::fs::read(&cfg.tls.ca_file).map_err(|e| {
                bad(format!(
                    "cannot read tls.ca_file `{}`: {e}",
                    strip_all(&cfg.tls.ca_file)
                ))
            })?;
            roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                bad(format!(
                    "tls.ca_file `{}` is not PEM certificates: {}",
                    strip_all(&cfg.tls.ca_file),
                    error_chain(&e)
                ))
            })?;
            if roots.is_empty() {
                return Err(bad(format!(
                    "tls.ca_file `{}` holds no certificate",
                    strip_all(&cfg.tls.ca_file)
                )));
            }
        }
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let builder = |total: bool| {
            let mut b = reqwest::Client::builder()
                .default_headers(headers.clone())
                .connect_timeout(timeout)
                .http1_only()
                .danger_accept_invalid_certs(cfg.tls.insecure_skip_verify);
            if total {
                b = b.timeout(timeout);
            }
            for c in &roots {
                b = b.add_root_certificate(c.clone());
            }
            b.build().map_err(|e| bad(error_chain(&e)))
        };
        Ok(LokiClient {
            http: builder(true)?,
            stream_http: builder(false)?,
            base: url.trim_end_matches('/').to_string(),
            timeout,
            page_limit: Arc::new(AtomicUsize::new(cfg.page_limit.max(1))),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Entries asked for per request.
    pub fn page_limit(&self) -> usize {
        self.page_limit.load(Ordering::Relaxed)
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn transport_error(&self, e: &reqwest::Error) -> LokiError {
        if e.is_timeout() {
            LokiError::Timeout {
                url: strip_all(&self.base),
                timeout_ms: self.timeout_ms(),
            }
        } else {
            LokiError::Unreachable {
                url: strip_all(&self.base),
                reason: error_chain(e),
            }
        }
    }

    /// GET `path` and read the body (bounded).
    pub(super) async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>), LokiError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .http
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let body = read_body(&mut resp).await.map_err(|e| match e {
            BodyError::Transport(e) => self.transport_error(&e),
            BodyError::TooLarge => LokiError::Decode {
                query: String::new(),
                reason: format!("answer larger than {MAX_BODY_BYTES} bytes"),
            },
        })?;
        Ok((status, body))
    }

    /// Label names Loki knows in `[start_ns, end_ns)` (`/loki/api/v1/labels`).
    pub async fn labels(&self, start_ns: i64, end_ns: i64) -> Result<Vec<String>, LokiError> {
        const WHAT: &str = "labels";
        let params = [("start", start_ns.to_string()), ("end", end_ns.to_string())];
        let (status, body) = self
            .get("/loki/api/v1/labels", &params)
            .await
            .map_err(|e| with_query(e, WHAT))?;
        if !(200..300).contains(&status) {
            return Err(status_error(WHAT, status, &body));
        }
        #[derive(Deserialize)]
        struct Labels {
            status: String,
            #[serde(default)]
            data: Vec<String>,
        }
        let l: Labels = serde_json::from_slice(&body).map_err(|e| LokiError::Decode {
            query: WHAT.into(),
            reason: strip_all(&e.to_string()),
        })?;
        if l.status != "success" {
            return Err(status_error(WHAT, status, &body));
        }
        Ok(l.data.iter().map(|s| strip_all(s)).collect())
    }

    /// `/ready`: Ok when Loki says it is ready, else its reason.
    pub async fn ready(&self) -> Result<(), LokiError> {
        let (status, body) = self
            .get("/ready", &[])
            .await
            .map_err(|e| with_query(e, "ready"))?;
        if status == 200 {
            Ok(())
        } else {
            Err(status_error("ready", status, &body))
        }
    }
}

pub(crate) enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

pub(crate) async fn read_body(resp: &mut reqwest::Response) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_refuses_bad_config() {
        let cfg = |url: &str| LokiConfig {
            url: url.into(),
            ..Default::default()
        };
        assert!(matches!(
            LokiClient::new(&cfg("localhost:3100")),
            Err(LokiError::Config { .. })
        ));
        assert!(matches!(
            LokiClient::new(&cfg("")),
            Err(LokiError::Config { .. })
        ));
        let mut c = cfg("http://127.0.0.1:3100/");
        assert_eq!(LokiClient::new(&c).unwrap().url(), "http://127.0.0.1:3100");
        c.tenant = "a\nb".into();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
        c.tenant = "team-a".into();
        c.auth_header = "Bearer \r".into();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
        c.auth_header = "Bearer x".into();
        c.tls.ca_file = "/nonexistent/ca.pem".into();
        let e = LokiClient::new(&c).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        c.tls.ca_file = junk.display().to_string();
        assert!(matches!(LokiClient::new(&c), Err(LokiError::Config { .. })));
    }
}
