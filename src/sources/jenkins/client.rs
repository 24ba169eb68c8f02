//! The HTTP client: basic auth with the user's API token, bounded reads,
//! conditional GETs (`If-None-Match` with the ETag Jenkins last sent for
//! that URL, the cached body reused on 304), and each failure named.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ETAG, IF_NONE_MATCH, LOCATION};
use reqwest::{StatusCode, Url};

use super::console::Chunk;
use super::error::{quote, root_cause, JenkinsError};
use super::model::{self, Build, Queued, Run};
use crate::config::JenkinsConfig;
use crate::domain::sanitize::strip_all;
use crate::sources::error_chain;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// One console read asks for at most this much (Jenkins sends what it has).
pub const MAX_CONSOLE_CHUNK: usize = 4 * 1024 * 1024;
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// URLs whose ETag and body are remembered.
const MAX_CACHED: usize = 64;
/// Larger bodies are not remembered (so the cache stays under 32 MiB).
const MAX_CACHED_BODY: usize = 512 * 1024;

/// URL -> (ETag, body) of the last 200 answer that had an ETag.
type EtagCache = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// The API token, never printed.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub struct JenkinsClient {
    http: reqwest::Client,
    base: Url,
    job: String,
    user: String,
    token: Option<Token>,
    token_env: String,
    cache: EtagCache,
    not_modified: Arc<AtomicU64>,
}

/// What a GET brought back.
enum Got {
    Body(Vec<u8>, reqwest::header::HeaderMap),
    Status(StatusCode, Vec<u8>),
}

/// Which request a 404 is about.
#[derive(Clone, Copy)]
enum Target {
    Job,
    StageView,
    Build(u64),
}

impl JenkinsClient {
    /// A client for `cfg`; the token is read from the variable `token_env` names.
    pub fn new(cfg: &JenkinsConfig) -> Result<Self, JenkinsError> {
        let token = if cfg.token_env.is_empty() {
            None
        } else {
            match std::env::var(&cfg.token_env) {
                Ok(t) if !t.is_empty() => Some(Token(t)),
                _ => {
                    return Err(JenkinsError::Config(format!(
                    "jenkins.token_env names {}, which is not set; export {}=<the API token of {}>",
                    strip_all(&cfg.token_env),
                    strip_all(&cfg.token_env),
                    user_label(&cfg.user)
                )))
                }
            }
        };
        JenkinsClient::with_token(cfg, token.map(|t| t.0))
    }

    /// A client with the token given (tests, or a caller that has it).
    pub fn with_token(cfg: &JenkinsConfig, token: Option<String>) -> Result<Self, JenkinsError> {
        if !cfg.enabled() {
            return Err(JenkinsError::Config(
                "jenkins.url is not set in blissful-infra.yaml".into(),
            ));
        }
        if cfg.job.trim().is_empty() {
            return Err(JenkinsError::Config(
                "jenkins.job is not set in blissful-infra.yaml".into(),
            ));
        }
        let bad =
            |why: String| JenkinsError::Config(format!("url `{}`: {why}", strip_all(&cfg.url)));
        let mut base = Url::parse(cfg.url.trim()).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad("must be http:// or https:// with a host".into()));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(error_chain(&e)))?;
        Ok(JenkinsClient {
            http,
            base,
            job: cfg.job.trim().to_string(),
            user: cfg.user.clone(),
            token: token.map(Token),
            token_env: cfg.token_env.clone(),
            cache: Arc::new(Mutex::new(HashMap::new())),
            not_modified: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn job(&self) -> &str {
        &self.job
    }

    /// The job's URL, e.g. `http://127.0.0.1:8080/job/team/job/shop/`.
    pub fn job_url(&self) -> String {
        strip_all(self.url(&[], false).as_str())
    }

    /// How many GETs Jenkins answered with 304 Not Modified.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// `base` + `job/<a>/job/<b>` (when `in_job`) + `tail`, each segment encoded.
    fn url(&self, tail: &[&str], root: bool) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            if !root {
                for part in self.job.split('/') {
                    segs.push("job");
                    segs.push(part);
                }
            }
            segs.extend(tail);
            if tail.is_empty() {
                segs.push("");
            }
        }
        url
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.basic_auth(&self.user, Some(&t.0)),
            None => req,
        }
    }

    fn transport(&self, e: &reqwest::Error) -> JenkinsError {
        let url = strip_all(self.base.as_str());
        if e.is_timeout() {
            JenkinsError::Timeout {
                url,
                timeout_ms: u64::try_from(TIMEOUT.as_millis()).unwrap_or(u64::MAX),
            }
        } else {
            JenkinsError::Unreachable {
                url,
                reason: root_cause(e),
            }
        }
    }

    async fn read(
        &self,
        resp: &mut reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, JenkinsError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(JenkinsError::Decode {
                    what: strip_all(resp.url().path()),
                    reason: format!("answer larger than {limit} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// GET `url`, conditionally when an ETag is known for it.
    async fn get(&self, url: Url, cached: bool) -> Result<Got, JenkinsError> {
        let key = url.to_string();
        let known = if cached {
            self.cache.lock().ok().and_then(|c| c.get(&key).cloned())
        } else {
            None
        };
        let mut req = self.auth(self.http.get(url));
        if let Some((etag, _)) = &known {
            req = req.header(IF_NONE_MATCH, etag.as_str());
        }
        let mut resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            if let Some((_, body)) = known {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok(Got::Body(body, resp.headers().clone()));
            }
        }
        let headers = resp.headers().clone();
        let body = self.read(&mut resp, MAX_BODY_BYTES).await?;
        if !status.is_success() {
            return Ok(Got::Status(status, body));
        }
        if cached && body.len() <= MAX_CACHED_BODY {
            if let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()) {
                if let Ok(mut c) = self.cache.lock() {
                    if c.len() >= MAX_CACHED && !c.contains_key(&key) {
                        c.clear();
                    }
                    c.insert(key, (etag.to_string(), body.clone()));
                }
            }
        }
        Ok(Got::Body(body, headers))
    }

    /// A failed answer, named.
    async fn failure(
        &self,
        target: Target,
        what: &str,
        status: StatusCode,
        body: &[u8],
    ) -> JenkinsError {
        match status.as_u16() {
            401 => JenkinsError::Unauthorized {
                user: user_label(&self.user),
                token_env: if self.token_env.is_empty() {
                    "(no jenkins.token_env set)".into()
                } else {
                    strip_all(&self.token_env)
                },
            },
            403 if String::from_utf8_lossy(body)
                .to_ascii_lowercase()
                .contains("crumb") =>
            {
                JenkinsError::Crumb {
                    what: what.into(),
                    detail: quote(body),
                }
            }
            403 => JenkinsError::Forbidden {
                what: what.into(),
                user: user_label(&self.user),
            },
            404 => self.explain_404(target).await,
            s => JenkinsError::Http {
                what: what.into(),
                status: s,
                body: quote(body),
            },
        }
    }

    /// A 404 below the job: is the job there at all?
    async fn explain_404(&self, target: Target) -> JenkinsError {
        let not_found = JenkinsError::JobNotFound {
            job: strip_all(&self.job),
            url: self.job_url(),
        };
        if let Target::Job = target {
            return not_found;
        }
        let job_there = matches!(
            self.get(self.url(&["api", "json"], false), false).await,
            Ok(Got::Body(..))
        );
        match (job_there, target) {
            (false, _) | (_, Target::Job) => not_found,
            (true, Target::StageView) => JenkinsError::NoStageView {
                job: strip_all(&self.job),
                url: strip_all(self.url(&["wfapi", "runs"], false).as_str()),
            },
            (true, Target::Build(number)) => JenkinsError::BuildNotFound {
                job: strip_all(&self.job),
                number,
            },
        }
    }

    async fn get_ok(
        &self,
        target: Target,
        what: &str,
        url: Url,
        cached: bool,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap), JenkinsError> {
        match self.get(url, cached).await? {
            Got::Body(b, h) => Ok((b, h)),
            Got::Status(s, b) => Err(self.failure(target, what, s, &b).await),
        }
    }

    fn decode(what: &str, e: &serde_json::Error) -> JenkinsError {
        JenkinsError::Decode {
            what: what.into(),
            reason: strip_all(&e.to_string()),
        }
    }

    /// The job's recent runs with their stages, newest first (`wfapi/runs`).
    pub async fn runs(&self) -> Result<Vec<Run>, JenkinsError> {
        let what = "the job's runs (wfapi/runs)";
        let (body, _) = self
            .get_ok(
                Target::StageView,
                what,
                self.url(&["wfapi", "runs"], false),
                true,
            )
            .await?;
        model::parse_runs(&body).map_err(|e| Self::decode(what, &e))
    }

    /// One run and its stages (`<n>/wfapi/describe`).
    pub async fn run(&self, number: u64) -> Result<Run, JenkinsError> {
        let n = number.to_string();
        let what = format!("build #{number} (wfapi/describe)");
        let (body, _) = self
            .get_ok(
                Target::Build(number),
                &what,
                self.url(&[&n, "wfapi", "describe"], false),
                true,
            )
            .await?;
        model::parse_describe(&body)
            .map_err(|e| Self::decode(&what, &e))?
            .ok_or_else(|| JenkinsError::Decode {
                what,
                reason: "the run has no number".into(),
            })
    }

    /// The build's result, times and parameters (`<n>/api/json`).
    pub async fn build(&self, number: u64) -> Result<Build, JenkinsError> {
        let n = number.to_string();
        let what = format!("build #{number} (api/json)");
        let (body, _) = self
            .get_ok(
                Target::Build(number),
                &what,
                self.url(&[&n, "api", "json"], false),
                true,
            )
            .await?;
        model::parse_build(&body).map_err(|e| Self::decode(&what, &e))
    }

    /// Console text from byte `start` (`<n>/logText/progressiveText`).
    pub async fn console(&self, number: u64, start: u64) -> Result<Chunk, JenkinsError> {
        let n = number.to_string();
        let what = format!("the console of build #{number}");
        let mut url = self.url(&[&n, "logText", "progressiveText"], false);
        url.query_pairs_mut()
            .append_pair("start", &start.to_string());
        let req = self.auth(self.http.get(url));
        let mut resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = self.read(&mut resp, MAX_CONSOLE_CHUNK).await?;
        if !status.is_success() {
            return Err(self
                .failure(Target::Build(number), &what, status, &text)
                .await);
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let next_start = header("X-Text-Size")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(start + text.len() as u64);
        let more = header("X-More-Data").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Chunk {
            text,
            next_start,
            more,
        })
    }

    /// The CSRF crumb, when Jenkins issues one (404: crumbs are off).
    async fn crumb(&self) -> Result<Option<model::Crumb>, JenkinsError> {
        let what = "a CSRF crumb (crumbIssuer/api/json)";
        match self
            .get(self.url(&["crumbIssuer", "api", "json"], true), false)
            .await?
        {
            Got::Body(body, _) => model::parse_crumb(&body)
                .map(Some)
                .map_err(|e| Self::decode(what, &e)),
            Got::Status(s, _) if s == StatusCode::NOT_FOUND => Ok(None),
            Got::Status(s, b) => Err(self.failure(Target::Job, what, s, &b).await),
        }
    }

    /// Queue a build: `buildWithParameters` with `params`, `build` without,
    /// sending the crumb when Jenkins has one. Returns the queue item.
    pub async fn trigger(&self, params: &[(String, String)]) -> Result<Queued, JenkinsError> {
        let what = format!("triggering job `{}`", strip_all(&self.job));
        let crumb = self.crumb().await?;
        let verb = if params.is_empty() {
            "build"
        } else {
            "buildWithParameters"
        };
        let mut req = self.auth(self.http.post(self.url(&[verb], false)));
        if let Some(c) = &crumb {
            req = req.header(c.crumb_request_field.as_str(), c.crumb.as_str());
        }
        let req = if params.is_empty() {
            req
        } else {
            req.form(params)
        };
        let mut resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = self.read(&mut resp, MAX_BODY_BYTES).await?;
        if !status.is_success() {
            return Err(self.failure(Target::Job, &what, status, &body).await);
        }
        match location {
            Some(l) => Ok(model::queued(&l)),
            None => Err(JenkinsError::Decode {
                what,
                reason: format!(
                    "HTTP {} without a Location header (no queue item)",
                    status.as_u16()
                ),
            }),
        }
    }
}

fn user_label(user: &str) -> String {
    if user.is_empty() {
        "anonymous".into()
    } else {
        format!("user `{}`", strip_all(user))
    }
}
