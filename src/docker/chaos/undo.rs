//! Ending Docker faults: one on request, every one at shutdown, and the
//! leftovers of a blissful-infra that died (undone at start, or on request
//! when that failed).

use std::sync::Arc;

use super::apply::DockerApplier;
use super::{chaos_run, remove_fault, FaultRecord};
use crate::clock::now_ms;
use crate::docker::runtime::Inner;
use crate::docker::ENV_NAME;
use crate::domain::chaos::{Experiment, ExperimentState};
use crate::domain::logs::Level;
use crate::faults::Reconciled;
use crate::runtime::{Actor, RuntimeError, RuntimeEvent};

/// A leftover fault as consoles show it: an experiment still running, so
/// that `u` (undo every fault still applied) removes it too.
pub(crate) fn leftover_experiment(rec: &FaultRecord) -> Experiment {
    let mut x = Experiment::new(
        rec.id.clone(),
        ENV_NAME,
        rec.scenario,
        rec.params.clone(),
        rec.started_at,
    );
    x.ends_at = rec.ends_at;
    x.state = ExperimentState::Running;
    x
}

/// Tell consoles and the timeline what happened to one leftover.
fn report_leftover(inner: &Inner, r: &Reconciled<super::UndoStep>) -> Result<String, String> {
    let line = r.describe();
    match &r.outcome {
        Ok(done) => {
            inner.log(Level::Warn, &line);
            // Consoles listed it as still applied: say it is gone.
            let mut gone = leftover_experiment(&r.record);
            gone.state = ExperimentState::Aborted;
            gone.ends_at = now_ms();
            inner.emit(RuntimeEvent::Experiment { experiment: gone });
            let title = format!(
                "undo leftover {} on {}",
                r.record.scenario,
                r.record.targets.join(", ")
            );
            chaos_run(inner, &title, &[("undo", Ok(done.join("; ")))]);
            Ok(line)
        }
        Err(_) => {
            inner.log(Level::Error, &line);
            Err(line)
        }
    }
}

/// Undo the leftovers of this project (all of them, or the one `only`).
async fn undo_leftovers_of(
    inner: &Arc<Inner>,
    only: Option<&str>,
) -> Result<Vec<Result<String, String>>, String> {
    let chaos = inner.chaos.lock().await;
    let journal = chaos.runner.journal().clone();
    let project = chaos.project.clone();
    let mut applier = DockerApplier::new(inner);
    let mut out = Vec::new();
    for record in crate::faults::leftovers(&journal, Some(&project)).map_err(|e| e.to_string())? {
        if only.is_some_and(|id| id != record.id) {
            continue;
        }
        let outcome = crate::faults::FaultApplier::undo_leftover(&mut applier, &record).await;
        if outcome.is_ok() {
            journal.remove(&record.id).map_err(|e| e.to_string())?;
        }
        out.push(report_leftover(inner, &Reconciled { record, outcome }));
    }
    Ok(out)
}

/// At start: undo every fault a dead blissful-infra of this project left
/// applied. Returns one line per fault (kept for `reconciled`).
pub(crate) async fn reconcile_at_start(inner: &Arc<Inner>) -> Vec<String> {
    let lines: Vec<String> = match undo_leftovers_of(inner, None).await {
        Ok(results) => results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| e))
            .collect(),
        Err(e) => {
            let line = format!("leftover faults not checked: {e}");
            inner.log(Level::Error, &line);
            vec![line]
        }
    };
    inner.chaos.lock().await.reconciled = lines.clone();
    lines
}

/// End a fault early: a live one of this runtime, or a leftover of a dead one.
pub(crate) async fn undo(inner: &Arc<Inner>, _actor: &Actor, id: &str) -> Result<(), RuntimeError> {
    let live = inner.chaos.lock().await.runner.get(id).is_some();
    if live {
        let mut chaos = inner.chaos.lock().await;
        remove_fault(inner, &mut chaos, id)
            .await
            .map(|_| ())
            .map_err(RuntimeError::Failed)
    } else {
        match undo_leftovers_of(inner, Some(id)).await {
            Ok(mut v) if !v.is_empty() => v.remove(0).map(|_| ()).map_err(RuntimeError::Failed),
            Ok(_) => Err(RuntimeError::NotFound(format!("experiment {id}"))),
            Err(e) => Err(RuntimeError::Failed(e)),
        }
    }
}

/// Undo every leftover fault of this project (one key / one call).
pub(crate) async fn undo_leftovers(
    inner: &Arc<Inner>,
    _actor: &Actor,
) -> Result<Vec<String>, RuntimeError> {
    let results = undo_leftovers_of(inner, None)
        .await
        .map_err(RuntimeError::Failed)?;
    let (lines, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let lines: Vec<String> = lines.into_iter().filter_map(Result::ok).collect();
    let failed: Vec<String> = failed.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        Ok(lines)
    } else {
        Err(RuntimeError::Failed(failed.join("; ")))
    }
}

/// Remove every fault this runtime still applies (Ctrl-C, shutdown).
pub(crate) async fn undo_all(inner: &Arc<Inner>, _actor: &Actor) -> Vec<String> {
    let mut chaos = inner.chaos.lock().await;
    let mut lines = Vec::new();
    for id in chaos.runner.applied_ids() {
        let line = match remove_fault(inner, &mut chaos, &id).await {
            Ok(done) => format!("{id}: {}", done.join("; ")),
            Err(e) => format!("{id}: {e}"),
        };
        lines.push(line);
    }
    lines
}
