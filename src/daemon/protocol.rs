//! Wire format of the control socket: newline-delimited JSON.
//!
//! A client sends exactly one [`Request`] line per connection and reads
//! [`Reply`] lines back: one for every op, and for `subscribe` an
//! acknowledgement followed by one [`RuntimeEvent`] per line until either
//! side hangs up.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::environment::Version;
use crate::domain::sanitize::strip_all;
use crate::domain::EpochMillis;
use crate::runtime::{Actor, RuntimeError};

/// Version of this protocol; a request with another `v` is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the server reads (1 MiB).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Longest reply or event line the client reads (16 MiB). The server refuses
/// to send a reply larger than this rather than send one the client drops.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// One request line: `{"v":1,"actor":{...},"op":{"op":"status"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub actor: Actor,
    pub op: Op,
}

impl Request {
    pub fn new(actor: &Actor, op: Op) -> Self {
        Request {
            v: PROTOCOL_VERSION,
            actor: actor.clone(),
            op,
        }
    }
}

/// Operations, one per method of [`crate::runtime::Runtime`] plus `ping`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Status,
    Deploy {
        env: String,
        version: Version,
    },
    Promote {
        from: String,
        to: String,
    },
    Rollback {
        env: String,
    },
    SwitchTraffic {
        env: String,
        to_canary: bool,
    },
    /// Any rollout intent (`deploy`, `pause`, `abort`, `undo`, ...).
    Intent {
        env: String,
        intent: crate::runtime::Intent,
    },
    Inject {
        env: String,
        scenario: ScenarioKind,
        #[serde(default)]
        params: FaultParams,
    },
    Undo {
        experiment_id: String,
    },
    RecentLogs {
        #[serde(default)]
        env: Option<String>,
        limit: usize,
    },
    History,
    Publish {
        item: crate::runtime::Published,
    },
    Subscribe,
    Shutdown,
    Ping,
}

impl Op {
    /// Name as written on the wire, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Status => "status",
            Op::Deploy { .. } => "deploy",
            Op::Promote { .. } => "promote",
            Op::Rollback { .. } => "rollback",
            Op::SwitchTraffic { .. } => "switch_traffic",
            Op::Intent { .. } => "intent",
            Op::Inject { .. } => "inject",
            Op::Undo { .. } => "undo",
            Op::RecentLogs { .. } => "recent_logs",
            Op::History => "history",
            Op::Publish { .. } => "publish",
            Op::Subscribe => "subscribe",
            Op::Shutdown => "shutdown",
            Op::Ping => "ping",
        }
    }
}

/// A reply line: `{"ok": <value>}` or `{"err": <RuntimeError>}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Err(RuntimeError),
}

impl<T> From<Result<T, RuntimeError>> for Reply<T> {
    fn from(r: Result<T, RuntimeError>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Err(e),
        }
    }
}

impl<T> Reply<T> {
    pub fn into_result(self) -> Result<T, RuntimeError> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Err(e) => Err(e),
        }
    }
}

/// What `ping` answers: who is serving the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingInfo {
    /// Protocol version the server speaks.
    pub v: u32,
    pub pid: u32,
    /// Runtime name: `sandbox`, `docker`, `kubernetes`.
    pub runtime: String,
    pub project: String,
    pub started_at: EpochMillis,
    /// What the served runtime can do, so a client greys out the rest.
    pub capabilities: crate::runtime::Capabilities,
}

/// Parse one request line. Errors read `invalid request at column N: ...`.
pub fn parse_request(line: &[u8]) -> Result<Request, RuntimeError> {
    let req: Request = serde_json::from_slice(line).map_err(|e| {
        RuntimeError::Failed(format!(
            "invalid request at column {}: {}",
            e.column(),
            // serde quotes unknown names as the client wrote them.
            strip_all(strip_position(&e.to_string()))
        ))
    })?;
    if req.v != PROTOCOL_VERSION {
        return Err(RuntimeError::Failed(format!(
            "invalid request: protocol version {} is not supported (this server speaks {})",
            req.v, PROTOCOL_VERSION
        )));
    }
    Ok(req)
}

/// serde_json appends ` at line L column C`; the column is reported separately.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// Serialise `value` as one line (with the trailing newline).
pub fn to_line<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut buf = serde_json::to_vec(value)?;
    buf.push(b'\n');
    Ok(buf)
}

/// How a bounded line read ended.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A full line is in the buffer (without its newline).
    Line,
    /// The peer closed the stream; any partial line is in the buffer.
    Eof,
    /// More than `max` bytes came before a newline; the rest was not read.
    TooLong,
}

/// Read one `\n`-terminated line into `buf` (cleared first), reading at most
/// `max` bytes of it so a peer cannot make us buffer without bound.
pub async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(LineRead::Eof);
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(i) => {
                if buf.len() + i > max {
                    return Ok(LineRead::TooLong);
                }
                buf.extend_from_slice(&available[..i]);
                reader.consume(i + 1);
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                return Ok(LineRead::Line);
            }
            None => {
                let n = available.len();
                if buf.len() + n > max {
                    return Ok(LineRead::TooLong);
                }
                buf.extend_from_slice(available);
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests;
