//! The rollout journal: one file per environment in the state directory
//! holding the operation in flight (a canary rollout, a rollback, a
//! blue/green switch, a held canary), written ahead of every change of the
//! traffic split and before a new version is brought up. The intended
//! weight is written (`applied: false`) before the router changes, and
//! confirmed (`applied: true`) after. The file goes once the operation is
//! over. Writes go through `crate::durable`, so the file is the old record
//! or the new one, never half of one.
//!
//! What a record left by a process that died means at the next start is
//! decided in `recover.rs`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::environment::Version;
use crate::domain::EpochMillis;

/// Bumped when the record changes incompatibly.
pub const ROLLOUT_JOURNAL_FORMAT: u32 = 1;
/// Largest record we agree to parse; a real one is a few hundred bytes.
const MAX_BYTES: u64 = 64 * 1024;

/// What kind of operation is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A canary rollout stepping through its weights (or watching after them).
    Rollout,
    /// An undo bringing back an earlier version.
    Rollback,
    /// The watch after a blue/green switch.
    Switch,
    /// A canary held at its weight with nothing stepping it.
    Held,
}

/// The operation in flight in one environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub env: String,
    pub pipeline_id: Option<u64>,
    pub operation: Operation,
    /// The version coming in: the canary, or the rollback's target.
    pub version: Version,
    /// The stable version while it runs.
    pub stable: Option<Version>,
    /// `(step index, steps)` while a canary step runs.
    pub step: Option<(usize, usize)>,
    /// The canary's share of traffic, in percent.
    pub weight: u8,
    /// The version's instances are starting; it gets no traffic yet.
    pub starting: bool,
    /// The router has `weight` (false: it is about to be set).
    pub applied: bool,
    /// Who asked for the operation.
    pub user: String,
    /// The process running the rollout.
    pub pid: u32,
    /// Why the runtime stopped, when it stopped cleanly with this in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    pub at: EpochMillis,
}

impl InFlight {
    /// `rollout of v2`, `rollback to v1`, …
    pub fn what(&self) -> String {
        let v = &self.version;
        match self.operation {
            Operation::Rollout => format!("rollout of {v}"),
            Operation::Rollback => format!("rollback to {v}"),
            Operation::Switch => format!("blue/green switch to {v}"),
            Operation::Held => format!("canary {v}"),
        }
    }

    /// Where it was: `during step 2/3 (weight 25%)`.
    pub fn when(&self) -> String {
        let (v, w) = (&self.version, self.weight);
        if self.starting {
            return format!("while {v} was starting");
        }
        match (self.operation, self.step) {
            (Operation::Rollback, _) => format!("while {v} was being brought back"),
            (_, Some((i, n))) if self.applied => format!("during step {}/{n} (weight {w}%)", i + 1),
            (_, Some((i, n))) => format!("while setting step {}/{n} (weight {w}%)", i + 1),
            (Operation::Held, None) => format!("with {v} held at {w}%"),
            (_, None) if self.applied => format!("while {v} had {w}% of traffic"),
            (_, None) => format!("while giving {v} {w}% of traffic"),
        }
    }

    /// Who stopped it: the reason of a clean stop, else the dead process.
    pub fn who(&self) -> String {
        match &self.ended {
            Some(reason) => reason.clone(),
            None => format!("blissful-infra (pid {}) was killed or crashed", self.pid),
        }
    }

    /// The record without what changes on every write of the same state.
    fn same_state(&self, other: &InFlight) -> bool {
        InFlight {
            at: 0,
            ..self.clone()
        } == InFlight {
            at: 0,
            ..other.clone()
        }
    }
}

#[derive(Serialize, Deserialize)]
struct JournalFile {
    format: u32,
    rollout: InFlight,
}

/// The rollout journal of one environment, and the audit journal its
/// recovery writes to.
#[derive(Clone, Debug)]
pub struct RolloutJournal {
    path: PathBuf,
    audit: PathBuf,
}

impl RolloutJournal {
    pub fn new(path: PathBuf, audit: PathBuf) -> RolloutJournal {
        RolloutJournal { path, audit }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn audit_path(&self) -> &Path {
        &self.audit
    }

    fn err(&self, what: impl std::fmt::Display) -> String {
        let path = crate::domain::sanitize::strip_all(&self.path.display().to_string());
        format!("rollout journal {path}: {what}")
    }

    /// The record a previous run left, if any. A torn or foreign file is an
    /// error naming it, never silently nothing.
    pub fn read(&self) -> Result<Option<InFlight>, String> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(format!("cannot stat: {e}"))),
        };
        if meta.len() > MAX_BYTES {
            return Err(self.err(format!("is {} bytes, more than any record", meta.len())));
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| self.err(format!("cannot read: {e}")))?;
        let file: JournalFile = serde_json::from_str(&text)
            .map_err(|e| self.err(format!("cannot parse ({e}); remove it once checked")))?;
        if file.format != ROLLOUT_JOURNAL_FORMAT {
            return Err(self.err(format!(
                "format {} is not the supported {ROLLOUT_JOURNAL_FORMAT}",
                file.format
            )));
        }
        Ok(Some(file.rollout))
    }

    /// Write `record` (durably) unless `last` holds the same state already.
    pub fn write(&self, record: &InFlight, last: &Option<InFlight>) -> Result<(), String> {
        if last.as_ref().is_some_and(|l| l.same_state(record)) {
            return Ok(());
        }
        let mut body = serde_json::to_vec_pretty(&JournalFile {
            format: ROLLOUT_JOURNAL_FORMAT,
            rollout: record.clone(),
        })
        .map_err(|e| self.err(format!("cannot encode: {e}")))?;
        body.push(b'\n');
        crate::durable::replace(&self.path, &body).map_err(|e| self.err(e.what()))
    }

    /// The operation is over: remove the record.
    pub fn clear(&self) -> Result<(), String> {
        crate::durable::remove(&self.path).map_err(|e| self.err(e.what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record() -> InFlight {
        InFlight {
            env: "staging".into(),
            pipeline_id: Some(7),
            operation: Operation::Rollout,
            version: Version::new("v2"),
            stable: Some(Version::new("v1")),
            step: Some((1, 3)),
            weight: 25,
            starting: false,
            applied: true,
            user: "alice".into(),
            pid: 4242,
            ended: None,
            at: 1,
        }
    }

    #[test]
    fn a_record_round_trips_and_clearing_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let j = RolloutJournal::new(
            dir.path().join("rollout-staging.json"),
            dir.path().join("a"),
        );
        assert_eq!(j.read().unwrap(), None);
        j.write(&record(), &None).unwrap();
        assert_eq!(j.read().unwrap(), Some(record()));
        j.clear().unwrap();
        assert_eq!(j.read().unwrap(), None);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn the_same_state_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let j = RolloutJournal::new(dir.path().join("r.json"), dir.path().join("a"));
        let later = InFlight { at: 99, ..record() };
        // Not written: the file stays missing.
        j.write(&later, &Some(record())).unwrap();
        assert_eq!(j.read().unwrap(), None);
    }

    #[test]
    fn a_torn_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout-staging.json");
        std::fs::write(&path, "{\"format\":1,\"rollout\":{\"env\"").unwrap();
        let j = RolloutJournal::new(path.clone(), dir.path().join("a"));
        let err = j.read().unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("cannot parse"), "{err}");
    }

    #[test]
    fn the_reason_says_what_where_and_who() {
        let r = record();
        assert_eq!(r.what(), "rollout of v2");
        assert_eq!(r.when(), "during step 2/3 (weight 25%)");
        assert_eq!(r.who(), "blissful-infra (pid 4242) was killed or crashed");
        let moving = InFlight {
            applied: false,
            ..record()
        };
        assert_eq!(moving.when(), "while setting step 2/3 (weight 25%)");
        let stopped = InFlight {
            ended: Some("sandbox shut down".into()),
            ..record()
        };
        assert_eq!(stopped.who(), "sandbox shut down");
    }
}
