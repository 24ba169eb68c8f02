//! Pipeline run ids that stay unique across restarts: ids are handed out in
//! blocks, and the end of the current block is written to the state
//! directory (`crate::durable::replace`) before any id from it is used, so
//! a restart (even after a crash) starts above every id a previous run
//! could have shown. When the file cannot be written (a full disk), ids go
//! on in memory, the write is tried again with the next id, and the error
//! waits in [`PipelineIds::take_problem`] for the runtime to log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Ids reserved per write of the file.
const BLOCK: u64 = 1000;

#[derive(Debug)]
pub struct PipelineIds {
    next: AtomicU64,
    /// First id not yet reserved on disk.
    reserved: Mutex<u64>,
    path: Option<PathBuf>,
    /// The last reservation that could not be written, not yet reported.
    problem: Mutex<Option<String>>,
}

impl PipelineIds {
    /// Ids continuing from what `path` reserved last (1 when it is missing).
    pub fn open(path: PathBuf) -> PipelineIds {
        let start = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        PipelineIds {
            next: AtomicU64::new(start),
            reserved: Mutex::new(start),
            path: Some(path),
            problem: Mutex::new(None),
        }
    }

    /// Ids from 1 that are not remembered (tests).
    pub fn in_memory() -> PipelineIds {
        PipelineIds {
            next: AtomicU64::new(1),
            reserved: Mutex::new(u64::MAX),
            path: None,
            problem: Mutex::new(None),
        }
    }

    pub fn next(&self) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if id >= *reserved {
            let end = id + BLOCK;
            let written = match &self.path {
                Some(path) => crate::durable::replace(path, end.to_string().as_bytes()),
                None => Ok(()),
            };
            match written {
                Ok(()) => *reserved = end,
                // The id is still unique in this run; a restart may show it again.
                Err(e) => {
                    let text = format!(
                        "pipeline ids may repeat after a restart: {e}; trying again with the next id"
                    );
                    *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
                }
            }
        }
        id
    }

    /// The last reservation that could not be written, once.
    pub fn take_problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_continue_above_the_last_run_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline-ids");
        let first = PipelineIds::open(path.clone());
        let a = first.next();
        let b = first.next();
        assert_eq!((a, b), (1, 2));
        drop(first);
        let second = PipelineIds::open(path);
        let c = second.next();
        assert!(c > b, "{c} after {b}");
    }

    #[test]
    fn an_unwritable_reservation_is_reported_and_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: every write fails.
        let path = dir.path().join("pipeline-ids");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("x"), "").unwrap();
        let ids = PipelineIds::open(path.clone());
        assert_eq!((ids.next(), ids.next()), (1, 2));
        let problem = ids.take_problem().unwrap();
        assert!(problem.contains("pipeline-ids"), "{problem}");
        assert_eq!(ids.take_problem(), None);
        std::fs::remove_dir_all(&path).unwrap();
        assert_eq!(ids.next(), 3);
        assert_eq!(ids.take_problem(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1003");
    }

    #[test]
    fn in_memory_ids_count_from_one() {
        let ids = PipelineIds::in_memory();
        assert_eq!(ids.next(), 1);
        assert_eq!(ids.next(), 2);
    }
}
