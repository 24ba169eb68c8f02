//! Audit journal entries: who did what to which environment, and how it ended.

use serde::{Deserialize, Serialize};

use super::EpochMillis;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub ts: EpochMillis,
    pub user: String,
    pub env: String,
    pub action: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl AuditEntry {
    /// The entry with every text field passed through [`super::redact::redact`]:
    /// what the journal file may hold (an abort reason or a refusal can
    /// quote a secret).
    pub fn redacted(&self) -> AuditEntry {
        use super::redact::redact;
        AuditEntry {
            ts: self.ts,
            user: redact(&self.user),
            env: redact(&self.env),
            action: redact(&self.action),
            from_version: self.from_version.as_deref().map(redact),
            to_version: self.to_version.as_deref().map(redact),
            outcome: redact(&self.outcome),
            detail: redact(&self.detail),
        }
    }
}
