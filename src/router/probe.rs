//! The readiness probe both runtimes use: one `GET` on a loopback port.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET path` on 127.0.0.1:port; true on a 200 answer within the timeout.
pub async fn probe(port: u16, path: &str) -> bool {
    tokio::time::timeout(PROBE_TIMEOUT, probe_inner(port, path))
        .await
        .unwrap_or(false)
}

async fn probe_inner(port: u16, path: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nUser-Agent: blissful-infra-probe\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    // The status line is all we need; read at most a small prefix.
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    status_is_200(&buf[..n])
}

fn status_is_200(head: &[u8]) -> bool {
    head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200")
}

/// `GET path` on `addr`; the status code, or `None` when nothing answered
/// in time.
pub async fn get_status(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    tokio::time::timeout(PROBE_TIMEOUT, get_status_inner(addr, path))
        .await
        .ok()
        .flatten()
}

async fn get_status_inner(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: blissful-infra-smoke\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    status_code(&buf[..n])
}

/// The code of an `HTTP/1.x NNN` status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    let code = text.strip_prefix("HTTP/1.")?.get(2..5)?;
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_status_line_is_ready() {
        assert!(status_is_200(b"HTTP/1.1 200 OK"));
        assert!(status_is_200(b"HTTP/1.0 200 OK"));
        assert!(!status_is_200(b"HTTP/1.1 503 Service Unavailable"));
        assert!(!status_is_200(b""));
    }

    #[test]
    fn status_codes_are_read_from_the_status_line() {
        assert_eq!(status_code(b"HTTP/1.1 503 Service"), Some(503));
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(b"HTTP/1.1"), None);
    }
}
