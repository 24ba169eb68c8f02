//! Start-up reconcile: find the faults a crashed (or SIGKILLed) blissful-infra
//! left applied, and undo each from its journal record.

use super::applier::{FaultApplier, UndoResult};
use super::journal::{Journal, JournalError};
use super::record::FaultRecord;

/// A leftover fault and what undoing it did.
#[derive(Debug)]
pub struct Reconciled<U> {
    pub record: FaultRecord<U>,
    pub outcome: UndoResult,
}

impl<U> Reconciled<U> {
    /// One line for the log.
    pub fn describe(&self) -> String {
        match &self.outcome {
            Ok(done) if done.is_empty() => {
                format!("leftover {}: nothing left to undo", self.record.describe())
            }
            Ok(done) => format!("leftover {}: {}", self.record.describe(), done.join("; ")),
            Err(failed) => format!(
                "leftover {}: could not undo: {}",
                self.record.describe(),
                failed.join("; ")
            ),
        }
    }
}

/// Records of `scope` (every scope when `None`) whose owner is gone.
pub fn leftovers<U>(
    journal: &Journal<U>,
    scope: Option<&str>,
) -> Result<Vec<FaultRecord<U>>, JournalError>
where
    U: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq,
{
    Ok(journal
        .read()?
        .into_iter()
        .filter(|r| scope.is_none_or(|s| r.scope == s) && r.is_orphaned())
        .collect())
}

/// The pid of another live process that owns a record of `scope`, if any
/// (a second sandbox on the same state directory).
pub fn live_owner<U>(journal: &Journal<U>, scope: Option<&str>) -> Result<Option<u32>, JournalError>
where
    U: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq,
{
    let me = std::process::id();
    Ok(journal
        .read()?
        .into_iter()
        .find(|r| scope.is_none_or(|s| r.scope == s) && r.owner.pid != me && r.owner.is_alive())
        .map(|r| r.owner.pid))
}

/// Undo every leftover of `scope`; a record leaves the journal only once
/// its fault is undone, so a failure is retried at the next start.
pub async fn reconcile<A: FaultApplier>(
    applier: &mut A,
    journal: &Journal<A::Undo>,
    scope: Option<&str>,
) -> Result<Vec<Reconciled<A::Undo>>, JournalError> {
    let mut out = Vec::new();
    for record in leftovers(journal, scope)? {
        let outcome = applier.undo_leftover(&record).await;
        if outcome.is_ok() {
            journal.remove(&record.id)?;
        }
        out.push(Reconciled { record, outcome });
    }
    Ok(out)
}
