//! Following the one log the Pipeline pane shows. The console names it
//! through a `watch` channel; a new name drops the old follower (the
//! newest request wins). Every line is sanitised, then coloured where it
//! fits, before it leaves this task.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{from_jenkins, BuildsEvent, LogKey, LogUpdate, Origin};
use crate::domain::sanitize::{sanitize_bytes, sanitize_str};
use crate::highlight::{Highlighter, Painted};
use crate::pipeline::RunStore;
use crate::sources::jenkins::{spawn_run_watch, JenkinsClient, JenkinsEvent, WatchOptions};

/// Between two looks at a local log file.
pub const POLL: Duration = Duration::from_millis(300);
/// Most bytes read from a log file in one look.
pub const MAX_READ: u64 = 1024 * 1024;
/// A log file larger than this is shown from its last this many bytes.
pub const MAX_START: u64 = 2 * 1024 * 1024;
/// Longest line kept, in bytes (the runner cuts at the same length).
const MAX_LINE: usize = crate::pipeline::exec::MAX_LINE_BYTES;

/// Follow what `rx` names until `tx` is closed.
pub async fn run(
    store: RunStore,
    client: Option<JenkinsClient>,
    mut rx: watch::Receiver<Option<LogKey>>,
    tx: mpsc::Sender<BuildsEvent>,
) {
    loop {
        let key = rx.borrow_and_update().clone();
        let follow = async {
            match &key {
                Some(k) => follow_one(k, &store, client.as_ref(), &tx).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            closed = follow => {
                if closed || rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Returns true when `tx` is closed.
async fn follow_one(
    key: &LogKey,
    store: &RunStore,
    client: Option<&JenkinsClient>,
    tx: &mpsc::Sender<BuildsEvent>,
) -> bool {
    let send = |update| BuildsEvent::Log {
        key: key.clone(),
        update,
    };
    match key.run.origin {
        Origin::Local => {
            let Some(file) = key.file.as_deref().filter(|f| plain_name(f)) else {
                return tx
                    .send(send(LogUpdate::Problem("this stage has no log".into())))
                    .await
                    .is_err();
            };
            let mut tail = FileTail::new(store.run_dir(key.run.id).join(file));
            let mut told_missing = false;
            loop {
                let update = match tail.read_new() {
                    Ok(Some(u)) => Some(u),
                    Ok(None) => None,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (!std::mem::replace(&mut told_missing, true))
                            .then(|| LogUpdate::Problem("no log written yet".into()))
                    }
                    Err(e) => Some(LogUpdate::Problem(format!("cannot read the log: {e}"))),
                };
                if let Some(u) = update {
                    if tx.send(send(u)).await.is_err() {
                        return true;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return true,
                }
            }
        }
        Origin::Jenkins => {
            let Some(client) = client else {
                let why = "Jenkins is not reachable from this console (see its state)";
                return tx.send(send(LogUpdate::Problem(why.into()))).await.is_err();
            };
            follow_jenkins(key, client, tx).await
        }
    }
}

async fn follow_jenkins(
    key: &LogKey,
    client: &JenkinsClient,
    tx: &mpsc::Sender<BuildsEvent>,
) -> bool {
    let send = |update| BuildsEvent::Log {
        key: key.clone(),
        update,
    };
    if tx.send(send(LogUpdate::Replace(Vec::new()))).await.is_err() {
        return true;
    }
    let (jtx, mut jrx) = mpsc::channel(64);
    // It stops once `jrx` is dropped.
    let _watch = spawn_run_watch(client.clone(), key.run.id, WatchOptions::default(), jtx);
    let mut painter = Highlighter::new();
    while let Some(ev) = jrx.recv().await {
        let out = match ev {
            JenkinsEvent::Console(lines) => send(LogUpdate::Append(
                lines
                    .iter()
                    .map(|l| painter.paint(&sanitize_str(l)))
                    .collect(),
            )),
            JenkinsEvent::Dropped(n) => send(LogUpdate::Dropped(n)),
            JenkinsEvent::Run(run) => BuildsEvent::Run {
                origin: Origin::Jenkins,
                run: from_jenkins(&run, client.job()),
            },
            JenkinsEvent::State(crate::runtime::SourceState::Degraded(why)) => send(
                LogUpdate::Problem(format!("cannot read the console: {why}")),
            ),
            JenkinsEvent::State(_) | JenkinsEvent::Failed(_) | JenkinsEvent::Finished => continue,
        };
        if tx.send(out).await.is_err() {
            return true;
        }
    }
    false
}

/// A log file name as the runner writes it: no directory, nothing hidden.
fn plain_name(f: &str) -> bool {
    !f.is_empty() && !f.starts_with('.') && !f.contains(['/', '\\', '\0'])
}

/// A log file read as it grows; read again from the start when it was
/// replaced (another inode) or cut (shorter than what was read).
pub struct FileTail {
    path: PathBuf,
    file_id: Option<(u64, u64)>,
    offset: u64,
    partial: Vec<u8>,
    /// Drop the bytes up to the first newline (the read started mid-file).
    skip_to_newline: bool,
    painter: Highlighter,
    started: bool,
}

impl FileTail {
    pub fn new(path: PathBuf) -> FileTail {
        FileTail {
            path,
            file_id: None,
            offset: 0,
            partial: Vec::new(),
            skip_to_newline: false,
            painter: Highlighter::new(),
            started: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What changed since the last look; `None` when nothing did.
    pub fn read_new(&mut self) -> std::io::Result<Option<LogUpdate>> {
        use std::os::unix::fs::MetadataExt;
        let mut f = std::fs::File::open(&self.path)?;
        let meta = f.metadata()?;
        let id = (meta.dev(), meta.ino());
        let len = meta.len();
        let mut replace = !self.started;
        if self.file_id != Some(id) || len < self.offset {
            replace = true;
            self.file_id = Some(id);
            self.offset = 0;
            self.partial.clear();
            self.skip_to_newline = false;
            self.painter = Highlighter::new();
        }
        let mut lines = Vec::new();
        if replace && len > MAX_START {
            self.offset = len - MAX_START;
            self.skip_to_newline = true;
            lines.push(Painted::Sgr(format!(
                "… the first {} bytes of this log are not shown",
                self.offset
            )));
        }
        if len == self.offset && !replace {
            return Ok(None);
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.take(len.saturating_sub(self.offset).min(MAX_READ))
            .read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.started = true;
        for &b in &buf {
            if b != b'\n' {
                if self.partial.len() < MAX_LINE {
                    self.partial.push(b);
                }
                continue;
            }
            let line = std::mem::take(&mut self.partial);
            if std::mem::replace(&mut self.skip_to_newline, false) {
                continue;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            lines.push(self.painter.paint(&sanitize_bytes(line)));
        }
        if !replace && lines.is_empty() {
            return Ok(None);
        }
        Ok(Some(if replace {
            LogUpdate::Replace(lines)
        } else {
            LogUpdate::Append(lines)
        }))
    }
}
