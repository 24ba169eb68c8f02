//! Serving a runtime on the control socket (see the module docs of `daemon`).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::protocol::{
    parse_request, read_line_bounded, to_line, LineRead, Op, PingInfo, Reply, MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES, PROTOCOL_VERSION,
};
use super::DaemonError;
use crate::domain::EpochMillis;
use crate::runtime::{Actor, RuntimeError, RuntimeEvent, SharedRuntime};

/// Events queued per subscriber before the server starts counting losses.
pub const SUBSCRIBER_QUEUE: usize = 1024;
/// Connections served at once; more are answered with an error and closed.
pub const MAX_CONNECTIONS: usize = 128;
/// A client must send its request line within this time.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A reply that cannot be written within this time is abandoned.
const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `serve` waits for open connections to finish after it stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the stale-socket probe waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who is serving; answered to `ping`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub pid: u32,
    /// Runtime name: `sandbox`, `docker`, `kubernetes`.
    pub runtime: String,
    pub project: String,
    pub started_at: EpochMillis,
}

impl ServerInfo {
    /// Info for a server started now by this process.
    pub fn new(runtime: impl Into<String>, project: impl Into<String>) -> Self {
        ServerInfo {
            pid: std::process::id(),
            runtime: runtime.into(),
            project: project.into(),
            started_at: chrono::Utc::now().timestamp_millis(),
        }
    }
}

struct Shared {
    runtime: SharedRuntime,
    ping: PingInfo,
    /// Set to true when a client sent the `shutdown` op.
    shutdown_op: watch::Sender<bool>,
    /// Whether `runtime.shutdown()` has completed (so it runs once).
    runtime_stopped: tokio::sync::Mutex<bool>,
    connections: Arc<Semaphore>,
}

impl Shared {
    async fn stop_runtime(&self) {
        let mut stopped = self.runtime_stopped.lock().await;
        if !*stopped {
            self.runtime.shutdown().await;
            *stopped = true;
        }
    }
}

/// A bound control socket, ready to [`serve`](ControlServer::serve).
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file we created, so we only remove our own.
    identity: (u64, u64),
    shared: Arc<Shared>,
}

impl ControlServer {
    /// Bind the socket (mode 0600) at `path`, replacing a stale socket file
    /// that nobody answers on. Fails if a live server already answers there.
    pub async fn bind(
        path: &Path,
        runtime: SharedRuntime,
        info: ServerInfo,
    ) -> Result<ControlServer, DaemonError> {
        clear_stale_socket(path).await?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| DaemonError::io(format!("cannot create {}", dir.display()), e))?;
        // Bind under a private name, restrict it, then rename into place: the
        // socket is never reachable at `path` with looser permissions, and the
        // rename atomically replaces a stale file.
        // Unique per bind; short, so it fits the socket path limit wherever
        // the final name does.
        static BINDS: AtomicU32 = AtomicU32::new(0);
        let n = BINDS.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{}-{n}.s", std::process::id()));
        remove_if_exists(&tmp).await?;
        let listener = UnixListener::bind(&tmp)
            .map_err(|e| DaemonError::io(format!("cannot bind {}", tmp.display()), e))?;
        let restrict = async {
            tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(|e| DaemonError::io(format!("cannot restrict {}", tmp.display()), e))?;
            tokio::fs::rename(&tmp, path).await.map_err(|e| {
                DaemonError::io(
                    format!("cannot move {} to {}", tmp.display(), path.display()),
                    e,
                )
            })?;
            tokio::fs::symlink_metadata(path)
                .await
                .map_err(|e| DaemonError::io(format!("cannot stat {}", path.display()), e))
        };
        let meta = match restrict.await {
            Ok(m) => m,
            Err(e) => {
                // Best effort: the error above is the one worth reporting.
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let (shutdown_op, _) = watch::channel(false);
        let ping = PingInfo {
            v: PROTOCOL_VERSION,
            pid: info.pid,
            runtime: info.runtime,
            project: info.project,
            started_at: info.started_at,
            capabilities: runtime.capabilities(),
        };
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            shared: Arc::new(Shared {
                runtime,
                ping,
                shutdown_op,
                runtime_stopped: tokio::sync::Mutex::new(false),
                connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fires (becomes true) when a client sent the `shutdown` op; by then
    /// `runtime.shutdown()` has completed.
    pub fn shutdown_requested(&self) -> watch::Receiver<bool> {
        self.shared.shutdown_op.subscribe()
    }

    /// Serve until `shutdown` becomes true (or its sender is dropped) or a
    /// client sends `shutdown`. Then stop accepting, end open subscriptions,
    /// give replies in flight a moment, and remove the socket file.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> Result<(), DaemonError> {
        let mut op_rx = self.shared.shutdown_op.subscribe();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        loop {
            // Reap finished connections so the set stays small.
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = fired(&mut shutdown) => break,
                _ = fired(&mut op_rx) => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => match self.shared.connections.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let shared = self.shared.clone();
                            let stop = stop_rx.clone();
                            tasks.spawn(async move {
                                handle_connection(stream, shared, stop).await;
                                drop(permit);
                            });
                        }
                        Err(_) => refuse_busy(&stream),
                    },
                    // Out of descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                },
            }
        }
        let _ = stop_tx.send(true);
        self.remove_socket_file().await;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.shutdown().await;
        }
        Ok(())
    }

    async fn remove_socket_file(&self) {
        // Only remove the file if it is still the socket we created.
        if let Ok(meta) = tokio::fs::symlink_metadata(&self.path).await {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = tokio::fs::remove_file(&self.path).await;
            }
        }
    }
}

/// Run `runtime` headless: serve the control socket until Ctrl-C, SIGTERM or
/// a `shutdown` op, then stop the runtime.
pub async fn run_headless(
    path: &Path,
    runtime: SharedRuntime,
    info: ServerInfo,
) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| DaemonError::io("cannot listen for SIGTERM", e))?;
    let server = ControlServer::bind(path, runtime, info).await?;
    let shared = server.shared.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let serve = server.serve(stop_rx);
    tokio::pin!(serve);
    let signalled = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    };
    tokio::select! {
        // Ended by a `shutdown` op, which already stopped the runtime.
        res = &mut serve => {
            shared.stop_runtime().await;
            res
        }
        _ = signalled => {
            let _ = stop_tx.send(true);
            let res = serve.await;
            shared.stop_runtime().await;
            res
        }
    }
}

/// Resolves once `rx` holds true, or its sender is gone.
async fn fired(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn remove_if_exists(path: &Path) -> Result<(), DaemonError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DaemonError::io(
            format!("cannot remove {}", path.display()),
            e,
        )),
    }
}

/// If `path` holds a socket, make sure nobody answers on it (then `bind`
/// replaces it); refuse to touch anything that is not a socket.
async fn clear_stale_socket(path: &Path) -> Result<(), DaemonError> {
    let meta = match tokio::fs::symlink_metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(DaemonError::io(
                format!("cannot stat {}", path.display()),
                e,
            ))
        }
    };
    if !meta.file_type().is_socket() {
        return Err(DaemonError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Ok(_)) | Err(_) => Err(DaemonError::AlreadyRunning {
            path: path.to_path_buf(),
        }),
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        Ok(Err(e)) => Err(DaemonError::io(
            format!("cannot probe {}", path.display()),
            e,
        )),
    }
}

/// Too many connections: say so without blocking the accept loop.
fn refuse_busy(stream: &UnixStream) {
    let reply: Reply<()> = Reply::Err(RuntimeError::Unavailable(format!(
        "the sandbox is serving {MAX_CONNECTIONS} connections already; try again"
    )));
    if let Ok(line) = to_line(&reply) {
        let _ = stream.try_write(&line);
    }
}

async fn handle_connection(stream: UnixStream, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        REQUEST_READ_TIMEOUT,
        read_line_bounded(&mut reader, &mut buf, MAX_REQUEST_BYTES),
    )
    .await;
    let invalid = |msg: String| -> Result<(), RuntimeError> { Err(RuntimeError::Failed(msg)) };
    match read {
        Err(_) => {
            let msg = format!(
                "invalid request: no request line within {}s",
                REQUEST_READ_TIMEOUT.as_secs()
            );
            write_reply(&mut wr, &encode(invalid(msg))).await;
            return;
        }
        // The peer broke the connection; nobody to answer.
        Ok(Err(_)) => return,
        Ok(Ok(LineRead::TooLong)) => {
            let msg = format!(
                "invalid request: the request line exceeds {} bytes",
                MAX_REQUEST_BYTES
            );
            write_reply(&mut wr, &encode(invalid(msg))).await;
            return;
        }
        // A probe (connect and close, e.g. `bind` checking for a live server).
        Ok(Ok(LineRead::Eof)) if buf.is_empty() => return,
        Ok(Ok(LineRead::Eof | LineRead::Line)) => {}
    }
    let request = match parse_request(&buf) {
        Ok(r) => r,
        Err(e) => {
            write_reply(&mut wr, &encode::<()>(Err(e))).await;
            return;
        }
    };
    let rt = &shared.runtime;
    let actor: &Actor = &request.actor;
    let line = match request.op {
        Op::Subscribe => return stream_events(&shared, reader, wr, stop).await,
        Op::Shutdown => {
            shared.stop_runtime().await;
            write_reply(&mut wr, &encode(Ok(()))).await;
            shared.shutdown_op.send_replace(true);
            return;
        }
        Op::Ping => encode(Ok(shared.ping.clone())),
        Op::Status => encode(rt.status().await),
        Op::Deploy { env, version } => encode(rt.deploy(actor, &env, &version).await),
        Op::Promote { from, to } => encode(rt.promote(actor, &from, &to).await),
        Op::Rollback { env } => encode(rt.rollback(actor, &env).await),
        Op::Intent { env, intent } => encode(rt.intent(actor, &env, intent).await),
        Op::SwitchTraffic { env, to_canary } => {
            encode(rt.switch_traffic(actor, &env, to_canary).await)
        }
        Op::Inject {
            env,
            scenario,
            params,
        } => encode(rt.inject(actor, &env, scenario, params).await),
        Op::Undo { experiment_id } => encode(rt.undo(actor, &experiment_id).await),
        Op::RecentLogs { env, limit } => encode(rt.recent_logs(env.as_deref(), limit).await),
        Op::History => encode(rt.history().await),
        Op::Publish { item } => encode(rt.publish(actor, item).await),
    };
    write_reply(&mut wr, &line).await;
}

/// Encode a reply line; a reply the client would refuse (too large) or that
/// cannot be encoded becomes an error reply instead.
fn encode<T: Serialize>(result: Result<T, RuntimeError>) -> Vec<u8> {
    let fallback = || {
        b"{\"err\":{\"kind\":\"failed\",\"message\":\"the reply could not be encoded\"}}\n".to_vec()
    };
    let error_line = |msg: String| {
        to_line(&Reply::<()>::Err(RuntimeError::Failed(msg))).unwrap_or_else(|_| fallback())
    };
    match to_line(&Reply::from(result)) {
        Ok(line) if line.len() <= MAX_REPLY_BYTES => line,
        Ok(line) => error_line(format!(
            "the reply is too large ({} bytes, the limit is {MAX_REPLY_BYTES}); ask for less",
            line.len()
        )),
        Err(e) => error_line(format!("the reply could not be encoded: {e}")),
    }
}

async fn write_reply(wr: &mut OwnedWriteHalf, line: &[u8]) {
    // A client that went away or stopped reading forfeits its reply.
    let _ = tokio::time::timeout(REPLY_WRITE_TIMEOUT, wr.write_all(line)).await;
}

/// Serve a `subscribe` request: acknowledge, then stream events until the
/// client hangs up, the runtime ends the stream, or the server stops.
async fn stream_events(
    shared: &Shared,
    mut reader: BufReader<OwnedReadHalf>,
    mut wr: OwnedWriteHalf,
    mut stop: watch::Receiver<bool>,
) {
    let events = match shared.runtime.subscribe().await {
        Ok(rx) => rx,
        Err(e) => {
            write_reply(&mut wr, &encode::<()>(Err(e))).await;
            return;
        }
    };
    match tokio::time::timeout(REPLY_WRITE_TIMEOUT, wr.write_all(&encode(Ok(())))).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let (qtx, mut qrx) = mpsc::channel(SUBSCRIBER_QUEUE);
    let writer = async move {
        while let Some(ev) = qrx.recv().await {
            let line = match to_line(&ev) {
                Ok(l) => l,
                // An event we cannot encode is reported as lost, not skipped silently.
                Err(_) => match to_line(&RuntimeEvent::Lagged { count: 1 }) {
                    Ok(l) => l,
                    Err(_) => continue,
                },
            };
            if wr.write_all(&line).await.is_err() {
                return;
            }
        }
    };
    let work = async move {
        tokio::join!(pump_events(events, qtx), writer);
    };
    // Requests are one line; anything the client sends afterwards is ignored
    // and its end of stream means it has gone.
    let hangup = async move {
        let mut scratch = [0u8; 512];
        loop {
            match reader.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = work => {},
        _ = hangup => {},
        _ = fired(&mut stop) => {},
    }
}

/// Move events from the runtime into a subscriber's bounded queue. When the
/// queue is full the event is counted as lost, and a `Lagged` event with the
/// count is queued as soon as there is room (before any later event), so a
/// slow client costs bounded memory and always learns what it missed.
/// Upstream `Lagged` events are merged into the same count.
pub(crate) async fn pump_events(
    mut events: mpsc::Receiver<RuntimeEvent>,
    queue: mpsc::Sender<RuntimeEvent>,
) {
    let mut lost: u64 = 0;
    loop {
        tokio::select! {
            biased;
            _ = queue.closed() => return,
            permit = queue.reserve(), if lost > 0 => match permit {
                Ok(p) => {
                    p.send(RuntimeEvent::Lagged { count: lost });
                    lost = 0;
                }
                Err(_) => return,
            },
            ev = events.recv() => match ev {
                None => {
                    if lost > 0 {
                        let _ = queue.send(RuntimeEvent::Lagged { count: lost }).await;
                    }
                    return;
                }
                Some(RuntimeEvent::Lagged { count }) => lost = lost.saturating_add(count),
                Some(ev) => {
                    if lost > 0 {
                        match queue.try_send(RuntimeEvent::Lagged { count: lost }) {
                            Ok(()) => lost = 0,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                lost = lost.saturating_add(1);
                                continue;
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                    match queue.try_send(ev) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => lost = lost.saturating_add(1),
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
