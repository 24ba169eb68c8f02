//! One worker's keep-alive HTTP/1.1 connection and the request it sends on it.

use std::net::SocketAddr;
use std::pin::Pin;

use futures::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::engine::Phase;
use super::ErrorKind;

/// A worker's HTTP/1.1 connection. The worker drives the connection itself
/// (no task of its own), so a request and its response never cross tasks.
pub(super) struct Http1 {
    sender: SendRequest<Empty<Bytes>>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
    /// The driver completed (it must not be polled again).
    finished: bool,
}

pub(super) type Conn = Option<Http1>;

/// One request on the worker's connection (made first when there is none).
/// Returns the status after the body was read to its end.
pub(super) async fn request(conn: &mut Conn, phase: &Phase, path: &str) -> Result<u16, ErrorKind> {
    // A connection the server closed while idle is replaced before use.
    let stale = match conn.as_mut() {
        None => true,
        Some(c) => c.finished || c.sender.is_closed() || c.driver.as_mut().now_or_never().is_some(),
    };
    if stale {
        *conn = Some(connect(phase.spec.target.addr).await?);
    }
    let Some(Http1 {
        sender,
        driver,
        finished,
    }) = conn.as_mut()
    else {
        return Err(ErrorKind::Connect);
    };
    let exchange = async {
        sender.ready().await.map_err(hyper_kind)?;
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, phase.spec.target.host.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|_| ErrorKind::Protocol)?;
        let resp = sender.send_request(req).await.map_err(hyper_kind)?;
        let status = resp.status().as_u16();
        // Drain without keeping the body: memory stays flat whatever the size.
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(hyper_kind)?;
        }
        Ok(status)
    };
    let mut exchange = std::pin::pin!(exchange);
    let ended = tokio::select! {
        biased;
        r = &mut exchange => return r,
        r = driver.as_mut() => r,
    };
    // The connection ended first (e.g. `Connection: close` after the answer):
    // what was read still completes the exchange; otherwise it fails.
    *finished = true;
    match exchange.await {
        Ok(status) => Ok(status),
        Err(kind) => Err(match ended {
            Err(e) => hyper_kind(e),
            Ok(()) => kind,
        }),
    }
}

fn hyper_kind(e: hyper::Error) -> ErrorKind {
    if e.is_canceled() || e.is_incomplete_message() || e.is_closed() {
        ErrorKind::Closed
    } else {
        ErrorKind::Protocol
    }
}

async fn connect(addr: SocketAddr) -> Result<Http1, ErrorKind> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            _ => ErrorKind::Connect,
        })?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    Ok(Http1 {
        sender,
        driver: Box::pin(connection),
        finished: false,
    })
}
