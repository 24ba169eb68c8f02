//! A TCP fault proxy: listens on 127.0.0.1 (an ephemeral port), relays every
//! connection to one upstream address (a database, a broker), and can be
//! switched live, without a restart, between pass-through and the faults a
//! dependency shows:
//!
//! - **latency**: every chunk the upstream sends is handed to the client
//!   `latency_ms` after it arrived (a delay line, so throughput is kept and
//!   one request/response exchange is slowed by about `latency_ms`);
//! - **loss**: TCP never loses bytes the application can see: a lost
//!   segment is resent, and what the application notices is a stall of at
//!   least one retransmission timeout with everything behind it held up.
//!   So a "lost" chunk is held back [`LOSS_STALL`] (Linux's minimum RTO)
//!   and the chunks after it wait behind it; no byte is dropped or changed;
//! - **hang**: connections are accepted and never answered; open ones stop
//!   moving in both directions; the client's own timeout has to fire.
//!   When the fault ends, hung connections carry on where they stopped;
//! - **refuse**: new connections are reset at once and open ones are reset
//!   too (the dependency went down).
//!
//! Latency and loss act on what the upstream sends back; requests pass at
//! once. Faults combine as the worst of each (refuse over hang over the
//! rest). Buffers are bounded: [`CHUNK`] bytes per read, [`QUEUE`] chunks
//! held per connection, [`MAX_CONNECTIONS`] connections at once.
//!
//! This module is an adapter of its own: it imports no other adapter. The
//! [`dns`] responder (SERVFAIL for every query) and [`address`] (finding and
//! rewriting a dependency's address in an environment variable) live here
//! too.

pub mod address;
pub mod dns;
mod relay;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Connections relayed at once; more are reset (and counted).
pub const MAX_CONNECTIONS: usize = 1024;
/// Bytes read at a time from either side.
pub const CHUNK: usize = 16 * 1024;
/// Chunks from the upstream held per connection while they wait out a delay.
pub const QUEUE: usize = 16;
/// How long a "lost" chunk is held back: Linux's minimum retransmission timeout.
pub const LOSS_STALL: Duration = Duration::from_millis(200);
/// Time allowed to reach the upstream; a failure resets the client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The faults in force on a proxy; the default is pass-through.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyFault {
    /// Added to every chunk the upstream sends.
    pub latency_ms: u64,
    /// Fraction 0..1 of upstream chunks held back [`LOSS_STALL`].
    pub loss_rate: f64,
    /// Accept and never answer; open connections stall.
    pub hang: bool,
    /// Reset new and open connections.
    pub refuse: bool,
}

impl ProxyFault {
    /// Nothing to do: plain relaying.
    pub fn is_pass_through(&self) -> bool {
        *self == ProxyFault::default()
    }

    /// The worst of each of two faults.
    pub fn merge(&self, other: &ProxyFault) -> ProxyFault {
        ProxyFault {
            latency_ms: self.latency_ms.max(other.latency_ms),
            loss_rate: self.loss_rate.max(other.loss_rate),
            hang: self.hang || other.hang,
            refuse: self.refuse || other.refuse,
        }
    }

    /// How long one chunk from the upstream waits (none: at once).
    fn chunk_delay(&self) -> Option<Duration> {
        let lost = self.loss_rate > 0.0 && fastrand::f64() < self.loss_rate;
        let ms = self.latency_ms
            + if lost {
                LOSS_STALL.as_millis() as u64
            } else {
                0
            };
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}

/// Counters shared by the accept loop and the connections.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    faulted: AtomicU64,
    over_limit: AtomicU64,
    upstream_failures: AtomicU64,
}

/// What a proxy has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub active: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
    /// Connections a fault acted on (reset, hung, delayed or stalled), each once.
    pub faulted_connections: u64,
    /// Connections reset because [`MAX_CONNECTIONS`] were open.
    pub over_limit: u64,
    /// Connections reset because the upstream could not be reached.
    pub upstream_failures: u64,
}

/// A running proxy; dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: Arc<str>,
    fault: watch::Sender<ProxyFault>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on 127.0.0.1 (ephemeral port) and relay to `upstream`
    /// (`host:port`, resolved at each connection). Needs a tokio runtime.
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let upstream: Arc<str> = Arc::from(upstream);
        let (fault, rx) = watch::channel(ProxyFault::default());
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(relay::accept_loop(
            listener,
            upstream.clone(),
            rx,
            counters.clone(),
        ));
        Ok(FaultProxy {
            addr,
            upstream,
            fault,
            counters,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where connections are relayed to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Switch the fault; open connections follow at their next chunk (a
    /// refuse resets them at once).
    pub fn set_fault(&self, fault: ProxyFault) {
        self.fault.send_replace(fault);
    }

    pub fn fault(&self) -> ProxyFault {
        self.fault.borrow().clone()
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            connections: n(&c.connections),
            active: n(&c.active),
            bytes_to_upstream: n(&c.bytes_to_upstream),
            bytes_to_client: n(&c.bytes_to_client),
            faulted_connections: n(&c.faulted),
            over_limit: n(&c.over_limit),
            upstream_failures: n(&c.upstream_failures),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept loop owns the connections: they end with it.
        self.task.abort();
    }
}

#[cfg(test)]
mod tests;
