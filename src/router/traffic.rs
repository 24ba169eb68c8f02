//! Background traffic generator that keeps the demo's routers busy, so
//! metrics, canary analysis and chaos experiments have requests to measure.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

/// Requests in flight at most; ticks that find all slots busy are skipped.
const MAX_IN_FLIGHT: usize = 32;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies are read (so connections are reused) up to this size.
const MAX_BODY: usize = 1 << 20;
/// Highest rate honoured; protects the machine from a typo in the config.
const MAX_RATE: f64 = 10_000.0;

/// Counters of one generator.
#[derive(Debug, Default)]
pub struct TrafficStats {
    /// Requests started.
    pub sent: AtomicU64,
    /// Responses received with a status below 500.
    pub ok: AtomicU64,
    /// Responses with status 500 and above.
    pub server_errors: AtomicU64,
    /// Connection failures, timeouts and unreadable bodies.
    pub failed: AtomicU64,
    /// Ticks skipped because `MAX_IN_FLIGHT` requests were outstanding.
    pub skipped: AtomicU64,
}

/// A point-in-time copy of [`TrafficStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    pub sent: u64,
    pub ok: u64,
    pub server_errors: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl TrafficStats {
    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

pub struct TrafficGenerator;

impl TrafficGenerator {
    /// Send evenly spaced GET requests to `target` at `rate_per_sec`,
    /// round-robin over `paths`, until `shutdown` turns true (or its sender is
    /// dropped). Results are counted, never fatal.
    pub fn spawn(
        target: SocketAddr,
        rate_per_sec: f64,
        paths: Vec<String>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        Self::spawn_with_stats(target, rate_per_sec, paths, shutdown).0
    }

    /// As [`TrafficGenerator::spawn`], also returning live counters.
    pub fn spawn_with_stats(
        target: SocketAddr,
        rate_per_sec: f64,
        paths: Vec<String>,
        shutdown: watch::Receiver<bool>,
    ) -> (JoinHandle<()>, Arc<TrafficStats>) {
        let stats = Arc::new(TrafficStats::default());
        let handle = tokio::spawn(run(target, rate_per_sec, paths, shutdown, stats.clone()));
        (handle, stats)
    }
}

/// Target URIs for `paths`; paths that cannot form a URI are left out, and no
/// usable path at all means `/`.
fn target_uris(target: SocketAddr, paths: &[String]) -> Vec<Uri> {
    let mut uris: Vec<Uri> = paths
        .iter()
        .filter_map(|p| {
            let p = p.trim();
            let p = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            format!("http://{target}{p}").parse().ok()
        })
        .collect();
    if uris.is_empty() {
        if let Ok(u) = format!("http://{target}/").parse() {
            uris.push(u);
        }
    }
    uris
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn run(
    target: SocketAddr,
    rate: f64,
    paths: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<TrafficStats>,
) {
    let uris = target_uris(target, &paths);
    if !(rate.is_finite() && rate > 0.0) || uris.is_empty() {
        stopped(&mut shutdown).await;
        return;
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .pool_timer(TokioTimer::new())
        .build(connector);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.min(MAX_RATE)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next = 0usize;
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = tick.tick() => {}
        }
        while in_flight.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let uri = uris[next % uris.len()].clone();
        next = next.wrapping_add(1);
        let client = client.clone();
        let stats = stats.clone();
        stats.sent.fetch_add(1, Ordering::Relaxed);
        in_flight.spawn(async move {
            let _permit = permit;
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(&client, uri)).await;
            let counter = match outcome {
                Ok(Ok(status)) if status < 500 => &stats.ok,
                Ok(Ok(_)) => &stats.server_errors,
                _ => &stats.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }
    in_flight.shutdown().await;
}

/// One GET; the body is read (bounded) so the connection can be reused.
async fn send(client: &Client<HttpConnector, Empty<Bytes>>, uri: Uri) -> Result<u16, String> {
    let req = Request::get(uri)
        .header(hyper::header::USER_AGENT, "blissful-infra-traffic")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_normalised() {
        let t = SocketAddr::from(([127, 0, 0, 1], 8080));
        let u = target_uris(t, &["/a".into(), "b?x=1".into(), "bad path".into()]);
        let s: Vec<String> = u.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            s,
            vec!["http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b?x=1"]
        );
        let d = target_uris(t, &[]);
        assert_eq!(d[0].to_string(), "http://127.0.0.1:8080/");
    }

    #[tokio::test]
    async fn zero_rate_idles_until_shutdown() {
        let (tx, rx) = watch::channel(false);
        let t = SocketAddr::from(([127, 0, 0, 1], 9));
        let (h, stats) = TrafficGenerator::spawn_with_stats(t, 0.0, vec!["/".into()], rx);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!h.is_finished());
        tx.send_replace(true);
        h.await.unwrap();
        assert_eq!(stats.snapshot(), TrafficSnapshot::default());
    }

    #[tokio::test]
    async fn unreachable_target_counts_failures_without_panicking() {
        // Bind then drop a listener so the port is (very likely) closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let t = l.local_addr().unwrap();
        drop(l);
        let (tx, rx) = watch::channel(false);
        let (h, stats) = TrafficGenerator::spawn_with_stats(t, 200.0, vec!["/x".into()], rx);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while stats.snapshot().failed < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(tx); // dropping the sender also stops the generator
        h.await.unwrap();
        let s = stats.snapshot();
        assert!(s.failed >= 3, "{s:?}");
        assert_eq!(s.ok, 0);
    }
}
