//! Runs under the state directory: `pipelines/<id>/run.json` and one log
//! file per stage beside it, each written whole through `crate::durable`.
//! Ids are the directories' numbers: the next one is the highest plus one,
//! claimed by creating its directory, so they keep increasing across
//! restarts and two runs started at once never share one.

use std::path::{Path, PathBuf};

use super::model::{RunRecord, RunStatus, StageStatus};
use crate::paths::StatePaths;

/// A problem with the run store; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {what}: {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::durable::WriteError),
    #[error("{path}: not a pipeline run: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("no pipeline run {0} (see `blissful-infra pipeline list`)")]
    NoRun(u64),
}

fn shown(p: &Path) -> String {
    crate::domain::sanitize::strip_all(&p.display().to_string())
}

/// The `pipelines/` directory of one state directory.
#[derive(Clone, Debug)]
pub struct RunStore {
    pub dir: PathBuf,
}

impl RunStore {
    pub fn new(state: &StatePaths) -> RunStore {
        RunStore {
            dir: state.dir.join("pipelines"),
        }
    }

    pub fn run_dir(&self, id: u64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn run_file(&self, id: u64) -> PathBuf {
        self.run_dir(id).join("run.json")
    }

    /// The ids of every stored run, ascending.
    pub fn ids(&self) -> Result<Vec<u64>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: shown(&self.dir),
                    what: "cannot list",
                    source,
                })
            }
        };
        let mut ids: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Claim the next id by creating its directory.
    pub fn claim(&self) -> Result<u64, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            path: shown(&self.dir),
            what: "cannot create",
            source,
        })?;
        let mut id = self.ids()?.last().copied().unwrap_or(0) + 1;
        loop {
            let dir = self.run_dir(id);
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(id),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id += 1,
                Err(source) => {
                    return Err(StoreError::Io {
                        path: shown(&dir),
                        what: "cannot create",
                        source,
                    })
                }
            }
        }
    }

    pub fn save(&self, run: &RunRecord) -> Result<(), StoreError> {
        let path = self.run_file(run.id);
        let json = serde_json::to_vec_pretty(run).map_err(|source| StoreError::Parse {
            path: shown(&path),
            source,
        })?;
        crate::durable::replace(&path, &json)?;
        Ok(())
    }

    /// Write one stage's log (whole) into the run's directory.
    pub fn save_log(&self, id: u64, file: &str, text: &str) -> Result<(), StoreError> {
        crate::durable::replace(&self.run_dir(id).join(file), text.as_bytes())?;
        Ok(())
    }

    pub fn load(&self, id: u64) -> Result<RunRecord, StoreError> {
        let path = self.run_file(id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoRun(id))
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: shown(&path),
                    what: "cannot read",
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|source| StoreError::Parse {
            path: shown(&path),
            source,
        })
    }

    pub fn read_log(&self, id: u64, file: &str) -> Result<String, StoreError> {
        let path = self.run_dir(id).join(file);
        std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|source| StoreError::Io {
                path: shown(&path),
                what: "cannot read",
                source,
            })
    }

    /// Every readable run, ascending by id, and the problems with the others
    /// (a directory claimed by a run that never wrote its file is skipped).
    pub fn list(&self) -> Result<(Vec<RunRecord>, Vec<String>), StoreError> {
        let mut runs = Vec::new();
        let mut problems = Vec::new();
        for id in self.ids()? {
            match self.load(id) {
                Ok(r) => runs.push(r),
                Err(StoreError::NoRun(_)) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok((runs, problems))
    }

    /// Mark runs left `running` by a process that is gone as `interrupted`
    /// (their running stages too); returns their ids.
    pub fn mark_interrupted(&self) -> Result<Vec<u64>, StoreError> {
        let (runs, _) = self.list()?;
        let mut marked = Vec::new();
        for mut run in runs {
            if run.status != RunStatus::Running || process_alive(run.pid) {
                continue;
            }
            run.status = RunStatus::Interrupted;
            for s in &mut run.stages {
                if matches!(s.status, StageStatus::Running | StageStatus::Pending) {
                    s.status = StageStatus::NotRun;
                    s.reason = Some("interrupted: the process running the pipeline died".into());
                }
            }
            self.save(&run)?;
            marked.push(run.id);
        }
        Ok(marked)
    }

    /// The last run where `stage` passed, with the hash of its inputs then.
    pub fn last_green(&self, stage: &str) -> Result<Option<(u64, Option<String>)>, StoreError> {
        let (runs, _) = self.list()?;
        Ok(runs.iter().rev().find_map(|r| {
            r.stage(stage)
                .filter(|s| s.status == StageStatus::Passed)
                .map(|s| (r.id, s.inputs_hash.clone()))
        }))
    }
}

/// Whether process `pid` exists (0 never does).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 checks existence and permission; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests;
