//! FAKE Jenkins for tests only (never part of the product): Jenkins cannot
//! run on the test machines. On 127.0.0.1 it serves the recorded response
//! shapes in `fake_jenkins/` (see its README for the API and plugin each
//! follows) for the job `shop`:
//!
//! - `GET /job/shop/wfapi/runs`, `/job/shop/<n>/wfapi/describe` (Pipeline
//!   Stage View plugin), `/job/shop/<n>/api/json`, `/job/shop/api/json`
//!   (core remote API), each with an `ETag`; a matching `If-None-Match`
//!   gets `304 Not Modified` with no body;
//! - `GET /job/shop/<n>/logText/progressiveText?start=N`: the console from
//!   byte N, `X-Text-Size` and `X-More-Data: true` while more may come;
//! - `GET /crumbIssuer/api/json` (404 when crumbs are off) and
//!   `POST /job/shop/build`, `/job/shop/buildWithParameters`, which need the
//!   `Jenkins-Crumb` header while crumbs are on (else 403 `No valid crumb
//!   was included in the request`) and answer `201 Created` with the queue
//!   item's `Location`;
//! - basic auth: wrong credentials (or the 401 switch) give Jenkins' 401;
//!   an unknown path Jenkins' 404 page.
//!
//! A test changes answers between polls (`set_json`, `append_console`),
//! switches 401s on, stops the fake and starts it again on the same port,
//! and reads what was received.
#![allow(dead_code)] // each test binary uses part of it

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::serving::{bind_free, Restartable};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub const RUNS: &str = include_str!("fake_jenkins/runs.json");
pub const DESCRIBE_12_RUNNING: &str = include_str!("fake_jenkins/describe_12_running.json");
pub const DESCRIBE_12_DONE: &str = include_str!("fake_jenkins/describe_12_done.json");
pub const DESCRIBE_11: &str = include_str!("fake_jenkins/describe_11.json");
pub const BUILD_12: &str = include_str!("fake_jenkins/build_12.json");
pub const BUILD_11: &str = include_str!("fake_jenkins/build_11.json");
pub const JOB: &str = include_str!("fake_jenkins/job.json");
pub const CRUMB: &str = include_str!("fake_jenkins/crumb.json");
/// The crumb in `crumb.json`.
pub const CRUMB_VALUE: &str = "5d1b3c2a9f0e4b7c8d6a1e2f3b4c5d6e";

pub const USER: &str = "ci";
pub const TOKEN: &str = "11aa22bb33cc44dd55ee66ff77889900";

/// A build the fake received a POST for.
#[derive(Clone, Debug)]
pub struct Triggered {
    /// `build` or `buildWithParameters`.
    pub verb: String,
    pub params: Vec<(String, String)>,
    pub crumb: Option<String>,
}

#[derive(Default)]
struct Console {
    text: Vec<u8>,
    more: bool,
}

#[derive(Default)]
struct Inner {
    json: HashMap<String, String>,
    consoles: BTreeMap<u64, Console>,
    crumbs: bool,
    issuer_hidden: bool,
    force_401: bool,
    forbid: bool,
    triggered: Vec<Triggered>,
    not_modified: u64,
    requests: Vec<(Method, String)>,
    next_queue_id: u64,
}

#[derive(Clone)]
pub struct FakeJenkins {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
    serving: Restartable,
}

impl FakeJenkins {
    /// Job `shop` with runs #12 (running) and #11 (failed), crumbs on.
    pub async fn start() -> FakeJenkins {
        let mut inner = Inner {
            crumbs: true,
            next_queue_id: 42,
            ..Inner::default()
        };
        for (path, body) in [
            ("/job/shop/api/json", JOB),
            ("/job/shop/wfapi/runs", RUNS),
            ("/job/shop/12/wfapi/describe", DESCRIBE_12_RUNNING),
            ("/job/shop/11/wfapi/describe", DESCRIBE_11),
            ("/job/shop/12/api/json", BUILD_12),
            ("/job/shop/11/api/json", BUILD_11),
        ] {
            inner.json.insert(path.into(), body.into());
        }
        inner.consoles.insert(
            11,
            Console {
                text: b"Started by user ci\n[Pipeline] stage\n+ make test\nFAIL: test_checkout\nFinished: FAILURE\n".to_vec(),
                more: false,
            },
        );
        inner.consoles.insert(
            12,
            Console {
                text: b"Started by user ci\n[Pipeline] stage\n".to_vec(),
                more: true,
            },
        );
        let listener = bind_free("fake jenkins").await;
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(Mutex::new(inner));
        let app = Router::new()
            .fallback(handle)
            .with_state((inner.clone(), format!("http://{addr}")));
        FakeJenkins {
            inner,
            addr,
            serving: Restartable::serve("fake jenkins", listener, app),
        }
    }

    /// Go away: the port refuses connections.
    pub async fn stop(&self) {
        self.serving.stop().await;
    }

    /// Come back on the same port with the same state.
    pub async fn restart(&self) {
        self.serving.restart().await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer `path` (e.g. `/job/shop/12/wfapi/describe`) with `body`.
    pub fn set_json(&self, path: &str, body: &str) {
        self.inner
            .lock()
            .unwrap()
            .json
            .insert(path.into(), body.into());
    }

    pub fn set_console(&self, number: u64, text: &[u8], more: bool) {
        self.inner.lock().unwrap().consoles.insert(
            number,
            Console {
                text: text.to_vec(),
                more,
            },
        );
    }

    /// The build writes more; `more: false` ends its console.
    pub fn append_console(&self, number: u64, text: &[u8], more: bool) {
        let mut inner = self.inner.lock().unwrap();
        let c = inner.consoles.entry(number).or_default();
        c.text.extend_from_slice(text);
        c.more = more;
    }

    pub fn set_crumbs(&self, on: bool) {
        self.inner.lock().unwrap().crumbs = on;
    }

    /// The crumb issuer answers 404 while POSTs still need a crumb.
    pub fn set_issuer_hidden(&self, on: bool) {
        self.inner.lock().unwrap().issuer_hidden = on;
    }

    /// Every request (of a valid user) gets 403 while on.
    pub fn set_forbidden(&self, on: bool) {
        self.inner.lock().unwrap().forbid = on;
    }

    /// `path` answers 404 (e.g. the Stage View plugin is not installed).
    pub fn remove_json(&self, path: &str) {
        self.inner.lock().unwrap().json.remove(path);
    }

    /// Every request gets 401 while on.
    pub fn set_401(&self, on: bool) {
        self.inner.lock().unwrap().force_401 = on;
    }

    pub fn triggered(&self) -> Vec<Triggered> {
        self.inner.lock().unwrap().triggered.clone()
    }

    /// How many 304s were served.
    pub fn not_modified(&self) -> u64 {
        self.inner.lock().unwrap().not_modified
    }

    pub fn requests(&self) -> Vec<(Method, String)> {
        self.inner.lock().unwrap().requests.clone()
    }
}

fn basic(user: &str, token: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{token}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn page(status: StatusCode, title: &str) -> Response {
    let body = format!(
        "<html><head><title>Error {code} {title}</title></head><body><h2>HTTP ERROR {code} {title}</h2></body></html>",
        code = status.as_u16()
    );
    (status, [("content-type", "text/html;charset=utf-8")], body).into_response()
}

fn etag_of(body: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State((inner, base)): State<(Arc<Mutex<Inner>>, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut inner = inner.lock().unwrap();
    inner.requests.push((method.clone(), uri.to_string()));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if inner.force_401 || auth != basic(USER, TOKEN) {
        let mut r = page(StatusCode::UNAUTHORIZED, "Unauthorized");
        r.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"Jenkins\"".parse().unwrap(),
        );
        return r;
    }
    if inner.forbid {
        return page(
            StatusCode::FORBIDDEN,
            "Access Denied: ci is missing the Overall/Read permission",
        );
    }
    if path == "/crumbIssuer/api/json" {
        return if inner.crumbs && !inner.issuer_hidden {
            ([("content-type", "application/json")], CRUMB).into_response()
        } else {
            page(StatusCode::NOT_FOUND, "Not Found")
        };
    }
    if method == Method::POST {
        let verb = path.trim_start_matches("/job/shop/");
        if verb != "build" && verb != "buildWithParameters" {
            return page(StatusCode::NOT_FOUND, "Not Found");
        }
        let crumb = headers
            .get("jenkins-crumb")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if inner.crumbs && crumb.as_deref() != Some(CRUMB_VALUE) {
            return page(
                StatusCode::FORBIDDEN,
                "No valid crumb was included in the request",
            );
        }
        let id = inner.next_queue_id;
        inner.next_queue_id += 1;
        inner.triggered.push(Triggered {
            verb: verb.into(),
            params: form(&body),
            crumb,
        });
        return (
            StatusCode::CREATED,
            [("location", format!("{base}/queue/item/{id}/"))],
        )
            .into_response();
    }
    if let Some(n) = path
        .strip_prefix("/job/shop/")
        .and_then(|p| p.strip_suffix("/logText/progressiveText"))
        .and_then(|n| n.parse::<u64>().ok())
    {
        let Some(c) = inner.consoles.get(&n) else {
            return page(StatusCode::NOT_FOUND, "Not Found");
        };
        let start: usize = uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("start="))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let from = start.min(c.text.len());
        let text = c.text[from..].to_vec();
        let mut r = (
            [
                ("content-type", "text/plain;charset=utf-8".to_string()),
                ("x-text-size", c.text.len().to_string()),
            ],
            text,
        )
            .into_response();
        if c.more {
            r.headers_mut()
                .insert("x-more-data", "true".parse().unwrap());
        }
        return r;
    }
    let Some(body) = inner.json.get(&path).cloned() else {
        return page(StatusCode::NOT_FOUND, "Not Found");
    };
    let etag = etag_of(&body);
    let asked = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    if asked == Some(etag.as_str()) {
        inner.not_modified += 1;
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    (
        [
            ("content-type", "application/json;charset=utf-8".to_string()),
            ("etag", etag),
        ],
        body,
    )
        .into_response()
}
