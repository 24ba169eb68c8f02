//! Supervision of one instance (the sandbox's "pod"): start the process on a
//! free loopback port, turn its output into log lines, poll its readiness, and
//! restart it with exponential backoff when it exits, like a ReplicaSet.
//!
//! Children run in their own process group with `PR_SET_PDEATHSIG` = SIGKILL,
//! so neither they nor their children outlive a sandbox that is SIGKILLed.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::BufReader;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::VersionBehaviour;
use crate::domain::chaos::SigtermStop;
use crate::domain::environment::InstancePhase;
use crate::domain::logs::{Level, LogLine};

/// Line reading and parsing moved to `crate::logparse` (shared with Docker).
pub use crate::logparse::{parse_log_line, read_bounded_line, MAX_LINE_BYTES, TRUNCATED_MARKER};

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A child that ran this long has its backoff reset.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);
const PROBE_NOT_READY_EVERY: Duration = Duration::from_millis(250);
const PROBE_READY_EVERY: Duration = Duration::from_secs(2);
/// Consecutive failed probes that make a ready instance not ready.
const PROBE_FAILURES_TO_UNREADY: u32 = 3;
/// Time a stopping child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

use super::process::kill_group;
pub use super::process::{configure_child, free_port, signal_group};
pub use crate::clock::now_ms;
pub use crate::router::probe::probe;

/// How an instance's process is started.
#[derive(Clone, Debug, PartialEq)]
pub enum Launch {
    /// `<program> sample-service --port P --version V --instance ID [behaviour flags]`.
    Sample {
        program: PathBuf,
        behaviour: VersionBehaviour,
    },
    /// `sh -c <command>` with `PORT`, `VERSION` and `INSTANCE` exported; the
    /// shell expands `$PORT` etc. itself, so values are never spliced into
    /// the command text.
    Shell { command: String, cwd: PathBuf },
}

#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub env: Arc<str>,
    pub version: Arc<str>,
    pub id: Arc<str>,
    /// Unique per started instance; updates carry it so the owner can ignore
    /// late updates from an instance it already stopped.
    pub token: u64,
    pub launch: Launch,
    /// Exported to the process (before `PORT`, `VERSION`, `INSTANCE`).
    pub env_vars: Arc<[(String, String)]>,
    pub ready_path: String,
}

/// What the supervisor reports whenever the instance's state changes.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceUpdate {
    pub env: Arc<str>,
    pub token: u64,
    pub pid: Option<u32>,
    pub port: u16,
    pub phase: InstancePhase,
    pub restarts: u32,
}

/// Owner's handle; dropping it stops the instance too.
#[derive(Debug)]
pub struct InstanceHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl InstanceHandle {
    /// Ask the supervisor to terminate the child (SIGTERM, then SIGKILL) and
    /// exit; returns its task so the caller can wait for the process to be gone.
    pub fn stop(mut self) -> JoinHandle<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task
    }
}

/// Start supervising one instance. Must be called inside a tokio runtime.
pub fn spawn_instance(
    spec: InstanceSpec,
    updates: mpsc::Sender<InstanceUpdate>,
    logs: mpsc::Sender<LogLine>,
) -> InstanceHandle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(supervise(spec, stop_rx, updates, logs));
    InstanceHandle {
        stop: Some(stop_tx),
        task,
    }
}

/// Kills the child's whole process group if the supervisor is dropped while
/// the child may still run (runtime shutdown, aborted task).
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pg) = self.pgid {
            kill_group(pg, libc::SIGKILL);
        }
    }
}

fn build_command(spec: &InstanceSpec, port: u16) -> Command {
    let mut cmd = match &spec.launch {
        Launch::Sample { program, behaviour } => {
            let mut c = Command::new(program);
            c.arg("sample-service")
                .arg("--port")
                .arg(port.to_string())
                .arg("--version")
                .arg(&*spec.version)
                .arg("--instance")
                .arg(&*spec.id);
            if behaviour.latency_ms > 0 {
                c.arg("--latency-ms").arg(behaviour.latency_ms.to_string());
            }
            if behaviour.error_rate > 0.0 {
                c.arg("--error-rate").arg(behaviour.error_rate.to_string());
            }
            if behaviour.memory_growth_mib_per_min > 0.0 {
                c.arg("--memory-growth-mib-per-min")
                    .arg(behaviour.memory_growth_mib_per_min.to_string());
            }
            c
        }
        Launch::Shell { command, cwd } => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(command).current_dir(cwd);
            c
        }
    };
    cmd.envs(spec.env_vars.iter().map(|(k, v)| (k, v)))
        .env("PORT", port.to_string())
        .env("VERSION", &*spec.version)
        .env("INSTANCE", &*spec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure_child(&mut cmd);
    super::process::own_mount_namespace(&mut cmd);
    cmd
}

struct Reporter {
    spec: InstanceSpec,
    updates: mpsc::Sender<InstanceUpdate>,
    logs: mpsc::Sender<LogLine>,
}

impl Reporter {
    async fn update(&self, pid: Option<u32>, port: u16, phase: InstancePhase, restarts: u32) {
        let _ = self
            .updates
            .send(InstanceUpdate {
                env: self.spec.env.clone(),
                token: self.spec.token,
                pid,
                port,
                phase,
                restarts,
            })
            .await;
    }

    /// The owner may be shutting down and not reading: never wait here.
    fn update_now(&self, pid: Option<u32>, port: u16, phase: InstancePhase, restarts: u32) {
        let _ = self.updates.try_send(InstanceUpdate {
            env: self.spec.env.clone(),
            token: self.spec.token,
            pid,
            port,
            phase,
            restarts,
        });
    }

    fn line(&self, level: Level, text: String) -> LogLine {
        LogLine::new(
            now_ms(),
            self.spec.env.clone(),
            self.spec.version.clone(),
            self.spec.id.clone(),
            level,
            text,
        )
    }

    async fn log(&self, level: Level, text: String) {
        let _ = self.logs.send(self.line(level, text)).await;
    }

    /// A stop, logged as the sandbox itself (version `-`, source `sandbox`)
    /// so that no line a service prints can pass for one. The owner may be
    /// shutting down and not reading: never wait here.
    fn log_as_runtime(&self, stop: SigtermStop) {
        let level = if stop.killed {
            Level::Warn
        } else {
            Level::Info
        };
        let _ = self.logs.try_send(LogLine::new(
            now_ms(),
            self.spec.env.clone(),
            Arc::from("-"),
            Arc::from("sandbox"),
            level,
            Arc::from(stop.to_string()),
        ));
    }
}

async fn supervise(
    spec: InstanceSpec,
    mut stop: oneshot::Receiver<()>,
    updates: mpsc::Sender<InstanceUpdate>,
    logs: mpsc::Sender<LogLine>,
) {
    let rep = Reporter {
        spec,
        updates,
        logs,
    };
    let mut restarts = 0u32;
    let mut backoff = BACKOFF_START;
    loop {
        let started = Instant::now();
        let mut last_port = 0;
        let exit_code = match start(&rep).await {
            Ok((mut child, port)) => {
                last_port = port;
                let pid = child.id();
                let mut guard = GroupGuard {
                    pgid: pid.and_then(|p| i32::try_from(p).ok()),
                };
                rep.update(pid, port, InstancePhase::Starting, restarts)
                    .await;
                let outcome = tokio::select! {
                    biased;
                    _ = &mut stop => None,
                    status = child.wait() => Some(status),
                    _ = watch_readiness(&rep, pid, port, restarts) => None,
                };
                match outcome {
                    None => {
                        if let Some(stop) = terminate(&mut child, pid, &rep.spec.id).await {
                            rep.log_as_runtime(stop);
                        }
                        guard.disarm();
                        rep.update_now(None, port, InstancePhase::Stopped, restarts);
                        return;
                    }
                    Some(status) => {
                        // The leader is gone; take any process it left behind with it.
                        if let Some(p) = pid {
                            signal_group(p, libc::SIGKILL);
                        }
                        guard.disarm();
                        let (code, how) = match status {
                            Ok(s) => (s.code(), describe_exit(&s)),
                            Err(e) => (None, format!("could not be waited for: {e}")),
                        };
                        rep.log(Level::Warn, format!("instance {} {how}", rep.spec.id))
                            .await;
                        code
                    }
                }
            }
            Err(e) => {
                rep.log(
                    Level::Error,
                    format!("instance {} failed to start: {e}", rep.spec.id),
                )
                .await;
                None
            }
        };
        if started.elapsed() >= BACKOFF_RESET_AFTER {
            backoff = BACKOFF_START;
        }
        restarts = restarts.saturating_add(1);
        let restart_at = now_ms() + backoff.as_millis() as i64;
        rep.update(
            None,
            last_port,
            InstancePhase::BackingOff {
                exit_code,
                restart_at,
            },
            restarts,
        )
        .await;
        rep.log(
            Level::Info,
            format!(
                "instance {} restarts in {}s",
                rep.spec.id,
                backoff.as_secs()
            ),
        )
        .await;
        tokio::select! {
            biased;
            _ = &mut stop => {
                rep.update_now(None, last_port, InstancePhase::Stopped, restarts);
                return;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn describe_exit(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "exited".to_string(),
    }
}

/// Spawn the child on a fresh port and start forwarding its output.
async fn start(rep: &Reporter) -> std::io::Result<(Child, u16)> {
    let port = free_port().await?;
    let mut child = build_command(&rep.spec, port).spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_output(out, rep.spec.clone(), rep.logs.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_output(err, rep.spec.clone(), rep.logs.clone()));
    }
    Ok((child, port))
}

/// SIGTERM the group, give it a grace period, then SIGKILL and reap; says
/// how the instance answered (`None` when it had no pid to signal).
async fn terminate(child: &mut Child, pid: Option<u32>, id: &str) -> Option<SigtermStop> {
    let grace_ms = STOP_GRACE.as_millis() as u64;
    if let Some(p) = pid {
        let sent = Instant::now();
        signal_group(p, libc::SIGTERM);
        let exited = tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok();
        let after_ms = sent.elapsed().as_millis() as u64;
        // Also whatever the leader left behind in its group.
        signal_group(p, libc::SIGKILL);
        if !exited {
            let _ = child.kill().await;
        }
        return Some(SigtermStop {
            instance: id.to_string(),
            after_ms: after_ms.min(grace_ms),
            grace_ms,
            killed: !exited,
        });
    }
    let _ = child.kill().await;
    None
}

/// Poll readiness forever, reporting transitions. Never returns.
async fn watch_readiness(rep: &Reporter, pid: Option<u32>, port: u16, restarts: u32) {
    let mut ready = false;
    let mut failures = 0u32;
    loop {
        let ok = probe(port, &rep.spec.ready_path).await;
        if ok {
            failures = 0;
            if !ready {
                ready = true;
                rep.update(pid, port, InstancePhase::Ready, restarts).await;
            }
        } else if ready {
            failures += 1;
            if failures >= PROBE_FAILURES_TO_UNREADY {
                ready = false;
                failures = 0;
                rep.update(pid, port, InstancePhase::Starting, restarts)
                    .await;
                rep.log(
                    Level::Warn,
                    format!(
                        "instance {} failed {PROBE_FAILURES_TO_UNREADY} readiness probes",
                        rep.spec.id
                    ),
                )
                .await;
            }
        }
        tokio::time::sleep(if ready {
            PROBE_READY_EVERY
        } else {
            PROBE_NOT_READY_EVERY
        })
        .await;
    }
}

async fn forward_output<R>(out: R, spec: InstanceSpec, logs: mpsc::Sender<LogLine>)
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut reader = BufReader::with_capacity(32 * 1024, out);
    let mut buf = Vec::with_capacity(1024);
    loop {
        match read_bounded_line(&mut reader, &mut buf, MAX_LINE_BYTES).await {
            Ok(Some(truncated)) => {
                let mut line = parse_log_line(&buf, &spec.env, &spec.version, &spec.id, now_ms());
                if truncated {
                    line = line.with_suffix(TRUNCATED_MARKER);
                }
                // Waiting here applies back-pressure to the child rather than losing lines.
                if logs.send(line).await.is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests;
