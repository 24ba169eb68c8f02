//! Step 8 without the agent's knowledge base: each finished suite is one
//! JSON line in `<state>/knowledge/chaos.jsonl`, which the agent reads.

use std::path::PathBuf;

use super::{Learner, SuiteReport};
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
