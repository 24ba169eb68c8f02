//! The one trait every backend implements to take part in the fault engine.
//! The engine owns the journal, the timing and the experiments; an applier
//! only knows how to make and remove a fault on its platform.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::journal::Journal;
use super::record::FaultRecord;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::{RuntimeError, Support};

/// What a fault will act on, chosen before anything is written or changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared<U> {
    /// Display names of the targets (containers, an environment).
    pub targets: Vec<String>,
    /// Undo steps known before the fault is applied; journalled with it.
    pub undo: Vec<U>,
}

/// A fault that took effect.
pub struct Applied<H> {
    /// One line for the log: what was done.
    pub what: String,
    /// Live resources the backend keeps while the fault runs (child
    /// processes, relays); handed back to `undo`.
    pub handle: Option<H>,
}

/// Undo outcome: every step's description, or the failures.
pub type UndoResult = Result<Vec<String>, Vec<String>>;

#[async_trait]
pub trait FaultApplier: Send {
    /// A backend's own undo step, as journalled.
    type Undo: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Live resources of an applied fault.
    type Handle: Send + 'static;

    /// The backend's name in records and messages (`sandbox`, `docker`).
    const BACKEND: &'static str;
    /// The most CPU workers this backend lets a cpu-stress fault start.
    const MAX_CPU_WORKERS: u32;

    /// Whether this backend can apply `kind`, and if not, why.
    fn support(kind: ScenarioKind) -> Support;

    /// Choose the targets and the undo steps known in advance. Changes nothing.
    async fn prepare(
        &mut self,
        scope: &str,
        id: &str,
        scenario: ScenarioKind,
        params: &FaultParams,
    ) -> Result<Prepared<Self::Undo>, RuntimeError>;

    /// Apply a fault whose record is already in `journal`. A step learned
    /// only while applying is added to `record` and written with
    /// `journal.replace` before the change it undoes is made.
    async fn apply(
        &mut self,
        record: &mut FaultRecord<Self::Undo>,
        journal: &Journal<Self::Undo>,
    ) -> Result<Applied<Self::Handle>, String>;

    /// Remove a fault this process applied. The applier takes the live
    /// resources from `handle` once they are no longer needed; what it
    /// leaves there stays with the fault (an undo that failed keeps them).
    async fn undo(
        &mut self,
        record: &FaultRecord<Self::Undo>,
        handle: &mut Option<Self::Handle>,
    ) -> UndoResult;

    /// Remove a fault from its journal record alone, after the process that
    /// applied it died.
    async fn undo_leftover(&mut self, record: &FaultRecord<Self::Undo>) -> UndoResult;
}

/// The scenarios a backend supports, by name, with the reason for each it
/// does not (what `Capabilities::scenarios` holds).
pub fn scenario_support<A: FaultApplier>() -> BTreeMap<String, Support> {
    ScenarioKind::every()
        .map(|k| (k.name().to_string(), A::support(k)))
        .collect()
}
