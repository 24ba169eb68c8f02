//! The fault proxy's overhead with no fault active (run with
//! `cargo bench --bench fault_proxy`; the figure goes in the README).
//!
//! An echo upstream on 127.0.0.1; `CONNS` clients each do request/response
//! exchanges (200 bytes out, 1 KiB back) over one kept-alive connection, as
//! a service's connection pool does. Rounds alternate direct and through a
//! pass-through proxy, so both see the same machine load; the overhead is
//! the difference of the two latency distributions (p50, p99).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blissful_infra::fault_proxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONNS: usize = 4;
const REQUEST: usize = 200;
const RESPONSE: usize = 1024;

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
/// binary without it, and then a quick smoke run is enough.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Reads a request of `REQUEST` bytes, answers `RESPONSE` bytes.
async fn upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut req = [0u8; REQUEST];
                let resp = [7u8; RESPONSE];
                while s.read_exact(&mut req).await.is_ok() {
                    if s.write_all(&resp).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `n` exchanges on each of `CONNS` connections to `addr`; every exchange's time.
async fn round(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        tasks.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let req = [1u8; REQUEST];
            let mut resp = [0u8; RESPONSE];
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                c.write_all(&req).await.unwrap();
                c.read_exact(&mut resp).await.unwrap();
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (rounds, per_conn) = if full_run() { (10, 5_000) } else { (2, 200) };
    rt.block_on(async {
        let up = upstream().await;
        let proxy = FaultProxy::start(&up.to_string()).await.unwrap();
        assert!(proxy.fault().is_pass_through());
        // Warm both paths.
        round(up, 200).await;
        round(proxy.addr(), 200).await;
        let (mut direct, mut proxied) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct.extend(round(up, per_conn).await);
            proxied.extend(round(proxy.addr(), per_conn).await);
        }
        direct.sort();
        proxied.sort();
        let (d50, d99) = (pct(&direct, 0.5), pct(&direct, 0.99));
        let (p50, p99) = (pct(&proxied, 0.5), pct(&proxied, 0.99));
        let overhead = ms(p99) - ms(d99);
        println!(
            "fault proxy, no fault, {CONNS} connections, {} exchanges each way ({REQUEST} B out, {RESPONSE} B back):",
            direct.len()
        );
        println!("  direct:  p50 {:.3} ms, p99 {:.3} ms", ms(d50), ms(d99));
        println!("  proxied: p50 {:.3} ms, p99 {:.3} ms", ms(p50), ms(p99));
        println!(
            "  overhead: p50 {:.3} ms, p99 {overhead:.3} ms (target <= 0.2 ms)",
            ms(p50) - ms(d50)
        );
        let s = proxy.stats();
        assert_eq!(s.faulted_connections, 0);
        assert_eq!(s.bytes_to_client, (proxied.len() + 200 * CONNS) as u64 * RESPONSE as u64);
    });
}
