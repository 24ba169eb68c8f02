//! How every file under the state directory is written, so that a full disk,
//! a read-only file system or a crash never leaves half of one:
//!
//! - [`replace`]: the whole file at once. The bytes go to a new temporary
//!   file next to it, which is fsynced and renamed over the old one, and the
//!   directory is fsynced so the rename itself survives a crash. A reader
//!   sees the old file or the new one; a failed write leaves the old one and
//!   no temporary file.
//! - [`append`]: one record at the end of an append-only file (the audit
//!   journal), fsynced. When the write fails part-way (the disk filled up in
//!   the middle of it) the file is cut back to its old length, so no
//!   truncated line stays behind.
//! - [`remove`]: unlink, then fsync the directory.
//!
//! Every error names the file, what was being done and the OS error
//! (`No space left on device (os error 28)`, `Read-only file system (os
//! error 30)`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// State files are private to the user running blissful-infra.
const MODE: u32 = 0o600;

/// A write under the state directory that did not happen.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    /// `write`, `append`, `remove`, …
    pub action: &'static str,
    pub source: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = crate::domain::sanitize::strip_all(&self.path.display().to_string());
        write!(f, "{path}: {}", self.what())
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl WriteError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> WriteError {
        WriteError {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// `cannot append: No space left on device (os error 28)`, without the path.
    pub fn what(&self) -> String {
        format!("cannot {}: {}", self.action, self.source)
    }

    /// The OS error number (`ENOSPC`, `EROFS`, …), when there is one.
    pub fn os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// Replace `path` with `bytes`, whole or not at all (see the module docs).
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = parent(path);
    let tmp = temp_name(path);
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Best effort: the write's own error is the one to report.
        let _ = std::fs::remove_file(&tmp);
        return Err(WriteError::new("write", path, e));
    }
    sync_dir(&dir).map_err(|e| WriteError::new("sync its directory", path, e))
}

/// Append `record` to `path` (created when missing) and fsync it; on failure
/// the file is cut back to its length before, so nothing half-written stays.
pub fn append(path: &Path, record: &[u8]) -> Result<(), WriteError> {
    // One appender at a time in this process; `flock` for other processes.
    static APPENDING: Mutex<()> = Mutex::new(());
    let _one = APPENDING.lock().unwrap_or_else(|p| p.into_inner());
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(MODE)
        .open(path)
        .map_err(|e| WriteError::new("open", path, e))?;
    let _lock = FileLock::exclusive(&f).map_err(|e| WriteError::new("lock", path, e))?;
    let before = f
        .metadata()
        .map_err(|e| WriteError::new("stat", path, e))?
        .len();
    let mut w = &f;
    if let Err(e) = w.write_all(record).and_then(|_| f.sync_data()) {
        // Whatever part of the record reached the file goes again.
        let _ = f.set_len(before);
        let _ = f.sync_data();
        return Err(WriteError::new("append", path, e));
    }
    if before == 0 {
        // A new file: its directory entry must survive a crash too.
        sync_dir(&parent(path)).map_err(|e| WriteError::new("sync its directory", path, e))?;
    }
    Ok(())
}

/// Remove `path` (a missing file is fine) and fsync its directory.
pub fn remove(path: &Path) -> Result<(), WriteError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(WriteError::new("remove", path, e)),
    }
    sync_dir(&parent(path)).map_err(|e| WriteError::new("sync its directory", path, e))
}

/// fsync a directory, so renames and new entries in it are durable. File
/// systems that cannot sync a directory (`EINVAL`) have nothing to sync.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.<name>.tmp-<pid>-<n>` next to `path`: hidden, and unique per write.
fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    parent(path).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// `flock(LOCK_EX)` held until dropped (or the descriptor closes).
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn exclusive(f: &'a File) -> std::io::Result<FileLock<'a>> {
        loop {
            // SAFETY: flock on a descriptor `f` owns for the lock's lifetime.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests;
