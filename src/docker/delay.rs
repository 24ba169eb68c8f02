//! Network latency where the kernel has no netem qdisc: a delay line for a
//! container's TCP ports. A worker thread joins the container's network
//! namespace (setns) and opens a listener there; an iptables REDIRECT in the
//! namespace sends new connections to the service port through it, and every
//! chunk a client sends reaches the service `latency` later (throughput is
//! kept: chunks are delayed, not serialised). The relay lives in this
//! process: if blissful-infra dies, the journalled iptables rule is what is
//! left, and undoing it restores the direct path.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Chunks in flight per direction before the reader waits.
const DELAY_QUEUE: usize = 256;
const CHUNK: usize = 16 * 1024;

type ConnectReq = (
    SocketAddr,
    oneshot::Sender<std::io::Result<std::net::TcpStream>>,
);

/// A running relay; dropping it stops it (and its connections).
pub(crate) struct DelayRelay {
    task: tokio::task::JoinHandle<()>,
    /// (service port, relay port) inside the container's namespace.
    pub ports: Vec<(u16, u16)>,
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Join the network namespace of `pid` on this thread.
pub(crate) fn enter_netns(pid: u32) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: setns on a namespace fd we own; it changes only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Start a relay for `ports` of the container whose main process is `pid`.
pub(crate) async fn start(
    pid: u32,
    ports: &[u16],
    latency: Duration,
) -> Result<DelayRelay, String> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (conn_tx, mut conn_rx) = mpsc::channel::<ConnectReq>(64);
    let want = ports.to_vec();
    std::thread::Builder::new()
        .name(format!("netns-{pid}"))
        .spawn(move || {
            let listeners = enter_netns(pid).and_then(|()| {
                want.iter()
                    .map(|p| {
                        let l = std::net::TcpListener::bind(("0.0.0.0", 0))?;
                        l.set_nonblocking(true)?;
                        Ok((*p, l))
                    })
                    .collect::<std::io::Result<Vec<_>>>()
            });
            let ok = listeners.is_ok();
            if ready_tx.send(listeners).is_err() || !ok {
                return;
            }
            // Sockets made here belong to the container's namespace.
            while let Some((addr, reply)) = conn_rx.blocking_recv() {
                let r = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                    .and_then(|s| s.set_nonblocking(true).map(|()| s));
                let _ = reply.send(r);
            }
        })
        .map_err(|e| format!("cannot start the namespace thread: {e}"))?;
    let listeners = ready_rx
        .await
        .map_err(|_| "the namespace thread stopped".to_string())?
        .map_err(|e| format!("cannot listen in the container's network namespace: {e}"))?;
    let mut out_ports = Vec::new();
    let mut tokio_listeners = Vec::new();
    for (svc, l) in listeners {
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        out_ports.push((svc, port));
        tokio_listeners.push((svc, TcpListener::from_std(l).map_err(|e| e.to_string())?));
    }
    let task = tokio::spawn(async move {
        let mut set = JoinSet::new();
        for (svc, l) in tokio_listeners {
            let tx = conn_tx.clone();
            set.spawn(accept_loop(l, svc, tx, latency));
        }
        while set.join_next().await.is_some() {}
    });
    Ok(DelayRelay {
        task,
        ports: out_ports,
    })
}

async fn accept_loop(
    l: TcpListener,
    service_port: u16,
    connect: mpsc::Sender<ConnectReq>,
    latency: Duration,
) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((client, _)) = l.accept().await else {
            return;
        };
        // The address the client reached (the container's own address).
        let ip: IpAddr = match client.local_addr() {
            Ok(a) => a.ip(),
            Err(_) => continue,
        };
        let tx = connect.clone();
        conns.spawn(async move {
            let (reply, rx) = oneshot::channel();
            if tx
                .send((SocketAddr::new(ip, service_port), reply))
                .await
                .is_err()
            {
                return;
            }
            let Ok(Ok(std_up)) = rx.await else { return };
            let Ok(up) = TcpStream::from_std(std_up) else {
                return;
            };
            relay(client, up, latency).await;
        });
        // Reap finished connections so the set stays small.
        while conns.try_join_next().is_some() {}
    }
}

/// Copy both ways; data from the client is delivered `latency` after it arrived.
async fn relay(client: TcpStream, up: TcpStream, latency: Duration) {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = up.into_split();
    let (tx, mut rx) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(DELAY_QUEUE);
    let inbound = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let due = tokio::time::Instant::now() + latency;
                    if tx.send((due, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let deliver = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if uw.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = uw.shutdown().await;
    };
    let outbound = async move {
        let _ = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    let _ = tokio::join!(async { tokio::join!(inbound, deliver) }, outbound);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relay_delays_what_the_client_sends() {
        // Both ends on loopback of this namespace; the relay itself is the unit here.
        let service = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service_addr = service.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = service.accept().await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(&b).await.unwrap();
        });
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        tokio::spawn(async move {
            let (c, _) = front.accept().await.unwrap();
            let up = TcpStream::connect(service_addr).await.unwrap();
            relay(c, up, Duration::from_millis(300)).await;
        });
        let t = std::time::Instant::now();
        let mut c = TcpStream::connect(front_addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}
