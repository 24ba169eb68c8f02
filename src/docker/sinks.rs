//! Listeners opened inside a container's network namespace for dependency
//! faults: a DNS responder that answers every query SERVFAIL (UDP and TCP),
//! and a TCP port that accepts connections and never answers. A thread
//! joins the namespace (setns), binds the sockets there and ends; the
//! sockets stay in that namespace and are served by tokio tasks. Like the
//! delay relay they live in this process: if blissful-infra dies, what is
//! left is the journalled iptables rules that send traffic to them, and
//! undoing those restores the direct path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::delay::enter_netns;
use crate::fault_proxy::dns::servfail_reply;

/// Largest DNS message read over UDP.
const MAX_UDP: usize = 4096;
/// DNS-over-TCP connections served at once; more are closed.
const MAX_DNS_CONNECTIONS: usize = 64;
/// A DNS-over-TCP connection idle this long is closed.
const DNS_IDLE: Duration = Duration::from_secs(10);
/// Connections a hang port holds; past this it stops accepting (new
/// connections then wait in the kernel's queue, unanswered too).
const MAX_HELD: usize = 4096;

/// Run `f` on a thread that joined the network namespace of `pid`; the
/// sockets it makes belong to that namespace.
async fn bind_in_netns<T, F>(pid: u32, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("netns-bind-{pid}"))
        .spawn(move || {
            let _ = tx.send(enter_netns(pid).and_then(|()| f()));
        })
        .map_err(|e| format!("cannot start the namespace thread: {e}"))?;
    rx.await
        .map_err(|_| "the namespace thread stopped".to_string())?
        .map_err(|e| format!("cannot listen in the container's network namespace: {e}"))
}

/// A SERVFAIL responder in a container's namespace; dropping it stops it.
pub(crate) struct ServfailSink {
    task: JoinHandle<()>,
    /// Ports on the namespace's 127.0.0.1.
    pub udp_port: u16,
    pub tcp_port: u16,
    answered: Arc<AtomicU64>,
}

impl ServfailSink {
    /// Queries answered so far (UDP and TCP).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for ServfailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start a SERVFAIL responder on 127.0.0.1 of the namespace of `pid`.
pub(crate) async fn start_servfail(pid: u32) -> Result<ServfailSink, String> {
    let (udp, tcp) = bind_in_netns(pid, || {
        let u = std::net::UdpSocket::bind(("127.0.0.1", 0))?;
        u.set_nonblocking(true)?;
        let t = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        t.set_nonblocking(true)?;
        Ok((u, t))
    })
    .await?;
    let udp = UdpSocket::from_std(udp).map_err(|e| e.to_string())?;
    let tcp = TcpListener::from_std(tcp).map_err(|e| e.to_string())?;
    let udp_port = udp.local_addr().map_err(|e| e.to_string())?.port();
    let tcp_port = tcp.local_addr().map_err(|e| e.to_string())?.port();
    let answered = Arc::new(AtomicU64::new(0));
    let (a, b) = (answered.clone(), answered.clone());
    let task = tokio::spawn(async move {
        tokio::join!(serve_udp(udp, a), serve_tcp(tcp, b));
    });
    Ok(ServfailSink {
        task,
        udp_port,
        tcp_port,
        answered,
    })
}

async fn serve_udp(socket: UdpSocket, answered: Arc<AtomicU64>) {
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = servfail_reply(&buf[..n]) {
            if socket.send_to(&reply, from).await.is_ok() {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, answered: Arc<AtomicU64>) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= MAX_DNS_CONNECTIONS {
            continue;
        }
        conns.spawn(dns_over_tcp(s, answered.clone()));
    }
}

/// Length-prefixed queries, each answered SERVFAIL, until idle or closed.
async fn dns_over_tcp(mut s: TcpStream, answered: Arc<AtomicU64>) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(DNS_IDLE, s.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(DNS_IDLE, s.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = servfail_reply(&query) else {
            return;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = n.to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if s.write_all(&out).await.is_err() {
            return;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A TCP port in a container's namespace that accepts connections and
/// never answers (never reads, writes or closes them); dropping it closes
/// it and the connections it holds.
pub(crate) struct HangSink {
    task: JoinHandle<()>,
    pub port: u16,
    held: Arc<AtomicU64>,
}

impl HangSink {
    /// Connections accepted so far.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

impl Drop for HangSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start a hang port on every address of the namespace of `pid`.
pub(crate) async fn start_hang(pid: u32) -> Result<HangSink, String> {
    let l = bind_in_netns(pid, || {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .await?;
    let l = TcpListener::from_std(l).map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let held = Arc::new(AtomicU64::new(0));
    let count = held.clone();
    let task = tokio::spawn(async move {
        let mut open: Vec<TcpStream> = Vec::new();
        while open.len() < MAX_HELD {
            if let Ok((s, _)) = l.accept().await {
                open.push(s);
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Full: hold what is open; the rest waits in the accept queue.
        std::future::pending::<()>().await;
        drop(open);
    });
    Ok(HangSink { task, port, held })
}

#[cfg(test)]
mod tests;
