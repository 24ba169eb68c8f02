//! The audit journal (`audit.jsonl` in the state directory): one
//! `AuditEntry` per line for every change asked of a runtime, accepted or
//! refused. Written by the [`super::audited::Audited`] decorator (and, for
//! a rollout a restart rolled back, by the delivery controller's recovery).
//! Every line is appended whole and fsynced (`crate::durable::append`): a
//! full disk leaves no half line.

use std::path::{Path, PathBuf};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::RuntimeEvent;
use crate::domain::audit::AuditEntry;
use crate::domain::logs::{Level, LogLine};

enum AuditMsg {
    Entry(AuditEntry),
    /// Written before the change it records; the caller waits for the result.
    Ahead(AuditEntry, oneshot::Sender<Result<(), AuditWriteError>>),
    Flush(oneshot::Sender<()>),
}

impl std::fmt::Debug for AuditMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditMsg::Entry(e) => write!(f, "Entry({})", e.action),
            AuditMsg::Ahead(e, _) => write!(f, "Ahead({})", e.action),
            AuditMsg::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// Appends audit entries from a dedicated task so callers never block on the
/// file. A failed write is reported as an error log event, never dropped silently.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditMsg>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("audit journal {path} is unavailable (its writer stopped); entry lost: {action} on {env}")]
pub struct AuditUnavailable {
    pub path: PathBuf,
    pub action: String,
    pub env: String,
}

/// An entry that could not be written: the file and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("audit journal {}: {message}", crate::domain::sanitize::strip_all(&path.display().to_string()))]
pub struct AuditWriteError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditReadError {
    #[error("cannot read audit journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit journal {path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl AuditLog {
    /// Start the appender task. `events` receives an error log line for each
    /// entry that could not be written.
    pub fn start(
        path: PathBuf,
        events: broadcast::Sender<RuntimeEvent>,
    ) -> (AuditLog, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(run_audit_writer(path.clone(), rx, events));
        (AuditLog { tx, path }, task)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue one entry (waits when the queue is full rather than dropping it).
    pub async fn append(&self, entry: AuditEntry) -> Result<(), AuditUnavailable> {
        let (action, env) = (entry.action.clone(), entry.env.clone());
        self.tx
            .send(AuditMsg::Entry(entry))
            .await
            .map_err(|_| AuditUnavailable {
                path: self.path.clone(),
                action,
                env,
            })
    }

    /// Write `entry` now, before the change it records is made, and say
    /// whether it reached the disk (in order with every queued entry).
    pub async fn write_ahead(&self, entry: AuditEntry) -> Result<(), AuditWriteError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || AuditWriteError {
            path: self.path.clone(),
            message: "its writer has stopped".into(),
        };
        self.tx
            .send(AuditMsg::Ahead(entry, reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Wait until every entry queued so far has been written (or reported).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(AuditMsg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run_audit_writer(
    path: PathBuf,
    mut rx: mpsc::Receiver<AuditMsg>,
    events: broadcast::Sender<RuntimeEvent>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            AuditMsg::Flush(done) => {
                let _ = done.send(());
            }
            AuditMsg::Ahead(entry, reply) => {
                let _ = reply.send(write_blocking(&path, entry).await);
            }
            AuditMsg::Entry(entry) => {
                if let Err(err) = write_blocking(&path, entry.clone()).await {
                    let text = format!(
                        "{err}; entry lost ({} on {} by {}, {})",
                        entry.action, entry.env, entry.user, entry.outcome
                    );
                    let _ = events.send(RuntimeEvent::Log {
                        line: LogLine::new(
                            crate::clock::now_ms(),
                            "runtime".into(),
                            "-".into(),
                            "audit".into(),
                            Level::Error,
                            crate::domain::sanitize::sanitize_str(&text),
                        ),
                    });
                }
            }
        }
    }
}

async fn write_blocking(path: &Path, entry: AuditEntry) -> Result<(), AuditWriteError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || append_audit_line(&p, &entry))
        .await
        .unwrap_or_else(|e| {
            Err(AuditWriteError {
                path: path.to_path_buf(),
                message: format!("its writer task failed: {e}"),
            })
        })
}

/// Append one JSON line to the audit journal (blocking), whole, fsynced and
/// with secrets redacted.
pub fn append_audit_line(path: &Path, entry: &AuditEntry) -> Result<(), AuditWriteError> {
    let fail = |message: String| AuditWriteError {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create its directory: {e}")))?;
    }
    let mut line =
        serde_json::to_vec(&entry.redacted()).map_err(|e| fail(format!("cannot encode: {e}")))?;
    line.push(b'\n');
    crate::durable::append(path, &line).map_err(|e| fail(e.what()))
}

/// Read the audit journal (blocking); unparsable lines are returned as errors
/// with their line number rather than skipped.
pub fn read_audit_journal(path: &Path) -> Result<Vec<AuditEntry>, AuditReadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AuditReadError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| AuditReadError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, user: &str, action: &str) -> AuditEntry {
        AuditEntry {
            ts,
            user: user.into(),
            env: "staging".into(),
            action: action.into(),
            from_version: Some("v1".into()),
            to_version: Some("v2".into()),
            outcome: "accepted".into(),
            detail: String::new(),
        }
    }

    #[tokio::test]
    async fn audit_entries_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (events, _rx) = broadcast::channel(16);
        let (log, _task) = AuditLog::start(path.clone(), events);
        for i in 0..3 {
            log.append(entry(i, "alice", "deploy")).await.unwrap();
        }
        log.flush().await;
        let entries = read_audit_journal(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].ts, 2);
        assert_eq!(entries[0].user, "alice");
    }

    #[test]
    fn secrets_in_an_entry_are_redacted_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut e = entry(1, "alice", "abort");
        e.detail = "abort (db password=hunter2 down) via cli".into();
        e.outcome = "refused: token ghp_R3aLlyN0tAT0k3nButL0oksL1keOne12345".into();
        append_audit_line(&path, &e).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("ghp_"),
            "{text}"
        );
        let back = read_audit_journal(&path).unwrap();
        assert_eq!(
            back[0].detail,
            "abort (db password=[REDACTED] down) via cli"
        );
    }

    #[tokio::test]
    async fn failed_audit_write_is_reported_as_an_error_event() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be makes every append fail.
        let path = dir.path().join("audit.jsonl");
        std::fs::create_dir(&path).unwrap();
        let (events, mut rx) = broadcast::channel(16);
        let (log, _task) = AuditLog::start(path, events);
        log.append(entry(0, "bob", "rollback")).await.unwrap();
        log.flush().await;
        match rx.try_recv().unwrap() {
            RuntimeEvent::Log { line } => {
                assert_eq!(line.level, Level::Error);
                assert!(line.text.contains("entry lost"));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    #[test]
    fn a_broken_line_is_an_error_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"ts\":1}\n").unwrap();
        match read_audit_journal(&path) {
            Err(AuditReadError::Line { line, .. }) => assert_eq!(line, 1),
            other => panic!("unexpected {other:?}"),
        }
    }
}
