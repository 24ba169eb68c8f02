//! A running stage's log file, written as its output arrives so the
//! console (and anyone with `tail -f`) sees it live.
//!
//! Each line is appended as it comes. The file stays bounded: once it
//! holds `HEAD_LINES + 2 × TAIL_LINES` lines it is replaced (temporary file
//! and rename) by what the stage's [`BoundedLog`] keeps — its head, a line
//! saying how many were dropped, its tail — and appending goes on. When
//! the stage ends, the runner replaces it once more, durably, with the
//! final log (`RunStore::save_log`). A reader that sees the file shrink or
//! change inode reads it again from the start.
//!
//! Best effort: the live file is not fsynced, and when it cannot be
//! written the stage goes on and only its final log is kept.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exec::{BoundedLog, HEAD_LINES, TAIL_LINES};

/// The line count at which the file is cut back to the bounded log.
pub const REWRITE_AT: usize = HEAD_LINES + 2 * TAIL_LINES;

#[derive(Debug)]
pub struct LiveFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    lines: usize,
}

impl LiveFile {
    /// Start an empty file at `path` (one left by an earlier try is replaced).
    pub fn create(path: &Path) -> LiveFile {
        LiveFile {
            path: path.to_path_buf(),
            file: std::fs::File::create(path).ok(),
            lines: 0,
        }
    }

    /// Write the line `log` took last.
    pub(super) fn after_push(&mut self, log: &BoundedLog) {
        if self.file.is_none() {
            return;
        }
        if self.lines >= REWRITE_AT {
            self.rewrite(log);
            return;
        }
        let Some(line) = log.newest() else { return };
        let ok = self.file.as_mut().is_some_and(|f| {
            f.write_all(line.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .is_ok()
        });
        if ok {
            self.lines += 1;
        } else {
            self.file = None;
        }
    }

    fn rewrite(&mut self, log: &BoundedLog) {
        let text = log.render();
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".live");
        let tmp = PathBuf::from(tmp);
        let done = std::fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| std::fs::OpenOptions::new().append(true).open(&self.path));
        match done {
            Ok(f) => {
                self.file = Some(f);
                self.lines = text.lines().count();
            }
            Err(_) => {
                let _ = std::fs::remove_file(&tmp);
                self.file = None;
            }
        }
    }
}
