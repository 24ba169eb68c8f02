//! The client side of `GET /loki/api/v1/tail`: a WebSocket whose text
//! frames are `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]}],
//! "dropped_entries":[{"labels":{…},"timestamp":"<ns>"}]}`.
//!
//! The upgrade goes through the same reqwest client as the queries, so the
//! auth header, the tenant and the TLS settings (CA file, skip-verify) apply
//! to the tail too; tokio-tungstenite then speaks WebSocket over the
//! upgraded connection.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use serde::Deserialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{
    error_chain, flatten, read_body, status_error, BodyError, Entry, LokiClient, LokiError,
    RawStream,
};
use crate::domain::sanitize::strip_all;

/// Largest frame accepted from Loki.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// A quiet tail is pinged after this long, so a dead connection is noticed.
pub const KEEPALIVE: Duration = Duration::from_secs(30);
/// Shortest wait for the answer to a ping.
const MIN_PING_WAIT: Duration = Duration::from_secs(5);

/// One frame of the tail, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailFrame {
    pub entries: Vec<Entry>,
    /// Entries Loki could not send (`dropped_entries`): lost lines.
    pub dropped: u64,
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(default)]
    streams: Option<Vec<RawStream>>,
    #[serde(default)]
    dropped_entries: Option<Vec<serde::de::IgnoredAny>>,
}

/// Parse one text frame.
pub fn parse_frame(text: &str) -> Result<TailFrame, LokiError> {
    let decode = |reason: String| LokiError::Tail {
        reason: format!("unreadable frame: {}", strip_all(&reason)),
    };
    let raw: RawFrame = serde_json::from_str(text).map_err(|e| decode(e.to_string()))?;
    let entries = flatten(raw.streams.unwrap_or_default()).map_err(decode)?;
    Ok(TailFrame {
        entries,
        dropped: raw.dropped_entries.map_or(0, |d| d.len() as u64),
    })
}

/// An open tail.
pub struct TailStream {
    ws: WebSocketStream<reqwest::Upgraded>,
    keepalive: Duration,
    ping_wait: Duration,
    last_seen: Instant,
    ping_sent: Option<Instant>,
}

impl TailStream {
    /// Open the tail of `query` from `start_ns` (Loki first sends up to
    /// `limit` entries it already has since then, newest ones, then live
    /// ones). The handshake is bounded by the client's timeout.
    pub async fn open(
        client: &LokiClient,
        query: &str,
        start_ns: i64,
        limit: usize,
    ) -> Result<TailStream, LokiError> {
        let timeout = client.timeout();
        match tokio::time::timeout(timeout, Self::handshake(client, query, start_ns, limit)).await {
            Ok(r) => r,
            Err(_) => Err(LokiError::Timeout {
                url: strip_all(client.url()),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    async fn handshake(
        client: &LokiClient,
        query: &str,
        start_ns: i64,
        limit: usize,
    ) -> Result<TailStream, LokiError> {
        let url = format!("{}/loki/api/v1/tail", client.url());
        let key = generate_key();
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("limit", limit.max(1).to_string()),
            ("delay_for", "0".to_string()),
        ];
        let mut resp = client
            .stream_http
            .get(&url)
            .query(&params)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_VERSION, "13")
            .header(SEC_WEBSOCKET_KEY, &key)
            .send()
            .await
            .map_err(|e| client.transport_error(&e))?;
        let status = resp.status().as_u16();
        if status != 101 {
            let body = match read_body(&mut resp).await {
                Ok(b) => b,
                Err(BodyError::Transport(e)) => return Err(client.transport_error(&e)),
                Err(BodyError::TooLarge) => b"(a very large error body)".to_vec(),
            };
            return Err(status_error(query, status, &body));
        }
        let expected = derive_accept_key(key.as_bytes());
        let accept = resp
            .headers()
            .get(SEC_WEBSOCKET_ACCEPT)
            .and_then(|v| v.to_str().ok());
        if accept != Some(expected.as_str()) {
            return Err(LokiError::Tail {
                reason: "the upgrade answer has a wrong Sec-WebSocket-Accept".into(),
            });
        }
        let upgraded = resp.upgrade().await.map_err(|e| LokiError::Tail {
            reason: format!("upgrade failed: {}", error_chain(&e)),
        })?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let ws = WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await;
        Ok(TailStream {
            ws,
            keepalive: KEEPALIVE,
            ping_wait: client.timeout().max(MIN_PING_WAIT),
            last_seen: Instant::now(),
            ping_sent: None,
        })
    }

    /// Ping after `quiet` without a message and give up when the answer
    /// takes longer than `wait` (defaults: [`KEEPALIVE`], the client's
    /// timeout but at least 5 s).
    pub fn keepalive(mut self, quiet: Duration, wait: Duration) -> Self {
        self.keepalive = quiet;
        self.ping_wait = wait;
        self
    }

    /// The next frame with content. An error when the connection fails or
    /// Loki closes it (with Loki's reason when it gave one).
    pub async fn next(&mut self) -> Result<TailFrame, LokiError> {
        loop {
            let deadline = match self.ping_sent {
                None => self.last_seen + self.keepalive,
                Some(at) => at + self.ping_wait,
            };
            let next = tokio::select! {
                next = self.ws.next() => next,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.ping_sent.is_some() {
                        return Err(LokiError::Tail {
                            reason: format!(
                                "no answer to a ping within {} ms",
                                self.ping_wait.as_millis()
                            ),
                        });
                    }
                    self.ws
                        .send(Message::Ping(Default::default()))
                        .await
                        .map_err(|e| LokiError::Tail { reason: error_chain(&e) })?;
                    self.ping_sent = Some(Instant::now());
                    continue;
                }
            };
            self.last_seen = Instant::now();
            self.ping_sent = None;
            let msg = match next {
                None => {
                    return Err(LokiError::Tail {
                        reason: "the connection closed".into(),
                    })
                }
                Some(Err(e)) => {
                    return Err(LokiError::Tail {
                        reason: error_chain(&e),
                    })
                }
                Some(Ok(m)) => m,
            };
            match msg {
                Message::Text(t) => {
                    let frame = parse_frame(t.as_str())?;
                    if !frame.entries.is_empty() || frame.dropped > 0 {
                        return Ok(frame);
                    }
                }
                Message::Close(frame) => {
                    let reason = match frame {
                        Some(f) if !f.reason.is_empty() => format!(
                            "Loki closed the tail ({}): {}",
                            u16::from(f.code),
                            strip_all(f.reason.as_str())
                        ),
                        Some(f) => format!("Loki closed the tail ({})", u16::from(f.code)),
                        None => "Loki closed the tail".into(),
                    };
                    return Err(LokiError::Tail { reason });
                }
                // Pings are answered by tungstenite; Loki sends no binary frames.
                Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Say goodbye politely (best effort).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frames_with_and_without_drops() {
        let f = parse_frame(
            r#"{"streams":[{"stream":{"app":"shop","env":"staging"},"values":[["1700000000000000001","a"],["1700000000000000002","b"]]}],"dropped_entries":null}"#,
        )
        .unwrap();
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.dropped, 0);
        assert_eq!(f.entries[1].line, "b");
        let f = parse_frame(
            r#"{"streams":[],"dropped_entries":[{"labels":{"app":"shop"},"timestamp":"1700000000000000003"},{"labels":{"app":"shop"},"timestamp":"1700000000000000004"}]}"#,
        )
        .unwrap();
        assert_eq!((f.entries.len(), f.dropped), (0, 2));
        let f = parse_frame(r#"{"streams":null}"#).unwrap();
        assert_eq!((f.entries.len(), f.dropped), (0, 0));
        assert!(matches!(parse_frame("[1,2]"), Err(LokiError::Tail { .. })));
        assert!(matches!(
            parse_frame(r#"{"streams":[{"stream":{},"values":[["x","y"]]}]}"#),
            Err(LokiError::Tail { .. })
        ));
    }
}
