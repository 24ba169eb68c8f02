//! Console text read progressively (`logText/progressiveText?start=N`),
//! split into clean lines and kept as a bounded tail. Pure: the client
//! hands each chunk in.
//!
//! Jenkins answers with the bytes from `start`, `X-Text-Size` (where the
//! next read starts) and `X-More-Data: true` while the build may still
//! write. A chunk may end inside a line: that part is held back until the
//! rest arrives, so no line is shown twice or split.

use std::collections::VecDeque;

use serde::Serialize;

use crate::domain::sanitize::sanitize_bytes;
use crate::domain::sanitize::strip_all;

/// Longest line kept, in bytes; the rest of a longer line is cut.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Lines kept in the tail by default.
pub const DEFAULT_TAIL_LINES: usize = 2_000;

/// One progressive read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub text: Vec<u8>,
    /// `X-Text-Size`: the offset the next read starts from.
    pub next_start: u64,
    /// `X-More-Data: true`: the build may still write.
    pub more: bool,
}

/// The newest lines of a build's console, bounded, with what was dropped.
#[derive(Clone, Debug, Serialize)]
pub struct ConsoleTail {
    lines: VecDeque<String>,
    #[serde(skip)]
    max_lines: usize,
    /// Lines that fell out of the tail.
    pub dropped: u64,
    /// Where the next read starts.
    pub next_start: u64,
    /// Jenkins said no more text will come.
    pub complete: bool,
    #[serde(skip)]
    partial: Vec<u8>,
    /// The held-back line was already cut at `MAX_LINE_BYTES`.
    #[serde(skip)]
    partial_cut: bool,
}

impl ConsoleTail {
    pub fn new(max_lines: usize) -> ConsoleTail {
        ConsoleTail {
            lines: VecDeque::new(),
            max_lines: max_lines.max(1),
            dropped: 0,
            next_start: 0,
            complete: false,
            partial: Vec::new(),
            partial_cut: false,
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// Take in one read; returns the complete lines it finished, clean.
    /// A chunk that starts anywhere else than where the last one ended
    /// (Jenkins restarted the log) is taken as it comes.
    pub fn push(&mut self, chunk: &Chunk) -> Vec<String> {
        let mut out = Vec::new();
        for &b in &chunk.text {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.partial_cut = false;
                out.push(clean_line(&line));
            } else if self.partial.len() < MAX_LINE_BYTES {
                self.partial.push(b);
            } else {
                self.partial_cut = true;
            }
        }
        self.next_start = chunk.next_start;
        self.complete = !chunk.more;
        if self.complete && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            out.push(clean_line(&line));
        }
        for l in &out {
            if self.lines.len() == self.max_lines {
                self.lines.pop_front();
                self.dropped += 1;
            }
            self.lines.push_back(l.clone());
        }
        out
    }
}

/// Remove Jenkins' hidden console notes (`ESC[8mha:<base64>ESC[0m`,
/// serialised annotations), then every escape and control.
pub fn clean_line(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let mut text = Vec::with_capacity(raw.len());
    let mut rest = raw;
    const NOTE: &[u8] = b"\x1b[8mha:";
    const END: &[u8] = b"\x1b[0m";
    while let Some(i) = find(rest, NOTE) {
        text.extend_from_slice(&rest[..i]);
        let after = &rest[i + NOTE.len()..];
        match find(after, END) {
            Some(j) => rest = &after[j + END.len()..],
            None => {
                rest = &[];
                break;
            }
        }
    }
    text.extend_from_slice(rest);
    strip_all(&sanitize_bytes(&text))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
