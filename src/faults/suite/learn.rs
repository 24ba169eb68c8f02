//! Step 8 without the agent's knowledge base: each finished suite is one
//! JSON line in `<state>/knowledge/chaos.jsonl`, which the agent reads.

use std::path::PathBuf;

use super::{Learner, SuiteReport};
use crate::domain::chaos::LastScore;
use crate::domain::redact::redact;

/// Appends reports, one JSON object per line, secrets masked.
pub struct JsonlLearner {
    pub path: PathBuf,
}

impl Learner for JsonlLearner {
    fn learn(&self, report: &SuiteReport) -> Result<String, String> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let line =
            serde_json::to_string(report).map_err(|e| format!("encoding the report: {e}"))?;
        let mut record = redact(&line);
        record.push('\n');
        crate::durable::append(&self.path, record.as_bytes()).map_err(|e| e.to_string())?;
        Ok(format!("appended to {}", self.path.display()))
    }
}

/// The knowledge file is read from its end, at most this much of it.
const TAIL_BYTES: u64 = 8 * 1024 * 1024;

/// The score of the newest suite on `env` in the knowledge file; `None`
/// when there is no file or no scored suite on `env`. Lines that do not
/// parse (a torn last line, an older format) are skipped.
pub fn latest_score(path: &std::path::Path, env: &str) -> Result<Option<LastScore>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > TAIL_BYTES {
        file.seek(SeekFrom::Start(len - TAIL_BYTES))
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Scored {
        env: String,
        started_at: i64,
        score: Option<f64>,
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().rev().find_map(|line| {
        let s: Scored = serde_json::from_str(line).ok()?;
        (s.env == env).then_some(s.score.map(|score| LastScore {
            score,
            at: s.started_at,
        }))?
    }))
}
