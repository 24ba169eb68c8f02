//! One stage's command: `sh -c COMMAND` from the project directory in a
//! process group of its own, its stdout and stderr merged into a bounded
//! log. Cancelling kills the whole group (SIGTERM, then SIGKILL after a
//! grace period), children included; when the command ends on its own,
//! whatever it left running in its group is killed too.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::domain::sanitize::sanitize_bytes;

/// Lines kept from the start of a stage's output.
pub const HEAD_LINES: usize = 1_000;
/// Lines kept from its end.
pub const TAIL_LINES: usize = 4_000;
/// A longer line is cut (and counted as cut).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// How long a cancelled group has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long output readers may take after the group is gone (a process
/// that left the group could hold the pipe open).
const DRAIN: Duration = Duration::from_secs(5);

/// A stage's output: the first `HEAD_LINES` and the last `TAIL_LINES`
/// lines, each cleaned of escape sequences; the lines between are counted.
#[derive(Debug, Default)]
pub struct BoundedLog {
    head: Vec<String>,
    tail: std::collections::VecDeque<String>,
    pub total: u64,
    pub dropped: u64,
    pub cut_lines: u64,
    /// The file each line also goes to as it arrives (`live.rs`).
    live: Option<super::live::LiveFile>,
}

impl BoundedLog {
    /// A log whose lines are also written to `path` as they arrive.
    pub fn with_live(path: &Path) -> BoundedLog {
        BoundedLog {
            live: Some(super::live::LiveFile::create(path)),
            ..BoundedLog::default()
        }
    }

    /// Stop writing the live file (the stage is over).
    pub fn end_live(&mut self) {
        self.live = None;
    }

    /// The line taken last.
    pub fn newest(&self) -> Option<&str> {
        self.tail
            .back()
            .or_else(|| self.head.last())
            .map(String::as_str)
    }

    pub fn push(&mut self, raw: &[u8]) {
        self.total += 1;
        let line = if raw.len() > MAX_LINE_BYTES {
            self.cut_lines += 1;
            let mut s = sanitize_bytes(raw.get(..MAX_LINE_BYTES).unwrap_or(raw));
            s.push_str(" …[line cut]");
            s
        } else {
            sanitize_bytes(raw)
        };
        if self.head.len() < HEAD_LINES {
            self.head.push(line);
        } else {
            self.tail.push_back(line);
            if self.tail.len() > TAIL_LINES {
                self.tail.pop_front();
                self.dropped += 1;
            }
        }
        if let Some(mut live) = self.live.take() {
            live.after_push(self);
            self.live = Some(live);
        }
    }

    /// The log as stored: head, a line saying how many were dropped, tail.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.head {
            out.push_str(l);
            out.push('\n');
        }
        if self.dropped > 0 {
            out.push_str(&format!(
                "… {} lines dropped (a stage log keeps the first {HEAD_LINES} and the last {TAIL_LINES}) …\n",
                self.dropped
            ));
        }
        for l in &self.tail {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The last `n` lines kept.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        let all: Vec<&String> = self.head.iter().chain(self.tail.iter()).collect();
        let start = all.len().saturating_sub(n);
        all.get(start..)
            .unwrap_or_default()
            .iter()
            .map(|s| (*s).clone())
            .collect()
    }
}

/// How a stage's command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    Cancelled,
    SpawnFailed(String),
}

/// Run `command` with `sh -c` in `dir`; output goes to `log`.
pub async fn run_command(
    command: &str,
    dir: &Path,
    cancel: &CancellationToken,
    log: Arc<Mutex<BoundedLog>>,
) -> Exit {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Exit::SpawnFailed(format!("cannot start sh: {e}")),
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(out, log.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(err, log.clone())));
    }
    let exit = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(sig)) => Exit::Signal(sig),
                (None, None) => Exit::Code(-1),
            },
            Err(e) => Exit::SpawnFailed(format!("cannot wait for sh: {e}")),
        },
        _ = cancel.cancelled() => {
            signal_group(pgid, libc::SIGTERM);
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                signal_group(pgid, libc::SIGKILL);
                let _ = child.wait().await;
            }
            Exit::Cancelled
        }
    };
    // Whatever the command left behind in its group goes with it.
    signal_group(pgid, libc::SIGKILL);
    for r in readers {
        let abort = r.abort_handle();
        if tokio::time::timeout(DRAIN, r).await.is_err() {
            abort.abort();
        }
    }
    exit
}

fn signal_group(pgid: Option<i32>, sig: i32) {
    if let Some(pg) = pgid.filter(|p| *p > 1) {
        // SAFETY: killpg only sends a signal to the group we created.
        unsafe {
            libc::killpg(pg, sig);
        }
    }
}

async fn read_lines<R: AsyncRead + Unpin>(mut src: R, log: Arc<Mutex<BoundedLog>>) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' {
                push(&log, &line);
                line.clear();
            } else if line.len() <= MAX_LINE_BYTES {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        push(&log, &line);
    }
}

fn push(log: &Arc<Mutex<BoundedLog>>, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Ok(mut l) = log.lock() {
        l.push(line);
    }
}

#[cfg(test)]
mod tests;
