//! The controller's side of the rollout journal (`journal.rs`): what is in
//! flight, written before each change of the traffic split and confirmed
//! after it, removed once the operation is over.
//!
//! A change that gives a canary more traffic, or makes it stable, is made
//! only once its record is on disk. When the record cannot be written (a
//! full disk, a read-only state directory) the change is not made and the
//! canary is rolled back, naming the file and the OS error. Changes that
//! take traffic away from a canary, and rollbacks to an earlier version,
//! go ahead even then (the error is logged): refusing them would do harm.

use super::controller::{Aborted, Active, Controller, Stage};
use super::journal::{InFlight, Operation};
use super::view::RolloutView;
use crate::clock::now_ms;
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::pipeline::StageStatus;
use crate::runtime::{RolloutOutcome, RuntimeError};

impl Controller {
    /// The operation in flight, as the journal records it.
    pub(super) fn in_flight(&self, applied: bool) -> Option<InFlight> {
        let (operation, version, pipeline_id, user, starting) = match &self.active {
            Some(Active::Rollout(r)) => (
                Operation::Rollout,
                r.canary.clone(),
                Some(r.run.id),
                r.user.clone(),
                matches!(r.stage, Stage::Starting { .. }),
            ),
            Some(Active::Undo(u)) => (
                Operation::Rollback,
                u.target.clone(),
                Some(u.run.id),
                u.user.clone(),
                false,
            ),
            Some(Active::Switched(w)) => (
                Operation::Switch,
                w.canary.clone(),
                Some(w.run.id),
                w.user.clone(),
                false,
            ),
            None => (
                Operation::Held,
                self.view.canary.clone()?,
                None,
                String::new(),
                false,
            ),
        };
        Some(InFlight {
            env: self.env().to_string(),
            pipeline_id,
            operation,
            version,
            stable: self.view.stable.clone(),
            step: self.view.step,
            weight: self.view.weight,
            starting,
            applied,
            user,
            pid: std::process::id(),
            ended: None,
            at: now_ms(),
        })
    }

    fn write_record(&mut self, record: InFlight) -> Result<(), String> {
        let Some(j) = &self.s.journal else {
            return Ok(());
        };
        j.write(&record, &self.journaled)?;
        self.journaled = Some(record);
        Ok(())
    }

    /// Before a new version is brought up: record it. A rollout is refused
    /// when that fails; a rollback to an earlier version goes ahead.
    pub(super) async fn journal_start(
        &mut self,
        operation: Operation,
        version: &Version,
        (pipeline_id, user): (u64, &str),
    ) -> Result<(), RuntimeError> {
        let record = InFlight {
            env: self.env().to_string(),
            pipeline_id: Some(pipeline_id),
            operation,
            version: version.clone(),
            stable: self.view.stable.clone(),
            step: None,
            weight: 0,
            starting: true,
            applied: true,
            user: user.to_string(),
            pid: std::process::id(),
            ended: None,
            at: now_ms(),
        };
        match self.write_record(record) {
            Ok(()) => Ok(()),
            Err(e) if operation == Operation::Rollback => {
                self.log(Level::Error, format!("{e}; the rollback goes ahead"))
                    .await;
                Ok(())
            }
            Err(e) => Err(RuntimeError::Failed(format!(
                "{version} was not started: {e}"
            ))),
        }
    }

    /// Before the router changes: record the intended split. `false` when
    /// the change must not be made (the view is back to what the router
    /// has, and the canary is rolled back at the next tick).
    pub(super) async fn journal_before_traffic(&mut self) -> bool {
        let Some(record) = self.in_flight(false) else {
            return true;
        };
        let Err(e) = self.write_record(record) else {
            return true;
        };
        if !grows_exposure(self.reported(), &self.view) {
            let text = format!("{e}; the change of traffic goes ahead");
            self.log(Level::Error, text).await;
            return true;
        }
        if let Some(before) = self.reported().cloned() {
            self.view = before;
        }
        let reason = format!("{e}; the canary gets no more traffic and is rolled back");
        self.log(Level::Error, reason.clone()).await;
        self.blocked = Some(reason);
        false
    }

    /// After the router changed: confirm the record.
    pub(super) async fn journal_after_traffic(&mut self) {
        if let Some(record) = self.in_flight(true) {
            if let Err(e) = self.write_record(record) {
                self.log(Level::Error, e).await;
            }
        }
    }

    /// Once a tick: roll back a change the journal refused, or remove the
    /// record of an operation that is over.
    pub(super) async fn settle(&mut self) {
        if let Some(reason) = self.blocked.take() {
            self.roll_back_refused(reason).await;
            return;
        }
        if self.journaled.is_none() || self.in_flight(true).is_some() {
            return;
        }
        let Some(j) = self.s.journal.clone() else {
            return;
        };
        match j.clear() {
            Ok(()) => self.journaled = None,
            Err(e) => self.log(Level::Error, e).await,
        }
    }

    /// The runtime stops cleanly with something in flight: say so in the
    /// record, for the next start.
    pub(super) async fn note_stop(&mut self, reason: &str) {
        let Some(mut record) = self.journaled.clone() else {
            return;
        };
        record.ended = Some(reason.to_string());
        if let Err(e) = self.write_record(record) {
            self.log(Level::Error, e).await;
        }
    }

    async fn roll_back_refused(&mut self, reason: String) {
        match self.parked.take().or_else(|| self.active.take()) {
            Some(Active::Rollout(r)) => self.conclude_failure(r, reason, None).await,
            Some(Active::Undo(u)) => {
                // An undo's target never got traffic: take it away again.
                self.active = Some(Active::Undo(u));
                self.stop_active(&reason).await;
            }
            Some(Active::Switched(mut w)) => {
                let now = now_ms();
                w.run.finish(StageStatus::Failed(reason.clone()), now);
                self.publish(&w.run).await;
                self.drop_canary(&w.canary, &reason).await;
                let outcome = RolloutOutcome::RolledBack {
                    version: w.canary.clone(),
                    reason,
                    verdict: None,
                };
                self.finished(w.run.id, outcome, &w.user).await;
            }
            None => {
                if let Some(c) = self.view.canary.clone() {
                    self.drop_canary(&c, &reason).await;
                }
            }
        }
    }

    /// All traffic back to stable and `canary` retired; `retry` starts it again.
    async fn drop_canary(&mut self, canary: &Version, reason: &str) {
        self.view.canary = None;
        self.view.weight = 0;
        self.view.step = None;
        self.apply().await;
        let _ = self.retire(canary).await;
        self.aborted = Some(Aborted {
            version: canary.clone(),
            reason: reason.to_string(),
        });
        let text = format!("{canary} rolled back in {}: {reason}", self.env());
        self.log(Level::Warn, text).await;
    }
}

/// Whether going from `before` to `after` gives a canary more traffic or
/// makes it stable (what needs its journal record first).
fn grows_exposure(before: Option<&RolloutView>, after: &RolloutView) -> bool {
    let Some(b) = before else {
        return false;
    };
    let promotes = after.stable.is_some() && after.stable != b.stable && after.stable == b.canary;
    let more = match (&after.canary, &b.canary) {
        (Some(c), Some(bc)) if c == bc => after.weight > b.weight,
        (Some(_), _) => after.weight > 0,
        (None, _) => false,
    };
    promotes || more
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stable: &str, canary: Option<&str>, weight: u8) -> RolloutView {
        RolloutView {
            stable: Some(Version::new(stable)),
            canary: canary.map(Version::new),
            weight,
            ..Default::default()
        }
    }

    #[test]
    fn more_canary_traffic_and_promotion_grow_exposure_rollbacks_do_not() {
        let at25 = view("v1", Some("v2"), 25);
        let at50 = view("v1", Some("v2"), 50);
        assert!(grows_exposure(Some(&at25), &at50));
        assert!(!grows_exposure(Some(&at50), &at25));
        assert!(grows_exposure(Some(&at50), &view("v2", None, 0)));
        assert!(!grows_exposure(Some(&at50), &view("v1", None, 0)));
        // An undo to an earlier version is not a canary's promotion.
        assert!(!grows_exposure(
            Some(&view("v2", None, 0)),
            &view("v1", None, 0)
        ));
        assert!(!grows_exposure(None, &at50));
    }
}
