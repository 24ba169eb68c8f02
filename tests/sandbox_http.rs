//! HTTP building blocks of the sandbox: the sample service served in-process,
//! the edge router in front of it, the traffic generator and /proc sampling.
//! Everything listens on 127.0.0.1 port 0, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use blissful_infra::sandbox::procstat::ProcSampler;
use blissful_infra::sandbox::router::{RouterConfig, RouterFault, RouterHandle};
use blissful_infra::sandbox::sample_service::{
    sample_service_router, LogReceiver, LogSink, SampleServiceOptions, SampleServiceState,
};
use blissful_infra::sandbox::traffic::TrafficGenerator;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// helpers

struct Service {
    addr: SocketAddr,
    state: Arc<SampleServiceState>,
    logs: LogReceiver,
}

async fn start_service(opts: SampleServiceOptions) -> Service {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sink, logs) = LogSink::new(10_000);
    let state = SampleServiceState::new(opts, sink);
    state.set_ready(true);
    let app = sample_service_router(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Service { addr, state, logs }
}

fn opts(version: &str) -> SampleServiceOptions {
    SampleServiceOptions::new(0, version)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    fn served_by(&self) -> String {
        self.headers
            .get("x-served-by-version")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

async fn send(
    c: &HttpClient,
    method: Method,
    addr: SocketAddr,
    path: &str,
    body: Option<(&str, &str)>,
) -> Result<Reply, hyper_util::client::legacy::Error> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    let payload = match body {
        Some((ct, text)) => {
            b = b.header("content-type", ct);
            Bytes::from(text.to_string())
        }
        None => Bytes::new(),
    };
    let resp = c.request(b.body(Full::new(payload)).unwrap()).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

async fn get(c: &HttpClient, addr: SocketAddr, path: &str) -> Reply {
    send(c, Method::GET, addr, path, None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn start_router(env: &str) -> RouterHandle {
    RouterHandle::start(RouterConfig {
        env: env.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap()
}

/// Send `n` GETs through `addr` with some concurrency; returns the replies.
async fn burst(addr: SocketAddr, path: &str, n: usize) -> Vec<Reply> {
    let c = client();
    let workers = 16;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let c = c.clone();
        let path = path.to_string();
        let count = n / workers + usize::from(w < n % workers);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                out.push(get(&c, addr, &path).await);
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), n);
    all
}

/// One sample of the exposition format.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Strict parser for the text exposition format: every non-comment line must
/// be `name{k="v",...} value` (labels optional), with escaped label values.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "bad comment line: {line}"
            );
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut name = String::new();
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            name.push(chars[i]);
            i += 1;
        }
        assert!(
            !name.is_empty() && !name.chars().next().unwrap().is_ascii_digit(),
            "bad metric name in: {line}"
        );
        let mut labels = BTreeMap::new();
        if i < chars.len() && chars[i] == '{' {
            i += 1;
            loop {
                if chars[i] == '}' {
                    i += 1;
                    break;
                }
                let mut key = String::new();
                while chars[i] != '=' {
                    assert!(
                        chars[i].is_ascii_alphanumeric() || chars[i] == '_',
                        "bad label name in: {line}"
                    );
                    key.push(chars[i]);
                    i += 1;
                }
                i += 1;
                assert_eq!(chars[i], '"', "label value must be quoted: {line}");
                i += 1;
                let mut value = String::new();
                loop {
                    match chars[i] {
                        '\\' => {
                            i += 1;
                            value.push(match chars[i] {
                                'n' => '\n',
                                '\\' => '\\',
                                '"' => '"',
                                c => panic!("bad escape \\{c} in: {line}"),
                            });
                        }
                        '"' => break,
                        '\n' => panic!("raw newline in label: {line}"),
                        c => value.push(c),
                    }
                    i += 1;
                }
                i += 1;
                labels.insert(key, value);
                if chars[i] == ',' {
                    i += 1;
                }
            }
        }
        assert_eq!(
            chars.get(i),
            Some(&' '),
            "expected a space before the value: {line}"
        );
        let v: String = chars[i + 1..].iter().collect();
        let value = match v.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            s => s
                .parse()
                .unwrap_or_else(|_| panic!("bad value {s:?} in: {line}")),
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

async fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let r = get(&client(), addr, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let ct = r.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("text/plain"), "{ct}");
    parse_exposition(std::str::from_utf8(&r.body).unwrap())
}

/// Read log lines until one matches `pred` (or fail after a deadline).
async fn wait_log(
    logs: &mut LogReceiver,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, logs.recv())
            .await
            .expect("no matching log line in time")
            .expect("log channel closed");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if pred(&v) {
            return v;
        }
    }
}

// ---------------------------------------------------------------------------
// sample service

#[tokio::test]
async fn sample_service_endpoints() {
    let mut svc = start_service(opts("v1")).await;
    let c = client();

    let r = get(&c, svc.addr, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["status"], "healthy");
    chrono::DateTime::parse_from_rfc3339(j["timestamp"].as_str().unwrap()).unwrap();

    let r = get(&c, svc.addr, "/hello").await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::OK,
            serde_json::json!({"message": "Hello, World!"})
        )
    );

    let r = get(&c, svc.addr, "/hello/alice").await;
    assert_eq!(r.json(), serde_json::json!({"message": "Hello, alice!"}));
    // Percent-encoded names are decoded.
    let r = get(&c, svc.addr, "/hello/J%C3%BCrgen").await;
    assert_eq!(r.json()["message"], "Hello, Jürgen!");

    let r = send(
        &c,
        Method::POST,
        svc.addr,
        "/echo",
        Some(("text/x-custom", "ping \"pong\"")),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get("content-type").unwrap(), "text/x-custom");
    assert_eq!(&r.body[..], b"ping \"pong\"");

    let r = get(&c, svc.addr, "/ready").await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    );
    assert_eq!(get(&c, svc.addr, "/live").await.status, StatusCode::OK);
    assert_eq!(
        get(&c, svc.addr, "/nope").await.status,
        StatusCode::NOT_FOUND
    );
    // Every response carries a request id.
    assert!(r.headers.get("x-request-id").is_some());

    svc.state.set_ready(false);
    assert_eq!(
        get(&c, svc.addr, "/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    svc.state.set_ready(true);

    let m = scrape(svc.addr).await;
    let hello = [("method", "GET"), ("path", "/hello"), ("status", "200")];
    assert_eq!(find(&m, "http_requests_total", &hello), Some(1.0));
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "/hello/{name}"), ("status", "200")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_count",
            &[("path", "/hello/{name}")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find(&m, "app_version_info", &[("version", "v1")]),
        Some(1.0)
    );
    assert!(find(&m, "process_resident_memory_bytes", &[]).unwrap() > 0.0);

    // One structured line per request.
    let line = wait_log(&mut svc.logs, |v| v["path"] == "/hello/alice").await;
    assert_eq!(line["msg"], "request");
    assert_eq!(line["level"], "info");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert_eq!(line["version"], "v1");
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["request_id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_hexdigit()));
    chrono::DateTime::parse_from_rfc3339(line["ts"].as_str().unwrap()).unwrap();
    let nf = wait_log(&mut svc.logs, |v| v["status"] == 404).await;
    assert_eq!(nf["level"], "warn");
}

/// Raw WebSocket client: handshake, then read server frames (unmasked).
async fn ws_connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "EOF during handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455 example key -> accept value.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    s
}

/// Next frame: (opcode, payload).
async fn ws_read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    assert_eq!(h[0] & 0x80, 0x80, "expected a final frame");
    assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    (h[0] & 0x0f, payload)
}

#[tokio::test]
async fn websocket_streams_greeting_events() {
    let svc = start_service(opts("v1")).await;
    let mut ws = ws_connect(svc.addr, "/ws/events").await;
    let c = client();
    for name in ["bob", "carol"] {
        assert_eq!(
            get(&c, svc.addr, &format!("/hello/{name}")).await.status,
            StatusCode::OK
        );
    }
    let mut ids = Vec::new();
    for name in ["bob", "carol"] {
        let (op, payload) = tokio::time::timeout(Duration::from_secs(10), ws_read_frame(&mut ws))
            .await
            .expect("no event frame");
        assert_eq!(op, 1, "text frame");
        let ev: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(ev["eventType"], "greeting.created");
        assert_eq!(ev["aggregateId"], name);
        assert_eq!(ev["payload"]["name"], name);
        assert_eq!(ev["payload"]["message"], format!("Hello, {name}!"));
        chrono::DateTime::parse_from_rfc3339(ev["occurredAt"].as_str().unwrap()).unwrap();
        let id = ev["eventId"].as_str().unwrap().to_string();
        assert!(
            id.len() >= 32 && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);

    // Shutdown closes the stream with a Close frame.
    svc.state.begin_shutdown();
    let (op, _) = tokio::time::timeout(Duration::from_secs(10), ws_read_frame(&mut ws))
        .await
        .expect("no close frame");
    assert_eq!(op, 8);
    assert_eq!(svc.state.events_skipped(), 0);
}

#[tokio::test]
async fn error_rate_one_answers_500_except_probes() {
    let mut o = opts("v4-buggy");
    o.error_rate = 1.0;
    let mut svc = start_service(o).await;
    let c = client();
    for _ in 0..5 {
        let r = get(&c, svc.addr, "/hello").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.json(), serde_json::json!({"error": "injected failure"}));
    }
    assert_eq!(get(&c, svc.addr, "/health").await.status, StatusCode::OK);
    assert_eq!(get(&c, svc.addr, "/ready").await.status, StatusCode::OK);
    let line = wait_log(&mut svc.logs, |v| v["status"] == 500).await;
    assert_eq!(line["level"], "error");
    let m = scrape(svc.addr).await;
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "/hello"), ("status", "500")]
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn latency_is_added_to_non_probe_requests() {
    let mut o = opts("v3-slow");
    o.latency_ms = 150;
    let svc = start_service(o).await;
    let c = client();
    let t = Instant::now();
    assert_eq!(get(&c, svc.addr, "/hello").await.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    let m = scrape(svc.addr).await;
    // The 150 ms request lands above the 0.1 s bucket.
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "0.1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "0.25")]
        ),
        Some(1.0)
    );
}

// ---------------------------------------------------------------------------
// router

#[tokio::test]
async fn router_splits_traffic_by_weight_and_counts_it() {
    let a = start_service(opts("v1")).await;
    let b1 = start_service(opts("v2")).await;
    let b2 = start_service(opts("v2")).await;
    let router = start_router("staging").await;
    router.set_backends("v1", vec![a.addr]);
    router.set_backends("v2", vec![b1.addr, b2.addr]);
    router.set_split(Some("v1"), Some("v2"), 20);

    let n = 2000;
    let replies = burst(router.addr(), "/hello", n).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let canary = replies.iter().filter(|r| r.served_by() == "v2").count();
    let stable = replies.iter().filter(|r| r.served_by() == "v1").count();
    assert_eq!(canary + stable, n);
    // Binomial(2000, 0.2): mean 400, sd ~17.9; allow ~6 sd.
    assert!((290..=510).contains(&canary), "canary got {canary} of {n}");

    let w = router.take_window();
    assert_eq!(w["v1"].requests, stable as u64);
    assert_eq!(w["v2"].requests, canary as u64);
    assert_eq!(w["v1"].errors + w["v2"].errors, 0);
    assert!(
        w["v1"].p50_ms > 0.0
            && w["v1"].p50_ms <= w["v1"].p95_ms
            && w["v1"].p95_ms <= w["v1"].p99_ms
    );
    assert!(router.take_window().is_empty(), "window resets");

    // Round-robin spreads the canary over both of its instances.
    let m1 = scrape(b1.addr).await;
    let m2 = scrape(b2.addr).await;
    let hits = |m: &[Sample]| {
        find(
            m,
            "http_requests_total",
            &[("path", "/hello"), ("status", "200")],
        )
        .unwrap_or(0.0)
    };
    assert_eq!((hits(&m1) + hits(&m2)) as usize, canary);
    assert!(
        (hits(&m1) - hits(&m2)).abs() <= 1.0,
        "{} vs {}",
        hits(&m1),
        hits(&m2)
    );

    let m = scrape(router.metrics_addr()).await;
    let req = |v: &str| {
        find(
            &m,
            "blissful_router_requests_total",
            &[("env", "staging"), ("version", v), ("code", "200")],
        )
    };
    assert_eq!(req("v1"), Some(stable as f64));
    assert_eq!(req("v2"), Some(canary as f64));
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "v2")]),
        Some(0.0)
    );
    assert_eq!(
        find(
            &m,
            "blissful_router_request_duration_seconds_count",
            &[("version", "v2")]
        ),
        Some(canary as f64)
    );
    assert_eq!(
        find(
            &m,
            "blissful_router_request_duration_seconds_bucket",
            &[("version", "v1"), ("le", "+Inf")]
        ),
        Some(stable as f64)
    );
    assert!(
        find(
            &m,
            "blissful_router_request_duration_seconds_sum",
            &[("version", "v1")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        find(&m, "blissful_router_canary_weight", &[("env", "staging")]),
        Some(20.0)
    );
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "error")]),
        Some(0.0)
    );
    // Every bucket series is cumulative (non-decreasing in le order as rendered).
    let buckets: Vec<f64> = m
        .iter()
        .filter(|s| {
            s.name == "blissful_router_request_duration_seconds_bucket"
                && s.labels["version"] == "v1"
        })
        .map(|s| s.value)
        .collect();
    // Every configured bound plus +Inf.
    let bounds = blissful_infra::router::histogram::DEFAULT_BUCKETS.len();
    assert_eq!(buckets.len(), bounds + 1);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    router.shutdown().await;
}

#[tokio::test]
async fn blue_green_switch_and_fallback() {
    let blue = start_service(opts("blue")).await;
    let green = start_service(opts("green")).await;
    let router = start_router("prod").await;
    router.set_backends("blue", vec![blue.addr]);
    router.set_backends("green", vec![green.addr]);
    let c = client();

    router.set_split(Some("blue"), Some("green"), 0);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "blue");
    }
    router.set_split(Some("blue"), Some("green"), 100);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "green");
    }
    assert_eq!(
        router.split(),
        (Some("blue".into()), Some("green".into()), 100)
    );

    // Green loses its ready instances: traffic falls back to blue.
    router.set_backends("green", vec![]);
    for _ in 0..20 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!((r.status, r.served_by().as_str()), (StatusCode::OK, "blue"));
    }
    // And the other way round.
    router.set_backends("green", vec![green.addr]);
    router.remove_version("blue");
    router.set_split(Some("blue"), Some("green"), 0);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "green");
    }
    assert!(!router.backends().contains_key("blue"));
    router.shutdown().await;
}

#[tokio::test]
async fn no_ready_instances_is_503_and_counted() {
    let router = start_router("empty").await;
    let c = client();
    let r = get(&c, router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json(), serde_json::json!({"error": "no ready instances"}));
    let w = router.take_window();
    assert_eq!(w["none"].requests, 1);
    assert_eq!(w["none"].errors, 1);

    // A configured version without instances is charged for its own failures.
    router.set_split(Some("v1"), None, 0);
    router.set_backends("v1", vec![]);
    for _ in 0..3 {
        assert_eq!(
            get(&c, router.addr(), "/").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (3, 3));
    assert!(!w.contains_key("none"));
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("version", "v1"), ("code", "503")]
        ),
        Some(3.0)
    );
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "none")]),
        Some(1.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn upstream_failure_is_502_and_an_error() {
    // A port that was just freed: connecting fails.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let router = start_router("s").await;
    router.set_backends("v1", vec![dead]);
    router.set_split(Some("v1"), None, 0);
    let r = get(&client(), router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (1, 1));
    router.shutdown().await;
}

#[tokio::test]
async fn router_forwards_method_query_headers_and_body() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("s").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let c = client();
    let r = send(
        &c,
        Method::POST,
        router.addr(),
        "/echo?x=1",
        Some(("application/x-thing", "payload-123")),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"payload-123");
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/x-thing"
    );
    assert_eq!(r.served_by(), "v1");
    let r = get(&c, router.addr(), "/hello/dave?lang=en").await;
    assert_eq!(r.json()["message"], "Hello, dave!");
    router.shutdown().await;
}

#[tokio::test]
async fn faults_change_answers_and_removal_restores_them() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("chaos").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let c = client();
    assert_eq!(router.fault(), None);

    // Errors.
    let f = RouterFault {
        error_rate: 1.0,
        ..Default::default()
    };
    router.set_fault(Some(f.clone()));
    assert_eq!(router.fault(), Some(f));
    for _ in 0..5 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json(), serde_json::json!({"error": "injected by chaos"}));
    }
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "error")]),
        Some(1.0)
    );
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "drop")]),
        Some(0.0)
    );
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (5, 5));

    // Latency.
    router.set_fault(Some(RouterFault {
        latency_ms: 200,
        ..Default::default()
    }));
    let t = Instant::now();
    let r = get(&c, router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let w = router.take_window();
    assert!(w["v1"].p50_ms >= 200.0, "{:?}", w["v1"]);
    assert_eq!(w["v1"].errors, 0);

    // Dropped connections: the client sees the connection close with no answer.
    router.set_fault(Some(RouterFault {
        drop_rate: 1.0,
        ..Default::default()
    }));
    for _ in 0..3 {
        let mut s = TcpStream::connect(router.addr()).await.unwrap();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let res = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
            .await
            .expect("connection was neither answered nor closed");
        // EOF or a reset are both fine; an HTTP answer is not.
        if res.is_ok() {
            assert!(
                buf.is_empty(),
                "got an answer: {}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
    assert!(send(&c, Method::GET, router.addr(), "/hello", None)
        .await
        .is_err());
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (4, 4));
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("version", "v1"), ("code", "dropped")]
        ),
        Some(4.0)
    );
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "v1")]),
        Some(9.0)
    );

    // Removing the fault restores normal answers.
    router.set_fault(None);
    for _ in 0..5 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!((r.status, r.served_by().as_str()), (StatusCode::OK, "v1"));
    }
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "latency")]),
        Some(0.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn analysis_sample_covers_only_the_current_step() {
    let good = start_service(opts("v1")).await;
    let mut o = opts("v2");
    o.error_rate = 1.0;
    let bad = start_service(o).await;
    let router = start_router("a").await;
    router.set_backends("v1", vec![good.addr]);
    router.set_backends("v2", vec![bad.addr]);
    router.set_split(Some("v1"), Some("v2"), 0);
    burst(router.addr(), "/hello", 10).await;
    assert_eq!(router.analysis_sample("v1").requests, 10);

    router.reset_analysis();
    assert_eq!(router.analysis_sample("v1").requests, 0);
    router.set_split(Some("v1"), Some("v2"), 100);
    let replies = burst(router.addr(), "/hello", 7).await;
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::INTERNAL_SERVER_ERROR));
    let s = router.analysis_sample("v2");
    assert_eq!((s.requests, s.errors), (7, 7));
    assert!(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms);
    assert!((s.error_rate() - 1.0).abs() < 1e-9);
    assert_eq!(router.analysis_sample("v1").requests, 0);
    assert_eq!(router.analysis_sample("never-seen").requests, 0);
    // take_window is independent of the analysis accumulators.
    assert_eq!(router.take_window()["v1"].requests, 10);
    assert_eq!(router.analysis_sample("v2").requests, 7);
    router.shutdown().await;
}

#[tokio::test]
async fn metrics_labels_are_escaped() {
    let router = start_router("we\"ird\\env\nname").await;
    get(&client(), router.addr(), "/").await;
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("env", "we\"ird\\env\nname"), ("code", "503")]
        ),
        Some(1.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let router = start_router("bye").await;
    let addr = router.addr();
    router.shutdown().await;
    router.shutdown().await; // idempotent
    let res = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
    assert!(
        matches!(res, Ok(Err(_))),
        "router still accepts connections"
    );
}

// ---------------------------------------------------------------------------
// traffic and procstat

#[tokio::test]
async fn traffic_generator_feeds_the_router() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("t").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (task, stats) = TrafficGenerator::spawn_with_stats(
        router.addr(),
        200.0,
        vec!["/hello".into(), "/health".into()],
        rx,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().ok < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("generator did not stop")
        .unwrap();
    let s = stats.snapshot();
    assert!(s.ok >= 20, "{s:?}");
    assert_eq!(s.failed + s.server_errors, 0, "{s:?}");
    let w = router.take_window();
    assert!(w["v1"].requests >= s.ok, "{:?} vs {s:?}", w["v1"]);
    // Both paths were used.
    let m = scrape(svc.addr).await;
    assert!(find(&m, "http_requests_total", &[("path", "/hello")]).unwrap() >= 1.0);
    assert!(find(&m, "http_requests_total", &[("path", "/health")]).unwrap() >= 1.0);
    router.shutdown().await;
}

#[test]
fn procstat_reads_own_process() {
    let mut s = ProcSampler::new();
    let sample = s.sample(std::process::id()).expect("own pid readable");
    assert!(sample.rss_mib > 0.0);
    assert!(sample.cpu_pct >= 0.0);
}
