use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::fault_proxy::dns::RCODE_SERVFAIL;

/// A query for `db.` type A, id 0x1234, recursion desired.
fn query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(&[2, b'd', b'b', 0, 0, 1, 0, 1]);
    q
}

// The sinks join a namespace by pid; this process's own is the one a test
// can use without a container (setns needs CAP_SYS_ADMIN: root).
fn can_setns() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test]
async fn servfail_sink_answers_udp_and_tcp_queries_with_servfail() {
    if !can_setns() {
        eprintln!("skipping: setns needs root");
        return;
    }
    let sink = start_servfail(std::process::id()).await.unwrap();
    let u = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    u.send_to(&query(), ("127.0.0.1", sink.udp_port))
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), u.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..2], &[0x12, 0x34]);
    assert_eq!(buf[3] & 0x0f, RCODE_SERVFAIL, "{:?}", &buf[..n]);

    let mut t = tokio::net::TcpStream::connect(("127.0.0.1", sink.tcp_port))
        .await
        .unwrap();
    let q = query();
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    t.write_all(&msg).await.unwrap();
    let mut len = [0u8; 2];
    t.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    t.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[3] & 0x0f, RCODE_SERVFAIL);
    assert_eq!(sink.answered(), 2);
}

#[tokio::test]
async fn hang_sink_accepts_and_never_answers() {
    if !can_setns() {
        eprintln!("skipping: setns needs root");
        return;
    }
    let sink = start_hang(std::process::id()).await.unwrap();
    let mut c = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.1", sink.port)),
    )
    .await
    .unwrap()
    .unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_millis(700), c.read(&mut b)).await;
    assert!(r.is_err(), "answered: {r:?}");
    assert_eq!(sink.held(), 1);
    // Dropped: the port closes and so does the held connection.
    drop(sink);
    let r = tokio::time::timeout(Duration::from_secs(2), c.read(&mut b)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "{r:?}");
}
