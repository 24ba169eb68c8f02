//! The local pipeline store, polled: the `pipelines/` directory's mtime
//! says a run was added or removed, and only runs still going have their
//! `run.json` looked at again. A run left `running` by a process that is
//! gone is shown as interrupted (the store is not written: the console
//! only reads it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::{expected_durations, BuildsEvent, Origin, MAX_RUNS, SOURCE_NAME};
use crate::pipeline::store::{process_alive, StoreError};
use crate::pipeline::{RunRecord, RunStatus, RunStore, StageStatus};
use crate::runtime::SourceState;

/// Between two polls while a run is going, and while none is.
pub const BUSY_POLL: Duration = Duration::from_millis(500);
pub const IDLE_POLL: Duration = Duration::from_millis(1_500);

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
    /// `run.json` is replaced by a rename: a new inode each time.
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        mtime: m.modified().ok(),
        len: m.len(),
        ino: m.ino(),
    })
}

/// What the poller knows of the store.
pub struct LocalRuns {
    store: RunStore,
    dir_stamp: Option<Stamp>,
    ids: Vec<u64>,
    /// Each run read, with its file's stamp.
    runs: BTreeMap<u64, (Stamp, RunRecord)>,
    /// Runs marked running whose process is gone.
    dead: Vec<u64>,
}

impl LocalRuns {
    pub fn new(store: RunStore) -> LocalRuns {
        LocalRuns {
            store,
            dir_stamp: None,
            ids: Vec::new(),
            runs: BTreeMap::new(),
            dead: Vec::new(),
        }
    }

    /// Whether a run is still going.
    pub fn busy(&self) -> bool {
        self.runs
            .iter()
            .any(|(id, (_, r))| r.status == RunStatus::Running && !self.dead.contains(id))
    }

    /// Look again; the runs, newest first, when anything changed.
    pub fn poll(&mut self) -> Result<Option<Vec<RunRecord>>, StoreError> {
        let mut changed = false;
        let dir = stamp(&self.store.dir);
        if dir != self.dir_stamp || self.dir_stamp.is_none() {
            let all = self.store.ids()?;
            let ids: Vec<u64> = all.iter().rev().take(MAX_RUNS).copied().collect();
            changed |= ids != self.ids;
            self.runs.retain(|id, _| ids.contains(id));
            self.ids = ids;
            self.dir_stamp = dir;
        }
        for &id in &self.ids {
            let known = self.runs.get(&id);
            // A finished run is never written again.
            if known.is_some_and(|(_, r)| r.status != RunStatus::Running) {
                continue;
            }
            let file = self.store.run_dir(id).join("run.json");
            let Some(now) = stamp(&file) else { continue };
            if known.is_some_and(|(s, _)| *s == now) {
                continue;
            }
            match self.store.load(id) {
                Ok(r) => {
                    self.runs.insert(id, (now, r));
                    changed = true;
                }
                // Claimed, not written yet, or written half: next time.
                Err(StoreError::NoRun(_) | StoreError::Parse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let dead: Vec<u64> = self
            .runs
            .iter()
            .filter(|(_, (_, r))| r.status == RunStatus::Running && !process_alive(r.pid))
            .map(|(id, _)| *id)
            .collect();
        if dead != self.dead {
            self.dead = dead;
            changed = true;
        }
        Ok(changed.then(|| self.snapshot()))
    }

    fn snapshot(&self) -> Vec<RunRecord> {
        self.runs
            .values()
            .rev()
            .map(|(_, r)| shown(r.clone()))
            .collect()
    }
}

/// A run left running by a dead process, as `mark_interrupted` would write it.
fn shown(mut r: RunRecord) -> RunRecord {
    if r.status != RunStatus::Running || process_alive(r.pid) {
        return r;
    }
    r.status = RunStatus::Interrupted;
    for s in &mut r.stages {
        if matches!(s.status, StageStatus::Running | StageStatus::Pending) {
            s.status = StageStatus::NotRun;
            s.reason = Some("interrupted: the process running the pipeline died".into());
        }
    }
    r
}

/// Poll `store` until `tx` is closed.
pub async fn run(store: RunStore, tx: mpsc::Sender<BuildsEvent>) {
    let state = |state| BuildsEvent::State {
        source: SOURCE_NAME,
        state,
    };
    if tx.send(state(SourceState::Connecting)).await.is_err() {
        return;
    }
    let mut runs = LocalRuns::new(store);
    let mut last_state = SourceState::Connecting;
    loop {
        let now = match runs.poll() {
            Ok(Some(list)) => {
                let expected = expected_durations(&list);
                let ev = BuildsEvent::Runs {
                    origin: Origin::Local,
                    runs: list,
                    expected,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
                SourceState::Ok
            }
            Ok(None) => SourceState::Ok,
            Err(e) => SourceState::retrying(e, IDLE_POLL),
        };
        if now != last_state {
            last_state = now.clone();
            if tx.send(state(now)).await.is_err() {
                return;
            }
        }
        let wait = if runs.busy() { BUSY_POLL } else { IDLE_POLL };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return,
        }
    }
}
