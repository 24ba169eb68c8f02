//! What a build run is to the console, whatever ran it: a local run is a
//! `RunRecord` as the store keeps it; a Jenkins run is mapped into one
//! (its number as the id, the job as the config, no result files).

use std::collections::BTreeMap;

use crate::pipeline::{RunRecord, RunStatus, StageRecord, StageStatus};
use crate::sources::jenkins::{Run, Status};

/// Where a run ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Local,
    Jenkins,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Jenkins => "jenkins",
        }
    }
}

/// One run: its origin and its id (a local run's id, a Jenkins build's number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildRef {
    pub origin: Origin,
    pub id: u64,
}

/// The log the Pipeline pane shows: a local stage's log file, or a Jenkins
/// build's console (`stage` and `file` are then `None`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogKey {
    pub run: BuildRef,
    pub stage: Option<String>,
    /// The stage's log file in the run's directory (`RunRecord`'s `log`).
    pub file: Option<String>,
}

fn run_status(s: &Status) -> RunStatus {
    match s {
        Status::Success => RunStatus::Passed,
        Status::InProgress | Status::PausedPendingInput => RunStatus::Running,
        Status::Aborted | Status::NotExecuted => RunStatus::Cancelled,
        Status::Failed | Status::Unstable | Status::Other(_) => RunStatus::Failed,
    }
}

fn stage_status(s: &Status) -> (StageStatus, Option<String>) {
    match s {
        Status::Success => (StageStatus::Passed, None),
        Status::Failed => (StageStatus::Failed, None),
        Status::InProgress => (StageStatus::Running, None),
        Status::PausedPendingInput => (StageStatus::Running, Some("waiting for input".into())),
        Status::Aborted => (StageStatus::Cancelled, Some("aborted in Jenkins".into())),
        Status::NotExecuted => (StageStatus::NotRun, None),
        Status::Unstable => (StageStatus::Failed, Some("unstable".into())),
        Status::Other(o) => (StageStatus::Pending, Some(o.clone())),
    }
}

fn ended(start_ms: i64, duration_ms: u64, running: bool) -> Option<i64> {
    (!running && start_ms > 0)
        .then(|| start_ms.saturating_add(i64::try_from(duration_ms).unwrap_or(i64::MAX)))
}

/// A Jenkins run as a run record (`job` is recorded as its config).
pub fn from_jenkins(run: &Run, job: &str) -> RunRecord {
    let stages = run
        .stages
        .iter()
        .map(|s| {
            let (status, reason) = stage_status(&s.status);
            let running = status == StageStatus::Running;
            StageRecord {
                reason,
                started_ms: (s.start_ms > 0).then_some(s.start_ms),
                ended_ms: ended(s.start_ms, s.duration_ms, running),
                ..StageRecord::new(s.name.clone(), String::new(), status)
            }
        })
        .collect();
    RunRecord {
        id: run.number,
        status: run_status(&run.status),
        config: crate::domain::sanitize::strip_all(job),
        started_ms: run.start_ms,
        ended_ms: ended(run.start_ms, run.duration_ms, run.status.is_running()),
        pid: 0,
        strict: false,
        force: false,
        only_stage: None,
        stages,
    }
}

/// For each stage name, how long it took the last time it passed, from
/// `runs` (newest first).
pub fn expected_durations(runs: &[RunRecord]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for r in runs {
        for s in &r.stages {
            if s.status != StageStatus::Passed || out.contains_key(&s.name) {
                continue;
            }
            if let Some(ms) = s.duration_ms().filter(|ms| *ms > 0) {
                out.insert(s.name.clone(), ms);
            }
        }
    }
    out
}
