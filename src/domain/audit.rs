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
