//! The client side of the control socket: a [`Runtime`] that forwards every
//! call to the process serving the sandbox.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::protocol::{
    read_line_bounded, to_line, LineRead, Op, PingInfo, Reply, Request, MAX_REPLY_BYTES,
};
use super::DaemonError;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::logs::LogLine;
use crate::runtime::{
    ActionAccepted, Actor, Capabilities, History, Intent, Published, Runtime, RuntimeError,
    RuntimeEvent,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Actions return once accepted, so a minute is generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Stopping every instance of a sandbox can take a while.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// Events buffered locally for a subscriber; when it is full we stop reading
/// the socket, and the server counts what it cannot queue (`Lagged`).
pub const EVENT_BUFFER: usize = 1024;

/// A runtime served by another process on the control socket.
#[derive(Clone, Debug)]
pub struct RemoteRuntime {
    path: PathBuf,
    info: PingInfo,
    /// Sent with ops whose trait method takes no actor (status, logs, ...).
    actor: Actor,
}

impl RemoteRuntime {
    /// Connect to the sandbox serving `path` (pings it first).
    pub async fn connect(path: &Path) -> Result<RemoteRuntime, DaemonError> {
        let actor = Actor::current("cli");
        let info = call(path, &actor, Op::Ping, PING_TIMEOUT).await?;
        Ok(RemoteRuntime {
            path: path.to_path_buf(),
            info,
            actor,
        })
    }

    /// Use `actor` for ops that carry no actor of their own.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// What the server said when we connected.
    pub fn info(&self) -> &PingInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn ping(&self) -> Result<PingInfo, DaemonError> {
        call(&self.path, &self.actor, Op::Ping, PING_TIMEOUT).await
    }

    /// Ask the serving process to stop the runtime and exit; returns once it has stopped.
    pub async fn request_shutdown(&self) -> Result<(), DaemonError> {
        call(&self.path, &self.actor, Op::Shutdown, SHUTDOWN_TIMEOUT).await
    }

    async fn call<T: DeserializeOwned>(&self, actor: &Actor, op: Op) -> Result<T, RuntimeError> {
        Ok(call(&self.path, actor, op, CALL_TIMEOUT).await?)
    }

    async fn open_subscription(&self) -> Result<mpsc::Receiver<RuntimeEvent>, DaemonError> {
        let stream = open(&self.path).await?;
        let (rd, mut wr) = stream.into_split();
        let mut reader = BufReader::new(rd);
        let handshake = async {
            send_request(&mut wr, &self.actor, Op::Subscribe).await?;
            read_reply::<(), _>(&mut reader, "subscribe").await
        };
        tokio::time::timeout(CALL_TIMEOUT, handshake)
            .await
            .map_err(|_| DaemonError::Timeout {
                op: "subscribe",
                secs: CALL_TIMEOUT.as_secs(),
            })??;
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(async move {
            // Keep our write side open: the server takes its end as a hang-up.
            let _keep_open = wr;
            let mut buf = Vec::new();
            loop {
                let read = tokio::select! {
                    _ = tx.closed() => return,
                    r = read_line_bounded(&mut reader, &mut buf, MAX_REPLY_BYTES) => r,
                };
                match read {
                    Ok(LineRead::Line) => {}
                    Ok(LineRead::Eof) if !buf.is_empty() => {}
                    Ok(LineRead::Eof) | Err(_) => return,
                    Ok(LineRead::TooLong) => {
                        // The rest of the stream cannot be re-synchronised; report the loss and end.
                        let _ = tx.send(RuntimeEvent::Lagged { count: 1 }).await;
                        return;
                    }
                }
                // An event we cannot read (e.g. from a newer server) counts as lost.
                let ev = serde_json::from_slice(&buf).unwrap_or(RuntimeEvent::Lagged { count: 1 });
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

/// Whether a sandbox answers on `path`.
pub async fn is_running(path: &Path) -> bool {
    call::<PingInfo>(path, &Actor::current("cli"), Op::Ping, PING_TIMEOUT)
        .await
        .is_ok()
}

async fn open(path: &Path) -> Result<UnixStream, DaemonError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path)).await {
        Err(_) => Err(DaemonError::Timeout {
            op: "connect",
            secs: CONNECT_TIMEOUT.as_secs(),
        }),
        Ok(Ok(s)) => Ok(s),
        // No file, or a file nobody listens on (left by a crash).
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(DaemonError::NotRunning {
                path: path.to_path_buf(),
            })
        }
        Ok(Err(e)) => Err(DaemonError::io(
            format!("cannot connect to the control socket at {}", path.display()),
            e,
        )),
    }
}

async fn send_request<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    actor: &Actor,
    op: Op,
) -> Result<(), DaemonError> {
    let name = op.name();
    let line = to_line(&Request::new(actor, op))
        .map_err(|e| DaemonError::Protocol(format!("cannot encode the `{name}` request: {e}")))?;
    wr.write_all(&line)
        .await
        .map_err(|e| DaemonError::io(format!("cannot send the `{name}` request"), e))
}

async fn read_reply<T: DeserializeOwned, R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    op: &str,
) -> Result<T, DaemonError> {
    let mut buf = Vec::new();
    let read = read_line_bounded(reader, &mut buf, MAX_REPLY_BYTES)
        .await
        .map_err(|e| DaemonError::io(format!("cannot read the reply to `{op}`"), e))?;
    match read {
        LineRead::TooLong => {
            return Err(DaemonError::Protocol(format!(
                "the reply to `{op}` exceeds {MAX_REPLY_BYTES} bytes"
            )))
        }
        LineRead::Eof if buf.is_empty() => {
            return Err(DaemonError::Protocol(format!(
                "the sandbox closed the connection without answering `{op}`"
            )))
        }
        LineRead::Eof | LineRead::Line => {}
    }
    let reply: Reply<T> = serde_json::from_slice(&buf)
        .map_err(|e| DaemonError::Protocol(format!("unreadable reply to `{op}`: {e}")))?;
    reply.into_result().map_err(DaemonError::Remote)
}

/// One request, one reply, on a fresh connection.
async fn call<T: DeserializeOwned>(
    path: &Path,
    actor: &Actor,
    op: Op,
    limit: Duration,
) -> Result<T, DaemonError> {
    let name = op.name();
    let stream = open(path).await?;
    let exchange = async {
        let (rd, mut wr) = stream.into_split();
        send_request(&mut wr, actor, op).await?;
        let mut reader = BufReader::new(rd);
        read_reply(&mut reader, name).await
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| DaemonError::Timeout {
            op: name,
            secs: limit.as_secs(),
        })?
}

#[async_trait]
impl Runtime for RemoteRuntime {
    fn name(&self) -> &str {
        &self.info.runtime
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.call(&self.actor, Op::Status).await
    }

    fn capabilities(&self) -> Capabilities {
        self.info.capabilities.clone()
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        let op = Op::Intent {
            env: env.to_string(),
            intent,
        };
        self.call(actor, op).await
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        let op = Op::Promote {
            from: from.to_string(),
            to: to.to_string(),
        };
        self.call(actor, op).await
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        let op = Op::Inject {
            env: env.to_string(),
            scenario,
            params,
        };
        self.call(actor, op).await
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        let op = Op::Undo {
            experiment_id: experiment_id.to_string(),
        };
        self.call(actor, op).await
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        let op = Op::RecentLogs {
            env: env.map(str::to_string),
            limit,
        };
        self.call(&self.actor, op).await
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.call(&self.actor, Op::History).await
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        Ok(self.open_subscription().await?)
    }

    async fn publish(&self, actor: &Actor, item: Published) -> Result<u64, RuntimeError> {
        self.call(actor, Op::Publish { item }).await
    }

    /// The trait gives no way to report failure; use
    /// [`RemoteRuntime::request_shutdown`] to learn whether it worked.
    async fn shutdown(&self) {
        let _ = self.request_shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connecting_to_a_missing_socket_says_how_to_start_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.sock");
        let err = RemoteRuntime::connect(&path).await.unwrap_err();
        assert!(matches!(err, DaemonError::NotRunning { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("blissful-infra demo"), "{msg}");
        assert!(!is_running(&path).await);
    }

    #[tokio::test]
    async fn a_stale_socket_file_counts_as_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.sock");
        // A socket file whose listener is gone, as a crash leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let err = RemoteRuntime::connect(&path).await.unwrap_err();
        assert!(matches!(err, DaemonError::NotRunning { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_gives_a_protocol_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            // Read the request, then hang up without answering.
            let mut r = BufReader::new(s);
            let mut buf = Vec::new();
            read_line_bounded(&mut r, &mut buf, 1024).await.unwrap();
            drop(r);
        });
        let err = call::<PingInfo>(&path, &Actor::current("cli"), Op::Ping, PING_TIMEOUT)
            .await
            .unwrap_err();
        server.await.unwrap();
        assert!(
            err.to_string().contains("without answering `ping`"),
            "{err}"
        );
    }
}
