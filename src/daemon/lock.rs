//! One runtime per state directory.
//!
//! Whatever starts a runtime on a state directory (the headless daemon, the
//! console embedding one) first takes [`RuntimeLock`]: an exclusive `flock`
//! on `runtime.lock` there, held for as long as the process runs. The kernel
//! drops the lock when its owner dies, however it dies, so a dead owner's
//! lock is simply taken over; the pid in the file is only ever shown, never
//! trusted.
//!
//! The file names its owner (pid, command, runtime kind, start time) so a
//! refused start can say who holds the directory. The record is written to a
//! private file, locked there, and renamed over `runtime.lock`, so a reader
//! never sees half of it. Because the locked file may be replaced (by a new
//! owner's rename, or removed when an owner stops), a lock only counts once
//! `runtime.lock` still names the very file that was locked; otherwise the
//! attempt starts again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::domain::sanitize::strip_all;
use crate::paths::StatePaths;

/// The most of a lock file that is read (a record is a few hundred bytes).
const MAX_RECORD_BYTES: u64 = 4096;
/// The most characters of each string from a lock file that are shown.
const MAX_FIELD_CHARS: usize = 80;
/// How often to start again when the lock file was replaced under us.
const ATTEMPTS: usize = 20;

/// Who holds a state directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    pub pid: u32,
    /// `up`, `daemon`, `demo` or `console`.
    pub command: String,
    /// `sandbox` or `docker`.
    pub runtime: String,
    /// When the owner took the lock, RFC 3339 (UTC).
    pub since: String,
}

impl LockOwner {
    /// This process, starting now.
    pub fn this_process(command: &str, runtime: &str) -> LockOwner {
        let since = chrono::DateTime::from_timestamp_millis(crate::clock::now_ms())
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        LockOwner {
            pid: std::process::id(),
            command: command.to_owned(),
            runtime: runtime.to_owned(),
            since,
        }
    }

    /// `pid 1234 (blissful-infra up, sandbox runtime, since …)`; every
    /// string from the file sanitised and shortened.
    pub fn describe(&self) -> String {
        format!(
            "pid {} (blissful-infra {}, {} runtime, since {})",
            self.pid,
            shown(&self.command),
            shown(&self.runtime),
            shown(&self.since)
        )
    }
}

fn shown(field: &str) -> String {
    let clean = strip_all(field);
    let clean = clean.trim();
    if clean.is_empty() {
        return "?".into();
    }
    if clean.chars().count() > MAX_FIELD_CHARS {
        let cut: String = clean.chars().take(MAX_FIELD_CHARS).collect();
        return format!("{cut}…");
    }
    clean.to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state directory {} is in use by {}; attach with `blissful-infra` or stop it with `blissful-infra down`",
        strip_all(&dir.display().to_string()),
        owner.as_ref().map_or_else(|| "another blissful-infra process".to_owned(), LockOwner::describe)
    )]
    Held {
        dir: PathBuf,
        owner: Option<LockOwner>,
    },
    #[error("{context} {}: {source}", strip_all(&path.display().to_string()))]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    fn io(context: &'static str, path: &Path, source: std::io::Error) -> LockError {
        LockError::Io {
            context,
            path: path.to_owned(),
            source,
        }
    }

    /// The refusal for `state`, naming whoever its lock file says holds it.
    pub fn held(state: &StatePaths) -> LockError {
        LockError::Held {
            dir: state.dir.clone(),
            owner: read_owner(state),
        }
    }
}

/// The exclusive right to run a runtime on one state directory; released
/// (and its file removed) on drop, or by the kernel when the process dies.
#[derive(Debug)]
pub struct RuntimeLock {
    /// The locked file, the one `path` names.
    file: File,
    path: PathBuf,
    owner: LockOwner,
}

impl RuntimeLock {
    /// Take the lock on `state` for `owner`, or say who holds it.
    pub fn acquire(state: &StatePaths, owner: LockOwner) -> Result<RuntimeLock, LockError> {
        let path = state.runtime_lock();
        let mut record = serde_json::to_vec_pretty(&owner)
            .map_err(|e| LockError::io("encoding the lock record for", &path, e.into()))?;
        record.push(b'\n');
        for _ in 0..ATTEMPTS {
            // The complete record first, in a file nobody else knows yet.
            let staged_path = staged_name(&path);
            let staged = stage(&staged_path, &record).inspect_err(|_| {
                let _ = std::fs::remove_file(&staged_path);
            })?;
            match take_current(&path) {
                Ok(Current::Locked(gate)) => {
                    // Publish; the gate's lock goes once the record is in place.
                    if let Err(e) = std::fs::rename(&staged_path, &path) {
                        let _ = std::fs::remove_file(&staged_path);
                        return Err(LockError::io("publishing the lock file", &path, e));
                    }
                    drop(gate);
                    return Ok(RuntimeLock {
                        file: staged,
                        path,
                        owner,
                    });
                }
                Ok(Current::Replaced) => {
                    // Replaced or removed since it was opened: look again.
                    let _ = std::fs::remove_file(&staged_path);
                }
                Ok(Current::Held(owner)) => {
                    let _ = std::fs::remove_file(&staged_path);
                    return Err(LockError::Held {
                        dir: state.dir.clone(),
                        owner,
                    });
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&staged_path);
                    return Err(e);
                }
            }
        }
        Err(LockError::held(state))
    }

    pub fn owner(&self) -> &LockOwner {
        &self.owner
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeLock {
    fn drop(&mut self) {
        // Remove the record while the lock is still held, and only our own:
        // whoever opened it meanwhile finds it gone and starts again.
        if same_file(&self.file, &self.path).unwrap_or(false) {
            let _ = std::fs::remove_file(&self.path);
        }
        // Closing `file` releases the lock.
    }
}

/// What the lock file of `state` says, if it holds a readable record. Only
/// for messages: the process may have died since.
pub fn read_owner(state: &StatePaths) -> Option<LockOwner> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(state.runtime_lock())
        .ok()?;
    parse_record(file)
}

fn parse_record(file: File) -> Option<LockOwner> {
    let mut text = String::new();
    file.take(MAX_RECORD_BYTES).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// `runtime.lock.<pid>-<n>.tmp`, unique within this process too.
fn staged_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// Write `record` to a new file at `path` and lock it. The lock is held
/// through a read-only descriptor: a file kept open for writing would stop
/// the state directory's file system from being remounted read-only.
fn stage(path: &Path, record: &[u8]) -> Result<File, LockError> {
    let mut writer = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| LockError::io("creating", path, e))?;
    writer
        .write_all(record)
        .and_then(|_| writer.sync_all())
        .map_err(|e| LockError::io("writing", path, e))?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| LockError::io("opening", path, e))?;
    drop(writer);
    match try_lock(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(LockError::io(
            "locking",
            path,
            std::io::Error::other("another process holds this new file"),
        )),
        Err(e) => Err(LockError::io("locking", path, e)),
    }
}

/// The file `path` names, as found by [`take_current`].
enum Current {
    /// Locked by us, and still the file at `path`.
    Locked(File),
    /// Replaced or removed after it was opened.
    Replaced,
    /// Another process holds it; what it says about its owner.
    Held(Option<LockOwner>),
}

/// Lock whatever file `path` names now.
fn take_current(path: &Path) -> Result<Current, LockError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| LockError::io("opening the lock file", path, e))?;
    let locked = try_lock(&file).map_err(|e| LockError::io("locking", path, e))?;
    let current = same_file(&file, path).map_err(|e| LockError::io("checking", path, e))?;
    Ok(match (current, locked) {
        (false, _) => Current::Replaced,
        (true, true) => Current::Locked(file),
        (true, false) => Current::Held(parse_record(file)),
    })
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor `file` owns; the lock goes when it closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Whether `path` (not following a link) is the file `file` has open.
fn same_file(file: &File, path: &Path) -> std::io::Result<bool> {
    let open = file.metadata()?;
    match std::fs::symlink_metadata(path) {
        Ok(named) => Ok(open.dev() == named.dev() && open.ino() == named.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
