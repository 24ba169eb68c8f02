//! The fault engine, one for every runtime: the write-ahead journal, the
//! start-up reconcile, the runner that times experiments and removes their
//! faults, and the `FaultApplier` trait each backend implements (the sandbox
//! and Docker today; a Chaos Mesh applier for Kubernetes plugs in the same
//! way). Which scenarios exist and their parameter ranges is the catalogue
//! in `domain::chaos`; which ones a backend supports comes from its applier.
//! Audit entries and read-only checks are not made here: a decorator around
//! the runtime does that.

mod applier;
mod journal;
mod process;
mod reconcile;
mod record;
mod runner;
pub mod suite;

pub use applier::{scenario_support, Applied, FaultApplier, Prepared, UndoResult};
pub use journal::{Journal, JournalError, FAULT_JOURNAL_FORMAT};
pub use process::{
    kill_marked, kill_pid, marked_pids, new_marker, process_cmdline, process_start_time, ProcessRef,
};
pub use reconcile::{leftovers, live_owner, reconcile, Reconciled};
pub use record::FaultRecord;
pub use runner::{FaultRunner, Injected, LiveFault, Sample};

#[cfg(test)]
mod tests;
