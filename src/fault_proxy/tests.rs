use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::address::{endpoints, rewrite};
use super::dns::{servfail_reply, ServfailResponder, RCODE_FORMERR, RCODE_SERVFAIL};
use super::*;

/// An upstream that echoes what it reads, on 127.0.0.1.
async fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    if s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn proxy_to_echo() -> FaultProxy {
    FaultProxy::start(&echo_upstream().await.to_string())
        .await
        .unwrap()
}

/// One exchange: send `ping`, read it back; how long it took.
async fn exchange(c: &mut TcpStream) -> std::io::Result<Duration> {
    let t = Instant::now();
    c.write_all(b"ping").await?;
    let mut b = [0u8; 4];
    c.read_exact(&mut b).await?;
    assert_eq!(&b, b"ping");
    Ok(t.elapsed())
}

#[test]
fn faults_merge_to_the_worst_of_each_and_default_is_pass_through() {
    let a = ProxyFault {
        latency_ms: 300,
        ..Default::default()
    };
    let b = ProxyFault {
        latency_ms: 100,
        loss_rate: 0.5,
        hang: true,
        ..Default::default()
    };
    let m = a.merge(&b);
    assert_eq!(m.latency_ms, 300);
    assert_eq!(m.loss_rate, 0.5);
    assert!(m.hang && !m.refuse);
    assert!(ProxyFault::default().is_pass_through());
    assert!(!m.is_pass_through());
    assert_eq!(ProxyFault::default().chunk_delay(), None);
    assert_eq!(a.chunk_delay(), Some(Duration::from_millis(300)));
    let lossy = ProxyFault {
        loss_rate: 1.0,
        ..Default::default()
    };
    assert_eq!(lossy.chunk_delay(), Some(LOSS_STALL));
}

#[test]
fn addresses_are_found_in_urls_and_lists_and_only_they_are_rewritten() {
    let v = "postgres://app:s3cr@t@db.local:5433/app?sslmode=disable";
    let e = endpoints(v).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].upstream, "db.local:5433");
    let proxy: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    assert_eq!(
        rewrite(v, &[(e[0].clone(), proxy)]),
        "postgres://app:s3cr@t@127.0.0.1:40000/app?sslmode=disable"
    );
    // The scheme gives the port.
    let v = "jdbc:postgresql://db/app";
    let e = endpoints(v).unwrap();
    assert_eq!(e[0].upstream, "db:5432");
    assert_eq!(
        rewrite(v, &[(e[0].clone(), proxy)]),
        "jdbc:postgresql://127.0.0.1:40000/app"
    );
    assert_eq!(
        endpoints("redis://cache/0").unwrap()[0].upstream,
        "cache:6379"
    );
    // Kafka's list, with and without a listener name; libpq's several hosts.
    let v = "k1:9092,PLAINTEXT://k2:9093";
    let e = endpoints(v).unwrap();
    let ups: Vec<&str> = e.iter().map(|e| e.upstream.as_str()).collect();
    assert_eq!(ups, vec!["k1:9092", "k2:9093"]);
    let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    assert_eq!(
        rewrite(v, &[(e[0].clone(), proxy), (e[1].clone(), other)]),
        "127.0.0.1:40000,PLAINTEXT://127.0.0.1:40001"
    );
    let e = endpoints("postgresql://u@h1:5432,h2:5433/db").unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].upstream, "h2:5433");
    assert_eq!(
        endpoints("postgres://[::1]:5432/x").unwrap()[0].upstream,
        "[::1]:5432"
    );
    // Nothing to proxy: a Unix socket, no port, not an address.
    assert!(endpoints("postgres:///app?host=/run/postgresql").is_err());
    assert!(endpoints("kafka").unwrap_err().contains("no port"));
    assert!(endpoints("").is_err());
    assert!(endpoints("db:notaport")
        .unwrap_err()
        .contains("no valid port"));
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    // RD set; one question.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    // End of name, type A, class IN.
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn servfail_echoes_id_and_question_and_ignores_responses() {
    let q = query(0xBEEF, "db.example.com");
    let r = servfail_reply(&q).unwrap();
    assert_eq!(&r[..2], &[0xBE, 0xEF]);
    assert_eq!(r[2] & 0x80, 0x80, "QR set");
    assert_eq!(r[2] & 0x01, 0x01, "RD kept");
    assert_eq!(r[3] & 0x0F, RCODE_SERVFAIL);
    assert_eq!(&r[4..6], &[0, 1], "one question");
    assert_eq!(&r[6..12], &[0; 6], "no answers");
    assert_eq!(&r[12..], &q[12..]);
    // A response is not answered; a short packet neither.
    assert_eq!(servfail_reply(&r), None);
    assert_eq!(servfail_reply(&q[..5]), None);
    // A question cut short is a format error.
    let cut = servfail_reply(&q[..q.len() - 2]).unwrap();
    assert_eq!(cut[3] & 0x0F, RCODE_FORMERR);
    assert_eq!(cut.len(), 12);
}

#[tokio::test]
async fn responder_answers_a_real_udp_query_with_servfail() {
    let dns = ServfailResponder::start().await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let q = query(0x1234, "kafka.internal");
    client.send_to(&q, dns.addr()).await.unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, dns.addr());
    assert_eq!(&buf[..2], &[0x12, 0x34]);
    assert_eq!(buf[3] & 0x0F, RCODE_SERVFAIL);
    assert_eq!(&buf[12..n], &q[12..]);
    assert_eq!(dns.answered(), 1);
}

#[tokio::test]
async fn pass_through_relays_both_ways_and_counts_bytes() {
    let p = proxy_to_echo().await;
    assert!(p.addr().ip().is_loopback());
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    for _ in 0..3 {
        exchange(&mut c).await.unwrap();
    }
    let s = p.stats();
    assert_eq!(s.connections, 1);
    assert_eq!(s.active, 1);
    assert_eq!((s.bytes_to_upstream, s.bytes_to_client), (12, 12));
    assert_eq!(s.faulted_connections, 0);
    drop(c);
    let t = Instant::now();
    while p.stats().active != 0 && t.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(p.stats().active, 0);
}

#[tokio::test]
async fn latency_delays_each_exchange_and_is_switched_off_live() {
    let p = proxy_to_echo().await;
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let fast = exchange(&mut c).await.unwrap();
    p.set_fault(ProxyFault {
        latency_ms: 150,
        ..Default::default()
    });
    // The same connection follows the new fault.
    for _ in 0..2 {
        let slow = exchange(&mut c).await.unwrap();
        assert!(slow >= Duration::from_millis(150), "{slow:?}");
        assert!(slow < Duration::from_millis(1500), "{slow:?}");
    }
    p.set_fault(ProxyFault::default());
    let after = exchange(&mut c).await.unwrap();
    assert!(
        after < Duration::from_millis(100),
        "{after:?} (before: {fast:?})"
    );
    assert_eq!(p.stats().faulted_connections, 1);
}

#[tokio::test]
async fn loss_stalls_chunks_without_losing_bytes() {
    let p = proxy_to_echo().await;
    p.set_fault(ProxyFault {
        loss_rate: 1.0,
        ..Default::default()
    });
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let stalled = exchange(&mut c).await.unwrap();
    assert!(stalled >= LOSS_STALL, "{stalled:?}");
    p.set_fault(ProxyFault::default());
    let after = exchange(&mut c).await.unwrap();
    assert!(after < Duration::from_millis(100), "{after:?}");
}

/// True when the peer reset the connection: the write or the read after it
/// fails with a reset (a received RST is reported once, to whichever is first).
async fn was_reset(c: &mut TcpStream) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    if let Err(e) = c.write_all(b"ping").await {
        return matches!(e.kind(), ConnectionReset | BrokenPipe);
    }
    let mut b = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), c.read(&mut b)).await,
        Ok(Err(e)) if e.kind() == ConnectionReset
    )
}

/// A new connection to `addr` is reset; the RST can come before the
/// connect is seen to complete.
async fn new_connection_reset(addr: SocketAddr) -> bool {
    match TcpStream::connect(addr).await {
        Ok(mut c) => was_reset(&mut c).await,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[tokio::test]
async fn refuse_resets_new_and_open_connections_until_cleared() {
    let p = proxy_to_echo().await;
    let mut open = TcpStream::connect(p.addr()).await.unwrap();
    exchange(&mut open).await.unwrap();
    p.set_fault(ProxyFault {
        refuse: true,
        ..Default::default()
    });
    assert!(was_reset(&mut open).await, "the open connection is reset");
    assert!(
        new_connection_reset(p.addr()).await,
        "a new connection is reset"
    );
    assert_eq!(p.stats().faulted_connections, 2);
    p.set_fault(ProxyFault::default());
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    exchange(&mut c).await.unwrap();
}

#[tokio::test]
async fn hang_accepts_and_never_answers_so_the_client_times_out() {
    let p = proxy_to_echo().await;
    let mut open = TcpStream::connect(p.addr()).await.unwrap();
    exchange(&mut open).await.unwrap();
    p.set_fault(ProxyFault {
        hang: true,
        ..Default::default()
    });
    let mut fresh = TcpStream::connect(p.addr()).await.unwrap();
    for c in [&mut open, &mut fresh] {
        let timed_out = tokio::time::timeout(Duration::from_millis(300), exchange(c)).await;
        assert!(timed_out.is_err(), "the client's own timeout fired");
    }
    assert_eq!(p.stats().faulted_connections, 2);
    // Cleared: the stalled exchanges complete and the connections work on.
    p.set_fault(ProxyFault::default());
    for c in [&mut open, &mut fresh] {
        let mut b = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&b, b"ping");
        exchange(c).await.unwrap();
    }
}

#[tokio::test]
async fn an_unreachable_upstream_resets_the_client_and_is_counted() {
    // A port nothing listens on: bind, note, release.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = gone.local_addr().unwrap();
    drop(gone);
    let p = FaultProxy::start(&addr.to_string()).await.unwrap();
    assert_eq!(p.upstream(), addr.to_string());
    assert!(new_connection_reset(p.addr()).await);
    assert_eq!(p.stats().upstream_failures, 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_listener() {
    let p = proxy_to_echo().await;
    let addr = p.addr();
    drop(p);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}
