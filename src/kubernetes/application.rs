//! An Argo CD Application as the console shows it: sync and health status,
//! the synced revision, and the last operation's phase and message.

use serde_json::Value;

use super::fields::{list, text};
use crate::domain::environment::Health;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationView {
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `status.sync.status`: `Synced`, `OutOfSync` or `Unknown`.
    pub sync_status: Option<String>,
    /// `status.health.status`: `Healthy`, `Progressing`, `Suspended`,
    /// `Degraded`, `Missing` or `Unknown`.
    pub health_status: Option<String>,
    pub health_message: Option<String>,
    /// `status.sync.revision`, or the first of `status.sync.revisions`
    /// (multi-source Applications).
    pub revision: Option<String>,
    /// `status.operationState.phase`: `Running`, `Succeeded`, `Failed`,
    /// `Error` or `Terminating`.
    pub operation_phase: Option<String>,
    pub operation_message: Option<String>,
    pub operation_finished_at: Option<String>,
}

/// Read an Application (as JSON); never fails.
pub fn application_view(obj: &Value) -> ApplicationView {
    ApplicationView {
        name: text(obj, &["metadata", "name"]),
        namespace: text(obj, &["metadata", "namespace"]),
        sync_status: text(obj, &["status", "sync", "status"]),
        health_status: text(obj, &["status", "health", "status"]),
        health_message: text(obj, &["status", "health", "message"]),
        revision: text(obj, &["status", "sync", "revision"]).or_else(|| {
            list(obj, &["status", "sync", "revisions"])
                .iter()
                .find_map(|r| r.as_str().map(super::fields::clean))
                .filter(|r| !r.is_empty())
        }),
        operation_phase: text(obj, &["status", "operationState", "phase"]),
        operation_message: text(obj, &["status", "operationState", "message"]),
        operation_finished_at: text(obj, &["status", "operationState", "finishedAt"]),
    }
}

impl ApplicationView {
    /// Argo CD's health in the project's terms. A failed last sync on an
    /// otherwise healthy app is `Degraded` with the operation's message.
    pub fn health(&self) -> Health {
        let why = |fallback: &str| {
            self.health_message
                .clone()
                .unwrap_or_else(|| fallback.to_owned())
        };
        let failed = matches!(self.operation_phase.as_deref(), Some("Failed" | "Error"));
        match self.health_status.as_deref() {
            Some("Healthy") if failed => Health::Degraded(
                self.operation_message
                    .clone()
                    .unwrap_or_else(|| "last sync failed".into()),
            ),
            Some("Healthy") => Health::Healthy,
            Some("Progressing") => Health::Progressing(why("progressing")),
            Some("Suspended") => Health::Paused(why("suspended")),
            Some("Degraded") => Health::Degraded(why("degraded")),
            Some("Missing") => Health::Down(why("missing")),
            _ => Health::Unknown,
        }
    }

    /// `status.sync.status` is `Synced`.
    pub fn is_synced(&self) -> bool {
        self.sync_status.as_deref() == Some("Synced")
    }
}
