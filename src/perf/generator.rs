//! The load engine: one worker per keep-alive HTTP/1.1 connection.
//!
//! Closed loop: each worker sends its next request as soon as the previous
//! one is answered. Open loop: request `i` is *due* at `start + i / rate`;
//! workers claim due times from one shared counter, and when they fall
//! behind (the target stalls) the latency is measured from the due time, not
//! from the late send, so a stall is not hidden (coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use futures::FutureExt;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use super::PerfError;
use crate::domain::comparison::Reservoir;

/// Histogram bounds in microseconds: 1 µs .. 60 s, 3 significant figures.
pub const HIST_LOW_US: u64 = 1;
pub const HIST_HIGH_US: u64 = 60_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// Pause after a failed connect so an unreachable target is not hammered in
/// a tight loop (the attempts are still counted).
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Histograms are shared by at most this many shards (memory is bounded
/// whatever the concurrency).
const MAX_SHARDS: usize = 8;

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// Value of the `Host` header.
    pub host: String,
}

/// A request path and its share of the traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub path: String,
    pub weight: u32,
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Each connection sends as soon as its previous answer arrived.
    Closed,
    /// A fixed rate in requests per second, independent of the answers.
    Open { rate: f64 },
}

/// When the measured phase ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Duration(Duration),
    Requests(u64),
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub target: Target,
    pub endpoints: Vec<Endpoint>,
    pub pacing: Pacing,
    /// Connections (= workers).
    pub concurrency: usize,
    pub stop: Stop,
    /// Load sent before measuring; not recorded.
    pub warmup: Duration,
    /// Per request, connecting included.
    pub timeout: Duration,
}

impl LoadSpec {
    /// `10 connections` or `200 req/s over 10 connections`.
    pub fn pacing_label(&self) -> String {
        match self.pacing {
            Pacing::Closed => format!("{} connections", self.concurrency),
            Pacing::Open { rate } => {
                format!("{rate:.0} req/s over {} connections", self.concurrency)
            }
        }
    }
}

/// Why a request got no HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    ConnectRefused,
    Connect,
    Timeout,
    /// The server closed the connection before answering.
    Closed,
    /// Anything else hyper reports (malformed response, ...).
    Protocol,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// Counters for a live progress line (reset when measuring starts).
#[derive(Debug, Default)]
pub struct Live {
    pub measuring: AtomicBool,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// When set, the latency (µs, as recorded in `corrected`) of every
    /// measured response is offered here, e.g. for statistical tests that
    /// need raw samples rather than a histogram.
    pub samples: Option<Mutex<Reservoir>>,
    /// When set, the corrected latency (µs) of every response, warm-up
    /// included, for live percentiles; whoever reads it resets it.
    pub window: Option<Mutex<Histogram<u64>>>,
}

impl Live {
    /// p50, p95 and p99 (ms) of the responses since the last call, from
    /// `window`, which is reset; zeros without a window or responses.
    pub fn take_window_quantiles(&self) -> (f64, f64, f64) {
        let Some(w) = &self.window else {
            return (0.0, 0.0, 0.0);
        };
        let mut h = w.lock().unwrap_or_else(|p| p.into_inner());
        let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
        let r = if h.is_empty() {
            (0.0, 0.0, 0.0)
        } else {
            (q(0.50), q(0.95), q(0.99))
        };
        h.reset();
        r
    }
}

/// What the measured phase saw.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub elapsed: Duration,
    /// Attempts finished: responses plus errors.
    pub requests: u64,
    /// Latency in µs of every response, from the due time in open loop.
    pub corrected: Histogram<u64>,
    /// Latency in µs of every response, from the actual send.
    pub uncorrected: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl RunStats {
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }
    pub fn transport_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

pub fn new_histogram() -> Result<Histogram<u64>, PerfError> {
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .map_err(|e| PerfError::Internal(format!("creating a histogram: {e}")))
}

struct Shard {
    requests: u64,
    corrected: Histogram<u64>,
    uncorrected: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<ErrorKind, u64>,
}

struct Phase {
    spec: LoadSpec,
    stop: Stop,
    start: Instant,
    next: AtomicU64,
    total_weight: u64,
    shards: Vec<Mutex<Shard>>,
    live: Arc<Live>,
}

/// A worker's HTTP/1.1 connection. The worker drives the connection itself
/// (no task of its own), so a request and its response never cross tasks.
struct Http1 {
    sender: SendRequest<Empty<Bytes>>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
    /// The driver completed (it must not be polled again).
    finished: bool,
}

type Conn = Option<Http1>;

/// Run the warmup (if any), then the measured phase, over the same connections.
pub async fn run(spec: &LoadSpec, live: Arc<Live>) -> Result<RunStats, PerfError> {
    spec.validate()?;
    let mut conns: Vec<Conn> = (0..spec.concurrency).map(|_| None).collect();
    if !spec.warmup.is_zero() {
        let (c, _) = run_phase(spec, Stop::Duration(spec.warmup), conns, live.clone()).await?;
        conns = c;
    }
    live.requests.store(0, Ordering::Relaxed);
    live.errors.store(0, Ordering::Relaxed);
    live.measuring.store(true, Ordering::Relaxed);
    let (_, stats) = run_phase(spec, spec.stop, conns, live).await?;
    Ok(stats)
}

impl LoadSpec {
    fn validate(&self) -> Result<(), PerfError> {
        if self.concurrency == 0 {
            return Err(PerfError::Usage("concurrency must be at least 1".into()));
        }
        if self.endpoints.is_empty() || self.endpoints.iter().all(|e| e.weight == 0) {
            return Err(PerfError::Usage("no endpoint with a weight above 0".into()));
        }
        if let Pacing::Open { rate } = self.pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(PerfError::Usage(format!(
                    "rate must be above 0, got {rate}"
                )));
            }
        }
        Ok(())
    }
}

async fn run_phase(
    spec: &LoadSpec,
    stop: Stop,
    conns: Vec<Conn>,
    live: Arc<Live>,
) -> Result<(Vec<Conn>, RunStats), PerfError> {
    let shard_count = spec.concurrency.clamp(1, MAX_SHARDS);
    let mut shards = Vec::with_capacity(shard_count);
    for _ in 0..shard_count {
        shards.push(Mutex::new(Shard {
            requests: 0,
            corrected: new_histogram()?,
            uncorrected: new_histogram()?,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }));
    }
    let start = Instant::now();
    let phase = Arc::new(Phase {
        spec: spec.clone(),
        stop,
        start,
        next: AtomicU64::new(0),
        total_weight: spec.endpoints.iter().map(|e| u64::from(e.weight)).sum(),
        shards,
        live,
    });
    let mut handles = Vec::with_capacity(conns.len());
    for (id, conn) in conns.into_iter().enumerate() {
        handles.push(tokio::spawn(worker(id, phase.clone(), conn)));
    }
    let mut back = Vec::with_capacity(handles.len());
    for h in handles {
        // A worker that died leaves its connection behind; a fresh one is made.
        back.push(h.await.unwrap_or(None));
    }
    let elapsed = start.elapsed();
    let mut stats = RunStats {
        elapsed,
        requests: 0,
        corrected: new_histogram()?,
        uncorrected: new_histogram()?,
        statuses: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    for shard in &phase.shards {
        let s = shard.lock().unwrap_or_else(|p| p.into_inner());
        stats.requests += s.requests;
        stats
            .corrected
            .add(&s.corrected)
            .map_err(|e| PerfError::Internal(format!("merging histograms: {e}")))?;
        stats
            .uncorrected
            .add(&s.uncorrected)
            .map_err(|e| PerfError::Internal(format!("merging histograms: {e}")))?;
        for (k, v) in &s.statuses {
            *stats.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &s.errors {
            *stats.errors.entry(*k).or_default() += v;
        }
    }
    Ok((back, stats))
}

async fn worker(id: usize, phase: Arc<Phase>, mut conn: Conn) -> Conn {
    let mut rng = fastrand::Rng::with_seed(id as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let deadline = match phase.stop {
        Stop::Duration(d) => Some(phase.start + d),
        Stop::Requests(_) => None,
    };
    let interval = match phase.spec.pacing {
        Pacing::Open { rate } => Some(rate),
        Pacing::Closed => None,
    };
    loop {
        if let Some(dl) = deadline {
            if Instant::now() >= dl {
                break;
            }
        }
        let ticket = phase.next.fetch_add(1, Ordering::Relaxed);
        if let Stop::Requests(n) = phase.stop {
            if ticket >= n {
                break;
            }
        }
        // Open loop: wait for the due time; if it already passed, we are
        // behind and the wait counts as latency.
        let mut from = None;
        if let Some(rate) = interval {
            let due = phase.start + Duration::from_secs_f64(ticket as f64 / rate);
            if deadline.is_some_and(|dl| due >= dl) {
                break;
            }
            if due > Instant::now() {
                // On time: timer overshoot (~1 ms granularity) is ours, not
                // the target's, so measure from the actual send.
                tokio::time::sleep_until(due.into()).await;
            } else {
                from = Some(due);
            }
        }
        let path = pick(&phase, &mut rng);
        let sent = Instant::now();
        let result = tokio::time::timeout(phase.spec.timeout, request(&mut conn, &phase, path))
            .await
            .unwrap_or(Err(ErrorKind::Timeout));
        let done = Instant::now();
        if result.is_err() {
            conn = None;
        }
        record(
            &phase,
            id,
            &result,
            done - from.unwrap_or(sent),
            done - sent,
        );
        if matches!(result, Err(ErrorKind::ConnectRefused | ErrorKind::Connect)) {
            tokio::time::sleep(CONNECT_BACKOFF).await;
        }
    }
    conn
}

fn pick<'p>(phase: &'p Phase, rng: &mut fastrand::Rng) -> &'p str {
    let eps = &phase.spec.endpoints;
    if eps.len() == 1 {
        return &eps[0].path;
    }
    let mut x = rng.u64(0..phase.total_weight.max(1));
    for e in eps {
        let w = u64::from(e.weight);
        if x < w {
            return &e.path;
        }
        x -= w;
    }
    &eps[eps.len() - 1].path
}

fn record(
    phase: &Phase,
    id: usize,
    result: &Result<u16, ErrorKind>,
    corrected: Duration,
    uncorrected: Duration,
) {
    phase.live.requests.fetch_add(1, Ordering::Relaxed);
    let idx = id % phase.shards.len();
    let mut s = phase.shards[idx].lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    match result {
        Ok(status) => {
            // Values beyond the histogram's range are clamped, never dropped.
            s.corrected.saturating_record(micros(corrected));
            s.uncorrected.saturating_record(micros(uncorrected));
            *s.statuses.entry(*status).or_default() += 1;
            if let Some(w) = &phase.live.window {
                w.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .saturating_record(micros(corrected));
            }
            if let Some(r) = &phase.live.samples {
                if phase.live.measuring.load(Ordering::Relaxed) {
                    r.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .offer(micros(corrected));
                }
            }
            if *status >= 500 {
                phase.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(kind) => {
            *s.errors.entry(*kind).or_default() += 1;
            phase.live.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(HIST_LOW_US, HIST_HIGH_US)
}

/// One request on the worker's connection (made first when there is none).
/// Returns the status after the body was read to its end.
async fn request(conn: &mut Conn, phase: &Phase, path: &str) -> Result<u16, ErrorKind> {
    // A connection the server closed while idle is replaced before use.
    let stale = match conn.as_mut() {
        None => true,
        Some(c) => c.finished || c.sender.is_closed() || c.driver.as_mut().now_or_never().is_some(),
    };
    if stale {
        *conn = Some(connect(phase.spec.target.addr).await?);
    }
    let Some(Http1 {
        sender,
        driver,
        finished,
    }) = conn.as_mut()
    else {
        return Err(ErrorKind::Connect);
    };
    let exchange = async {
        sender.ready().await.map_err(hyper_kind)?;
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, phase.spec.target.host.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|_| ErrorKind::Protocol)?;
        let resp = sender.send_request(req).await.map_err(hyper_kind)?;
        let status = resp.status().as_u16();
        // Drain without keeping the body: memory stays flat whatever the size.
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(hyper_kind)?;
        }
        Ok(status)
    };
    let mut exchange = std::pin::pin!(exchange);
    let ended = tokio::select! {
        biased;
        r = &mut exchange => return r,
        r = driver.as_mut() => r,
    };
    // The connection ended first (e.g. `Connection: close` after the answer):
    // what was read still completes the exchange; otherwise it fails.
    *finished = true;
    match exchange.await {
        Ok(status) => Ok(status),
        Err(kind) => Err(match ended {
            Err(e) => hyper_kind(e),
            Ok(()) => kind,
        }),
    }
}

fn hyper_kind(e: hyper::Error) -> ErrorKind {
    if e.is_canceled() || e.is_incomplete_message() || e.is_closed() {
        ErrorKind::Closed
    } else {
        ErrorKind::Protocol
    }
}

async fn connect(addr: SocketAddr) -> Result<Http1, ErrorKind> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            _ => ErrorKind::Connect,
        })?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    Ok(Http1 {
        sender,
        driver: Box::pin(connection),
        finished: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(endpoints: Vec<Endpoint>) -> Phase {
        let total_weight = endpoints.iter().map(|e| u64::from(e.weight)).sum();
        Phase {
            spec: LoadSpec {
                target: Target {
                    addr: "127.0.0.1:9".parse().unwrap(),
                    host: "127.0.0.1:9".into(),
                },
                endpoints,
                pacing: Pacing::Closed,
                concurrency: 1,
                stop: Stop::Requests(1),
                warmup: Duration::ZERO,
                timeout: Duration::from_secs(1),
            },
            stop: Stop::Requests(1),
            start: Instant::now(),
            next: AtomicU64::new(0),
            total_weight,
            shards: vec![],
            live: Arc::new(Live::default()),
        }
    }

    #[test]
    fn weighted_pick_follows_weights() {
        let p = phase(vec![
            Endpoint {
                path: "/a".into(),
                weight: 3,
            },
            Endpoint {
                path: "/b".into(),
                weight: 1,
            },
            Endpoint {
                path: "/never".into(),
                weight: 0,
            },
        ]);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut a = 0;
        let mut b = 0;
        for _ in 0..4000 {
            match pick(&p, &mut rng) {
                "/a" => a += 1,
                "/b" => b += 1,
                other => panic!("picked {other}"),
            }
        }
        assert!((2700..3300).contains(&a), "a = {a}");
        assert_eq!(a + b, 4000);
    }

    #[test]
    fn micros_clamps_to_histogram_range() {
        assert_eq!(micros(Duration::ZERO), HIST_LOW_US);
        assert_eq!(micros(Duration::from_secs(3600)), HIST_HIGH_US);
        assert_eq!(micros(Duration::from_millis(20)), 20_000);
    }

    #[tokio::test]
    async fn refused_connection_is_counted_not_fatal() {
        // Bind then drop to get a port nobody listens on.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let spec = LoadSpec {
            target: Target {
                addr,
                host: addr.to_string(),
            },
            endpoints: vec![Endpoint {
                path: "/".into(),
                weight: 1,
            }],
            pacing: Pacing::Closed,
            concurrency: 2,
            stop: Stop::Requests(6),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(2),
        };
        let stats = run(&spec, Arc::new(Live::default())).await.unwrap();
        assert_eq!(stats.requests, 6);
        assert_eq!(stats.responses(), 0);
        assert_eq!(stats.errors.get(&ErrorKind::ConnectRefused), Some(&6));
    }

    #[tokio::test]
    async fn invalid_spec_is_refused() {
        let mut p = phase(vec![Endpoint {
            path: "/".into(),
            weight: 0,
        }]);
        assert!(matches!(
            run(&p.spec, Arc::new(Live::default())).await,
            Err(PerfError::Usage(_))
        ));
        p.spec.endpoints[0].weight = 1;
        p.spec.pacing = Pacing::Open { rate: 0.0 };
        assert!(matches!(
            run(&p.spec, Arc::new(Live::default())).await,
            Err(PerfError::Usage(_))
        ));
    }
}
