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

#[path = "sandbox_http/exposition.rs"]
mod exposition;
use exposition::*;

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

#[path = "sandbox_http/router_faults.rs"]
mod router_faults;
#[path = "sandbox_http/routing.rs"]
mod routing;
#[path = "sandbox_http/service.rs"]
mod service;
#[path = "sandbox_http/traffic.rs"]
mod traffic;
