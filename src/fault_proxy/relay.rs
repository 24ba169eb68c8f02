//! The accept loop and one relayed connection, following the proxy's fault
//! as it changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Counters, ProxyFault, CHUNK, CONNECT_TIMEOUT, MAX_CONNECTIONS, QUEUE};

type Fault = watch::Receiver<ProxyFault>;

pub(super) async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<str>,
    fault: Fault,
    counters: Arc<Counters>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            res = listener.accept() => match res {
                Ok((client, _)) => {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        counters.over_limit.fetch_add(1, Ordering::Relaxed);
                        reset(client);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let c = Conn { upstream: upstream.clone(), counters: counters.clone(), faulted: AtomicBool::new(false), _permit: permit };
                    conns.spawn(c.serve(client, fault.clone()));
                }
                // Typically EMFILE: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// Close with RST rather than FIN: what a client sees of a dependency that
/// went away.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

/// One client connection.
struct Conn {
    upstream: Arc<str>,
    counters: Arc<Counters>,
    /// Counted in `faulted` already.
    faulted: AtomicBool,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Count this connection as faulted, once.
    fn mark_faulted(&self) {
        if !self.faulted.swap(true, Ordering::Relaxed) {
            self.counters.faulted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Wait while the fault says hang (a refuse ends the wait too).
    async fn hold_while_hung(&self, fault: &mut Fault) {
        if fault.borrow().hang {
            self.mark_faulted();
            let _ = fault.wait_for(|f| !f.hang || f.refuse).await;
        }
    }

    async fn serve(self, mut client: TcpStream, mut fault: Fault) {
        self.counters.active.fetch_add(1, Ordering::Relaxed);
        // Accepted; a hung dependency never gets as far as answering.
        self.hold_while_hung(&mut fault).await;
        if fault.borrow().refuse {
            self.mark_faulted();
            reset(client);
        } else {
            let up = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*self.upstream));
            match up.await {
                Ok(Ok(mut up)) => {
                    let _ = up.set_nodelay(true);
                    if self.relay(&mut client, &mut up, fault).await {
                        self.mark_faulted();
                        reset(client);
                        reset(up);
                    }
                }
                _ => {
                    self.counters
                        .upstream_failures
                        .fetch_add(1, Ordering::Relaxed);
                    reset(client);
                }
            }
        }
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// Copy both ways until both sides are done; true when a refuse fault
    /// ended it (the caller resets both sockets).
    async fn relay(&self, client: &mut TcpStream, up: &mut TcpStream, fault: Fault) -> bool {
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = up.split();
        let (tx, mut rx) = mpsc::channel::<(Option<Instant>, Vec<u8>)>(QUEUE);
        let reader_fault = fault.clone();
        let from_upstream = async move {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n @ 1..) = ur.read(&mut buf).await {
                let delay = reader_fault.borrow().chunk_delay();
                if delay.is_some() {
                    self.mark_faulted();
                }
                let due = delay.map(|d| Instant::now() + d);
                if tx.send((due, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        };
        let mut writer_fault = fault.clone();
        let to_client = async move {
            while let Some((due, chunk)) = rx.recv().await {
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                self.hold_while_hung(&mut writer_fault).await;
                if cw.write_all(&chunk).await.is_err() {
                    return;
                }
                let n = chunk.len() as u64;
                self.counters
                    .bytes_to_client
                    .fetch_add(n, Ordering::Relaxed);
            }
            let _ = cw.shutdown().await;
        };
        let mut up_fault = fault.clone();
        let to_upstream = async move {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n @ 1..) = cr.read(&mut buf).await {
                self.hold_while_hung(&mut up_fault).await;
                if uw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                let n = n as u64;
                self.counters
                    .bytes_to_upstream
                    .fetch_add(n, Ordering::Relaxed);
            }
            let _ = uw.shutdown().await;
        };
        let mut refuse_fault = fault;
        tokio::select! {
            _ = async { tokio::join!(from_upstream, to_client, to_upstream) } => false,
            r = refuse_fault.wait_for(|f| f.refuse) => r.is_ok(),
        }
    }
}
