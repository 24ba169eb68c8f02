//! A DNS responder that fails every lookup: UDP on 127.0.0.1, each query
//! answered SERVFAIL with its id and question echoed (the header and the
//! question are all it reads). For dns-failure: Docker redirects a
//! container's port 53 to it; the sandbox names it in a resolv.conf mounted
//! over /etc/resolv.conf in each instance's own mount namespace.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Fixed header size of a DNS message.
const HEADER: usize = 12;
/// RCODE of a server failure.
pub const RCODE_SERVFAIL: u8 = 2;
/// RCODE of a query that could not be read.
pub const RCODE_FORMERR: u8 = 1;
/// Largest UDP query read (EDNS allows 4096; more is cut and answered FORMERR).
const MAX_QUERY: usize = 4096;

/// The reply to `query`, or None when it is not a query (a response, or
/// shorter than a header): those are not answered.
pub fn servfail_reply(query: &[u8]) -> Option<Vec<u8>> {
    let header = query.get(..HEADER)?;
    if header[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    let question = match qdcount {
        0 => Some(&[][..]),
        1 => question_len(&query[HEADER..]).map(|n| &query[HEADER..HEADER + n]),
        _ => None,
    };
    let mut reply = Vec::with_capacity(HEADER + question.map_or(0, <[u8]>::len));
    reply.extend_from_slice(&header[..2]);
    // QR=1, the query's opcode and RD kept; RA=1; the rcode.
    reply.push(0x80 | (header[2] & 0x79));
    let rcode = if question.is_some() {
        RCODE_SERVFAIL
    } else {
        RCODE_FORMERR
    };
    reply.push(0x80 | rcode);
    let echoed = u16::from(question.is_some_and(|q| !q.is_empty()));
    reply.extend_from_slice(&echoed.to_be_bytes());
    reply.extend_from_slice(&[0; 6]);
    if let Some(q) = question {
        reply.extend_from_slice(q);
    }
    Some(reply)
}

/// Length of one question (name, type, class) at the start of `b`; None
/// when it is malformed or uses compression (queries do not).
fn question_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let len = usize::from(*b.get(i)?);
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        i += 1 + len;
    }
    let end = i + 1 + 4;
    (end <= b.len()).then_some(end)
}

/// A running responder; dropping it stops it.
#[derive(Debug)]
pub struct ServfailResponder {
    addr: SocketAddr,
    answered: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ServfailResponder {
    /// Bind 127.0.0.1 (ephemeral port) and answer until dropped.
    pub async fn start() -> std::io::Result<ServfailResponder> {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Bind `addr` and answer until dropped.
    pub async fn start_at(addr: SocketAddr) -> std::io::Result<ServfailResponder> {
        let socket = UdpSocket::bind(addr).await?;
        let addr = socket.local_addr()?;
        let answered = Arc::new(AtomicU64::new(0));
        let count = answered.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_QUERY];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = servfail_reply(&buf[..n]) {
                    if socket.send_to(&reply, from).await.is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(ServfailResponder {
            addr,
            answered,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for ServfailResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
