//! The resilience gate, shared by `promote --from/--to` and the console's
//! promote: the source environment's last FMEA score against
//! `comparison.thresholds.min_resilience_score`, and the audit line an
//! override leaves before the promotion it lets through.

use std::path::Path;

use tokio::sync::mpsc;

use crate::app::jobs::JobContext;
use crate::app::msg::Msg;
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::{resilience_gate, Gate};
use crate::runtime::{Actor, SharedRuntime};

/// What the gate says of `from`, from the knowledge file at `knowledge`.
pub fn gate_for(knowledge: &Path, from: &str, min: f64) -> Result<Gate, String> {
    crate::faults::suite::latest_score(knowledge, from)
        .map(|last| resilience_gate(last, min))
        .map_err(|e| format!("the resilience gate cannot read the FMEA history: {e}"))
}

/// Journal an accepted override (before the promotion goes ahead).
pub fn audit_override(
    journal: &Path,
    user: &str,
    (from, to): (&str, &str),
    gate: &str,
) -> Result<(), String> {
    let entry = AuditEntry {
        ts: crate::clock::now_ms(),
        user: user.to_string(),
        env: to.to_string(),
        action: format!("override resilience gate: promote {from} → {to}"),
        from_version: None,
        to_version: None,
        outcome: "accepted".into(),
        detail: gate.to_string(),
    };
    crate::runtime::append_audit_line(journal, &entry).map_err(|e| {
        format!("the gate override could not be written to the audit journal, so the promotion does not go ahead: {e}")
    })
}

/// The console's promote: a closed gate comes back as `Msg::GateClosed`
/// (the app then asks for a typed override); an open or unscored one
/// promotes. With `overridden` (the typed confirmation was given), the
/// override is journaled first.
pub fn spawn_promote(
    runtime: SharedRuntime,
    jobs: &JobContext,
    (from, to): (String, String),
    overridden: Option<String>,
    tx: mpsc::Sender<Msg>,
) {
    let knowledge = jobs.knowledge.clone();
    let audit = jobs.audit_journal.clone();
    let min = jobs.config.comparison.thresholds.min_resilience_score;
    tokio::spawn(async move {
        let actor = Actor::current("console");
        let label = format!("promote {from} → {to}");
        let checked = match (&overridden, &knowledge) {
            (Some(why), _) => match &audit {
                Some(path) => audit_override(path, &actor.user, (&from, &to), why),
                None => Err("no audit journal to record the gate override in".into()),
            },
            (None, Some(path)) => match gate_for(path, &from, min) {
                Ok(g @ Gate::Closed { .. }) => {
                    let why = g.describe(&from);
                    let _ = tx.send(Msg::GateClosed { from, to, why }).await;
                    return;
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            // The demo keeps no FMEA history: nothing to judge by.
            (None, None) => Ok(()),
        };
        let result = match checked {
            Ok(()) => runtime
                .promote(&actor, &from, &to)
                .await
                .map(|a| a.message)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let _ = tx.send(Msg::ActionDone { label, result }).await;
    });
}
