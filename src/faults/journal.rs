//! The write-ahead fault journal: every fault is recorded here, and the
//! record is durable (file and directory fsynced) before the fault is
//! applied. Writes go through `crate::durable::replace` (a temporary file,
//! fsynced and renamed over the journal), so a crash or a full disk leaves
//! the old or the new journal, never half of one. Processes sharing a state directory take an exclusive lock around
//! each read-modify-write, so none loses another's records.

use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::record::FaultRecord;

/// Bumped when the journal layout changes incompatibly.
pub const FAULT_JOURNAL_FORMAT: u32 = 2;
/// Largest journal we agree to parse; a real one holds a handful of entries.
const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault journal {path}: {message}")]
pub struct JournalError {
    pub path: PathBuf,
    pub message: String,
}

/// Any journal, of any format, read only for its format and its size.
#[derive(Deserialize)]
struct JournalHead {
    format: u32,
    faults: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct JournalFile<U> {
    format: u32,
    faults: Vec<FaultRecord<U>>,
}

/// The journal file of one backend, holding records with its undo steps `U`.
#[derive(Debug)]
pub struct Journal<U> {
    path: PathBuf,
    steps: PhantomData<fn() -> U>,
}

impl<U> Clone for Journal<U> {
    fn clone(&self) -> Self {
        Journal {
            path: self.path.clone(),
            steps: PhantomData,
        }
    }
}

impl<U: Serialize + DeserializeOwned + Clone + PartialEq> Journal<U> {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Journal {
            path: path.into(),
            steps: PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl std::fmt::Display) -> JournalError {
        JournalError {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Every record; a missing or empty file is an empty journal, a torn or
    /// corrupt one is an error naming the file (never silently empty).
    pub fn read(&self) -> Result<Vec<FaultRecord<U>>, JournalError> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(format!("cannot stat: {e}"))),
        };
        if meta.len() > MAX_JOURNAL_BYTES {
            return Err(self.err(format!(
                "is {} bytes, more than any real journal",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| self.err(format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let torn = |e: serde_json::Error| {
            self.err(format!(
                "cannot parse ({e}); the file is torn or corrupt: check the faults it names by hand, then remove it"
            ))
        };
        // The format first: an older journal with no faults in it (what
        // every clean shutdown of an older release leaves) is simply empty.
        let head: JournalHead = serde_json::from_str(&text).map_err(torn)?;
        if head.format != FAULT_JOURNAL_FORMAT {
            if head.faults.is_empty() {
                return Ok(Vec::new());
            }
            return Err(self.err(format!(
                "format {} is not the supported {FAULT_JOURNAL_FORMAT}; undo its {} fault(s) by hand, then remove it",
                head.format,
                head.faults.len()
            )));
        }
        let file: JournalFile<U> = serde_json::from_str(&text).map_err(torn)?;
        Ok(file.faults)
    }

    /// Read-modify-write under the lock; written (and synced) only when
    /// `f` changed something.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<FaultRecord<U>>) -> T,
    ) -> Result<T, JournalError> {
        let dir = self.dir()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| self.err(format!("cannot create its directory: {e}")))?;
        let _lock = self.lock(dir)?;
        let mut faults = self.read()?;
        let before = faults.clone();
        let out = f(&mut faults);
        if faults != before {
            self.write(&faults)?;
        }
        Ok(out)
    }

    /// Add a record (before its fault is applied).
    pub fn insert(&self, record: &FaultRecord<U>) -> Result<(), JournalError> {
        self.update(|j| j.push(record.clone()))
    }

    /// Replace the record with the same id (new undo steps, before their change).
    pub fn replace(&self, record: &FaultRecord<U>) -> Result<(), JournalError> {
        let found = self.update(|j| {
            j.iter_mut()
                .find(|r| r.id == record.id)
                .map(|r| *r = record.clone())
                .is_some()
        })?;
        if found {
            Ok(())
        } else {
            Err(self.err(format!("holds no record {}", record.id)))
        }
    }

    /// Drop the record of a fault that has been undone.
    pub fn remove(&self, id: &str) -> Result<(), JournalError> {
        self.update(|j| j.retain(|r| r.id != id))
    }

    fn dir(&self) -> Result<&Path, JournalError> {
        self.path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| self.err("has no parent directory"))
    }

    fn lock(&self, dir: &Path) -> Result<std::fs::File, JournalError> {
        let name = self.file_name();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!(".{name}.lock")))
            .map_err(|e| self.err(format!("cannot open its lock: {e}")))?;
        // SAFETY: flock on a descriptor we own; released when `lock` closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(self.err(format!("cannot lock: {}", std::io::Error::last_os_error())));
        }
        Ok(lock)
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "faults.json".into())
    }

    fn write(&self, faults: &[FaultRecord<U>]) -> Result<(), JournalError> {
        let mut body = serde_json::to_vec_pretty(&JournalFile {
            format: FAULT_JOURNAL_FORMAT,
            faults: faults.to_vec(),
        })
        .map_err(|e| self.err(format!("cannot encode: {e}")))?;
        body.push(b'\n');
        crate::durable::replace(&self.path, &body).map_err(|e| self.err(e.what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chaos::{FaultParams, ScenarioKind};
    use crate::faults::ProcessRef;

    pub(crate) fn record(id: &str, scope: &str, owner: ProcessRef) -> FaultRecord<String> {
        FaultRecord {
            id: id.into(),
            backend: "test".into(),
            scope: scope.into(),
            scenario: ScenarioKind::CpuStress,
            params: FaultParams::default(),
            started_at: 1,
            ends_at: 2,
            owner,
            targets: vec!["app-1".into()],
            undo: vec!["kill m".into()],
        }
    }

    #[test]
    fn records_round_trip_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let j: Journal<String> = Journal::at(dir.path().join("faults.json"));
        assert!(j.read().unwrap().is_empty());
        let a = record("a", "p", ProcessRef::current());
        j.insert(&a).unwrap();
        j.insert(&record("b", "p", ProcessRef::current())).unwrap();
        let mut a2 = a.clone();
        a2.undo.push("delete qdisc".into());
        j.replace(&a2).unwrap();
        assert_eq!(j.read().unwrap()[0], a2);
        j.remove("b").unwrap();
        assert_eq!(j.read().unwrap(), vec![a2]);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![".faults.json.lock", "faults.json"]);
    }

    #[test]
    fn a_torn_journal_is_an_error_naming_the_file_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.json");
        let j: Journal<String> = Journal::at(&path);
        j.insert(&record("a", "p", ProcessRef::current())).unwrap();
        // A write cut short: the first half of a valid journal.
        let full = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = j.read().unwrap_err();
        assert_eq!(err.path, path);
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("torn or corrupt"), "{text}");
        assert!(j.update(|r| r.clear()).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            full[..full.len() / 2]
        );
    }

    #[test]
    fn an_older_format_is_empty_when_it_holds_no_fault_and_refused_when_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.json");
        let j = Journal::<String>::at(&path);
        std::fs::write(&path, r#"{"format":1,"faults":[]}"#).unwrap();
        assert!(j.read().unwrap().is_empty());
        std::fs::write(&path, r#"{"format":1,"faults":[{"id":"cpu-stress-1"}]}"#).unwrap();
        let err = j.read().unwrap_err().to_string();
        assert!(
            err.contains("format 1 is not the supported 2; undo its 1 fault(s) by hand"),
            "{err}"
        );
    }

    #[test]
    fn a_write_that_cannot_happen_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // The journal's directory is a plain file.
        let blocker = dir.path().join("state");
        std::fs::write(&blocker, "").unwrap();
        let j: Journal<String> = Journal::at(blocker.join("faults.json"));
        let err = j
            .insert(&record("a", "p", ProcessRef::current()))
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot create its directory"),
            "{err}"
        );
    }
}
