//! Pipeline run ids that stay unique across restarts: ids are handed out in
//! blocks, and the end of the current block is written to the state
//! directory before any id from it is used, so a restart (even after a
//! crash) starts above every id a previous run could have shown.

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
        }
    }

    /// Ids from 1 that are not remembered (tests).
    pub fn in_memory() -> PipelineIds {
        PipelineIds {
            next: AtomicU64::new(1),
            reserved: Mutex::new(u64::MAX),
            path: None,
        }
    }

    pub fn next(&self) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if id >= *reserved {
            let end = id + BLOCK;
            if let Some(path) = &self.path {
                // Best effort: without the file, ids may repeat after a restart,
                // which is what happened before this file existed.
                let tmp = path.with_extension("tmp");
                let _ =
                    std::fs::write(&tmp, end.to_string()).and_then(|_| std::fs::rename(&tmp, path));
            }
            *reserved = end;
        }
        id
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
    fn in_memory_ids_count_from_one() {
        let ids = PipelineIds::in_memory();
        assert_eq!(ids.next(), 1);
        assert_eq!(ids.next(), 2);
    }
}
