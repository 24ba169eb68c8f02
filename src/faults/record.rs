//! One journalled fault: what was applied, by whom, and how to undo it.

use serde::{Deserialize, Serialize};

use super::process::ProcessRef;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::EpochMillis;

/// A fault as the journal holds it. `U` is the backend's own undo step
/// (a process to kill, a qdisc to delete, a container to start again):
/// every step is journalled before the change it undoes is made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord<U> {
    pub id: String,
    /// The backend that applied it (`sandbox`, `docker`).
    pub backend: String,
    /// What the fault belongs to: a sandbox environment, a Docker project.
    pub scope: String,
    pub scenario: ScenarioKind,
    pub params: FaultParams,
    pub started_at: EpochMillis,
    pub ends_at: EpochMillis,
    /// The blissful-infra process that applied it.
    pub owner: ProcessRef,
    /// Display names of what it acts on (containers, an environment).
    pub targets: Vec<String>,
    pub undo: Vec<U>,
}

impl<U> FaultRecord<U> {
    /// `cpu-stress on app-1 (cpu-stress-3-1a2b, started 12:00:01)`.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({}, started {})",
            self.scenario,
            self.targets.join(", "),
            self.id,
            chrono::DateTime::from_timestamp_millis(self.started_at)
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| "?".into())
        )
    }

    /// True when the process that applied it has gone (crashed or killed)
    /// and it is not this process.
    pub fn is_orphaned(&self) -> bool {
        self.owner.pid != std::process::id() && !self.owner.is_alive()
    }
}
