//! The two journals kept in the state directory:
//! - the fault journal (`faults.json`): every fault applied right now, written
//!   before the fault is applied, so a crashed sandbox's leftovers (stress
//!   processes) can be found and undone at the next start;
//! - the audit journal (`audit.jsonl`): one `AuditEntry` per line for every
//!   destructive action, accepted or refused.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::SandboxError;
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::logs::{Level, LogLine};
use crate::domain::EpochMillis;
use crate::paths::StatePaths;
use crate::runtime::RuntimeEvent;

/// Bumped when the journal layout changes incompatibly.
pub const FAULT_JOURNAL_FORMAT: u32 = 1;

/// A process we started (or own), identified robustly: a pid alone could have
/// been reused by an unrelated process since it was written down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    #[serde(default)]
    pub start_time: Option<u64>,
    /// Expected `/proc/<pid>/cmdline` (checked when not empty).
    #[serde(default)]
    pub cmdline: Vec<String>,
}

impl ProcessRef {
    /// This very process.
    pub fn current() -> Self {
        let pid = std::process::id();
        ProcessRef {
            pid,
            start_time: process_start_time(pid),
            cmdline: Vec::new(),
        }
    }

    /// Describe a live process by pid, recording its start time and command line.
    pub fn of_pid(pid: u32) -> Self {
        ProcessRef {
            pid,
            start_time: process_start_time(pid),
            cmdline: process_cmdline(pid).unwrap_or_default(),
        }
    }

    /// True when a process with this pid runs and is the one recorded.
    pub fn is_alive(&self) -> bool {
        if !pid_exists(self.pid) {
            return false;
        }
        if let Some(expected) = self.start_time {
            if process_start_time(self.pid) != Some(expected) {
                return false;
            }
        }
        if !self.cmdline.is_empty() && process_cmdline(self.pid).as_ref() != Some(&self.cmdline) {
            return false;
        }
        // A zombie is dead for our purposes (it only waits to be reaped).
        process_state(self.pid) != Some('Z')
    }
}

/// One applied fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub id: String,
    pub env: String,
    pub scenario: ScenarioKind,
    pub params: FaultParams,
    pub started_at: EpochMillis,
    /// The sandbox process that applied the fault.
    pub owner: ProcessRef,
    /// Processes started for the fault (cpu-stress workers).
    #[serde(default)]
    pub processes: Vec<ProcessRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultJournal {
    pub format: u32,
    pub faults: Vec<FaultRecord>,
}

impl Default for FaultJournal {
    fn default() -> Self {
        FaultJournal {
            format: FAULT_JOURNAL_FORMAT,
            faults: Vec::new(),
        }
    }
}

fn journal_err(path: &Path, message: impl Into<String>) -> SandboxError {
    SandboxError::Journal {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Largest journal we agree to parse; a real one holds a handful of entries.
const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;

/// Read the fault journal; a missing or empty file is an empty journal.
pub fn read_fault_journal(path: &Path) -> Result<FaultJournal, SandboxError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FaultJournal::default()),
        Err(e) => return Err(journal_err(path, format!("cannot stat: {e}"))),
    };
    if meta.len() > MAX_JOURNAL_BYTES {
        return Err(journal_err(
            path,
            format!("is {} bytes, more than any real journal", meta.len()),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| journal_err(path, format!("cannot read: {e}")))?;
    if text.trim().is_empty() {
        return Ok(FaultJournal::default());
    }
    let journal: FaultJournal =
        serde_json::from_str(&text).map_err(|e| journal_err(path, format!("cannot parse: {e}")))?;
    if journal.format != FAULT_JOURNAL_FORMAT {
        return Err(journal_err(
            path,
            format!(
                "format {} is not the supported {FAULT_JOURNAL_FORMAT}",
                journal.format
            ),
        ));
    }
    Ok(journal)
}

/// Replace the journal atomically: write a temporary file, fsync, rename.
/// A crash leaves either the old or the new journal, never half of one.
pub fn write_fault_journal(path: &Path, journal: &FaultJournal) -> Result<(), SandboxError> {
    let dir = path
        .parent()
        .ok_or_else(|| journal_err(path, "has no parent directory"))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| journal_err(path, format!("cannot create directory: {e}")))?;
    let body = serde_json::to_vec_pretty(journal)
        .map_err(|e| journal_err(path, format!("cannot encode: {e}")))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "faults.json".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself; failure here is harmless on filesystems
        // that do not support syncing directories.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        journal_err(path, format!("cannot write: {e}"))
    })
}

/// What was found in the journal at start-up and what was done about it.
#[derive(Clone, Debug, PartialEq)]
pub struct LeftoverFault {
    pub record: FaultRecord,
    /// Stress processes that were still running and were killed.
    pub killed: Vec<u32>,
    /// Processes already gone (or whose pid now belongs to another program).
    pub gone: Vec<u32>,
    /// Processes we could not kill, with the reason.
    pub failed: Vec<(u32, String)>,
}

impl LeftoverFault {
    /// One line for the log, e.g. `cpu-stress in staging (cpu-stress-3): killed 2 processes`.
    pub fn describe(&self) -> String {
        let what = match self.record.scenario {
            ScenarioKind::CpuStress => format!(
                "killed {} stress process(es), {} already gone",
                self.killed.len(),
                self.gone.len()
            ),
            ScenarioKind::PodKill => "nothing to undo".to_string(),
            _ => "router fault ended with its process".to_string(),
        };
        let mut s = format!(
            "leftover fault {} in {} ({}): {what}",
            self.record.scenario, self.record.env, self.record.id
        );
        for (pid, e) in &self.failed {
            s.push_str(&format!("; could not kill pid {pid}: {e}"));
        }
        s
    }
}

/// Undo faults left by a sandbox that died without cleaning up, then clear
/// the journal. Router faults vanished with their process; stress processes
/// that still run (and are verifiably ours) are killed. A journal owned by a
/// sandbox that is still alive is refused with `StateInUse`.
pub fn reconcile_leftover_faults(state: &StatePaths) -> Result<Vec<LeftoverFault>, SandboxError> {
    let path = state.fault_journal();
    let journal = read_fault_journal(&path)?;
    let me = ProcessRef::current();
    for rec in &journal.faults {
        let owned_by_me = rec.owner.pid == me.pid;
        if !owned_by_me && rec.owner.is_alive() {
            return Err(SandboxError::StateInUse {
                dir: state.dir.clone(),
                pid: rec.owner.pid,
            });
        }
    }
    let mut out = Vec::with_capacity(journal.faults.len());
    for rec in journal.faults {
        let mut left = LeftoverFault {
            record: rec.clone(),
            killed: Vec::new(),
            gone: Vec::new(),
            failed: Vec::new(),
        };
        for p in &rec.processes {
            if !p.is_alive() {
                left.gone.push(p.pid);
                continue;
            }
            match kill_pid(p.pid, libc::SIGKILL) {
                Ok(()) => left.killed.push(p.pid),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => left.gone.push(p.pid),
                Err(e) => left.failed.push((p.pid, e.to_string())),
            }
        }
        out.push(left);
    }
    if !out.is_empty() || path.exists() {
        write_fault_journal(&path, &FaultJournal::default())?;
    }
    Ok(out)
}

fn pid_exists(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(p, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Send `sig` to one process.
pub fn kill_pid(pid: u32, sig: i32) -> std::io::Result<()> {
    let p = i32::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    if p <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: plain kill(2) on a positive pid; no memory is involved.
    if unsafe { libc::kill(p, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Start time of a process in clock ticks since boot, if it exists.
pub fn process_start_time(pid: u32) -> Option<u64> {
    // Field 22 overall; index 19 after the `pid (comm)` prefix.
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// Command line of a process, split on NULs.
pub fn process_cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut parts: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    Some(parts)
}

// ---------------------------------------------------------------------------
// Audit journal

enum AuditMsg {
    Entry(AuditEntry),
    Flush(oneshot::Sender<()>),
}

/// Appends audit entries from a dedicated task so callers never block on the
/// file. A failed write is reported as an error log event, never dropped silently.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditMsg>,
    path: PathBuf,
}

impl std::fmt::Debug for AuditMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditMsg::Entry(e) => write!(f, "Entry({})", e.action),
            AuditMsg::Flush(_) => f.write_str("Flush"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("audit journal {path} is unavailable (its writer stopped); entry lost: {action} on {env}")]
pub struct AuditUnavailable {
    pub path: PathBuf,
    pub action: String,
    pub env: String,
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
            AuditMsg::Entry(entry) => {
                let p = path.clone();
                let e = entry.clone();
                let result = tokio::task::spawn_blocking(move || append_audit_line(&p, &e))
                    .await
                    .map_err(|e| std::io::Error::other(format!("audit writer task failed: {e}")))
                    .and_then(|r| r);
                if let Err(err) = result {
                    let text = format!(
                        "audit journal {}: entry lost ({} on {} by {}, {}): {err}",
                        path.display(),
                        entry.action,
                        entry.env,
                        entry.user,
                        entry.outcome
                    );
                    let _ = events.send(RuntimeEvent::Log {
                        line: LogLine::new(
                            chrono::Utc::now().timestamp_millis(),
                            "sandbox".into(),
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

/// Append one JSON line to the audit journal (blocking).
pub fn append_audit_line(path: &Path, entry: &AuditEntry) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write call per line so concurrent appenders never interleave a line.
    f.write_all(&line)?;
    f.flush()
}

/// Read the audit journal (blocking); unparsable lines are returned as errors
/// with their line number rather than skipped.
pub fn read_audit_journal(path: &Path) -> Result<Vec<AuditEntry>, SandboxError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SandboxError::io(
                format!("cannot read audit journal {}", path.display()),
                e,
            ))
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| SandboxError::Journal {
                path: path.to_path_buf(),
                message: format!("audit line {}: {e}", i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: ProcessRef, processes: Vec<ProcessRef>) -> FaultRecord {
        FaultRecord {
            id: "cpu-stress-1".into(),
            env: "staging".into(),
            scenario: ScenarioKind::CpuStress,
            params: FaultParams::default(),
            started_at: 1,
            owner,
            processes,
        }
    }

    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn journal_round_trips_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.json");
        assert_eq!(read_fault_journal(&path).unwrap(), FaultJournal::default());
        let j = FaultJournal {
            format: FAULT_JOURNAL_FORMAT,
            faults: vec![record(ProcessRef::current(), vec![])],
        };
        write_fault_journal(&path, &j).unwrap();
        assert_eq!(read_fault_journal(&path).unwrap(), j);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_journal_is_an_error_not_silently_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            read_fault_journal(&path),
            Err(SandboxError::Journal { .. })
        ));
    }

    #[test]
    fn current_process_is_alive_and_dead_pid_is_not() {
        assert!(ProcessRef::current().is_alive());
        let gone = ProcessRef {
            pid: dead_pid(),
            start_time: None,
            cmdline: vec![],
        };
        assert!(!gone.is_alive());
        // Same pid, wrong start time: a reused pid is not our process.
        let mut me = ProcessRef::current();
        me.start_time = me.start_time.map(|t| t + 1);
        assert!(!me.is_alive());
    }

    #[test]
    fn reconcile_kills_leftover_stress_and_clears_journal() {
        let dir = tempfile::tempdir().unwrap();
        let state = StatePaths::at(dir.path());
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let owner = ProcessRef {
            pid: dead_pid(),
            start_time: None,
            cmdline: vec![],
        };
        let j = FaultJournal {
            format: FAULT_JOURNAL_FORMAT,
            faults: vec![record(owner, vec![ProcessRef::of_pid(sleeper.id())])],
        };
        write_fault_journal(&state.fault_journal(), &j).unwrap();
        let left = reconcile_leftover_faults(&state).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].killed, vec![sleeper.id()]);
        let status = sleeper.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(read_fault_journal(&state.fault_journal())
            .unwrap()
            .faults
            .is_empty());
        assert!(left[0].describe().contains("killed 1"));
    }

    #[test]
    fn reconcile_leaves_processes_whose_cmdline_differs() {
        let dir = tempfile::tempdir().unwrap();
        let state = StatePaths::at(dir.path());
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut p = ProcessRef::of_pid(sleeper.id());
        p.cmdline = vec!["sh".into(), "-c".into(), "something else".into()];
        let owner = ProcessRef {
            pid: dead_pid(),
            start_time: None,
            cmdline: vec![],
        };
        let j = FaultJournal {
            format: FAULT_JOURNAL_FORMAT,
            faults: vec![record(owner, vec![p])],
        };
        write_fault_journal(&state.fault_journal(), &j).unwrap();
        let left = reconcile_leftover_faults(&state).unwrap();
        assert_eq!(left[0].gone, vec![sleeper.id()]);
        assert!(
            sleeper.try_wait().unwrap().is_none(),
            "an unrelated process must not be killed"
        );
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }

    #[test]
    fn reconcile_refuses_a_journal_owned_by_a_live_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let state = StatePaths::at(dir.path());
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let j = FaultJournal {
            format: FAULT_JOURNAL_FORMAT,
            faults: vec![record(ProcessRef::of_pid(other.id()), vec![])],
        };
        write_fault_journal(&state.fault_journal(), &j).unwrap();
        let r = reconcile_leftover_faults(&state);
        assert!(matches!(r, Err(SandboxError::StateInUse { pid, .. }) if pid == other.id()));
        // The journal is left for its owner.
        assert_eq!(
            read_fault_journal(&state.fault_journal())
                .unwrap()
                .faults
                .len(),
            1
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[tokio::test]
    async fn audit_entries_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (events, _rx) = broadcast::channel(16);
        let (log, _task) = AuditLog::start(path.clone(), events);
        for i in 0..3 {
            log.append(AuditEntry {
                ts: i,
                user: "alice".into(),
                env: "staging".into(),
                action: "deploy".into(),
                from_version: Some("v1".into()),
                to_version: Some("v2".into()),
                outcome: "accepted".into(),
                detail: String::new(),
            })
            .await
            .unwrap();
        }
        log.flush().await;
        let entries = read_audit_journal(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].ts, 2);
        assert_eq!(entries[0].user, "alice");
    }

    #[tokio::test]
    async fn failed_audit_write_is_reported_as_an_error_event() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be makes every append fail.
        let path = dir.path().join("audit.jsonl");
        std::fs::create_dir(&path).unwrap();
        let (events, mut rx) = broadcast::channel(16);
        let (log, _task) = AuditLog::start(path, events);
        log.append(AuditEntry {
            ts: 0,
            user: "bob".into(),
            env: "production".into(),
            action: "rollback".into(),
            from_version: None,
            to_version: None,
            outcome: "accepted".into(),
            detail: String::new(),
        })
        .await
        .unwrap();
        log.flush().await;
        match rx.try_recv().unwrap() {
            RuntimeEvent::Log { line } => {
                assert_eq!(line.level, Level::Error);
                assert!(line.text.contains("entry lost"));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}
