//! The experiment runner: journals a fault, has the backend apply it, removes
//! it when its time is up (or on undo), and feeds the experiment its samples
//! until it has a verdict. Backends call it from their own loop (the sandbox
//! engine's tick, the Docker runtime's ticker); it never sleeps itself.

use std::collections::{BTreeMap, BTreeSet};

use super::applier::{FaultApplier, Prepared};
use super::journal::Journal;
use super::process::ProcessRef;
use super::record::FaultRecord;
use crate::domain::chaos::{ChaosSlo, Experiment, ExperimentState, FaultParams, ScenarioKind};
use crate::domain::environment::ActiveFault;
use crate::domain::EpochMillis;
use crate::runtime::{RuntimeError, Support};

/// Finished experiments kept for `undo` to answer "already ended".
const FINISHED_KEPT: usize = 64;

/// One experiment and, while applied, its fault.
pub struct LiveFault<U, H> {
    pub experiment: Experiment,
    pub record: FaultRecord<U>,
    /// The fault is in effect (and journalled).
    pub applied: bool,
    pub handle: Option<H>,
}

/// One sample for an experiment: environment-wide numbers over the last window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub error_rate: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Fewer instances are ready than desired.
    pub instances_short: bool,
    /// `error_rate`, `p99_ms` and `errors` are measurements; false when the
    /// runtime sees no requests (then only `instances_short` counts).
    pub requests_measured: bool,
}

/// What an accepted injection did.
#[derive(Clone, Debug)]
pub struct Injected {
    pub experiment: Experiment,
    pub what: String,
    pub targets: Vec<String>,
}

/// The live experiments of one backend, and its journal.
pub struct FaultRunner<U, H> {
    journal: Journal<U>,
    owner: ProcessRef,
    live: BTreeMap<String, LiveFault<U, H>>,
    next: u64,
    /// Records of faults already undone that could not be taken out of the
    /// journal (a full disk); taken out with the next journal write.
    stale: BTreeSet<String>,
}

impl<U, H> FaultRunner<U, H>
where
    U: Clone + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned,
{
    pub fn new(journal: Journal<U>) -> Self {
        FaultRunner {
            journal,
            owner: ProcessRef::current(),
            live: BTreeMap::new(),
            next: 1,
            stale: BTreeSet::new(),
        }
    }

    /// Take the record of an undone fault out of the journal; when that
    /// fails it is remembered and tried again with the next write.
    fn forget(&mut self, id: &str) -> Result<(), super::journal::JournalError> {
        self.stale.insert(id.to_string());
        self.tidy()
    }

    /// Take every stale record out of the journal.
    fn tidy(&mut self) -> Result<(), super::journal::JournalError> {
        if self.stale.is_empty() {
            return Ok(());
        }
        let stale = &self.stale;
        self.journal
            .update(|j| j.retain(|r| !stale.contains(&r.id)))?;
        self.stale.clear();
        Ok(())
    }

    pub fn journal(&self) -> &Journal<U> {
        &self.journal
    }

    pub fn get(&self, id: &str) -> Option<&LiveFault<U, H>> {
        self.live.get(id)
    }

    pub fn faults(&self) -> impl Iterator<Item = &LiveFault<U, H>> {
        self.live.values()
    }

    /// Faults in effect, as `status` shows them (`scope` None: all).
    pub fn active(&self, scope: Option<&str>) -> Vec<ActiveFault> {
        self.live
            .values()
            .filter(|l| l.applied && scope.is_none_or(|s| l.record.scope == s))
            .map(|l| ActiveFault {
                id: l.experiment.id.clone(),
                scenario: l.experiment.scenario.name().to_string(),
                ends_at: l.experiment.ends_at,
            })
            .collect()
    }

    /// Experiments not finished yet (still applied or recovering).
    pub fn unfinished(&self, scope: &str) -> bool {
        self.live
            .values()
            .any(|l| l.record.scope == scope && !finished(&l.experiment))
    }

    /// Validate against the catalogue and the backend, journal the fault,
    /// then apply it. Nothing is applied unless the journal write succeeded.
    pub async fn inject<A>(
        &mut self,
        applier: &mut A,
        (scope, env): (&str, &str),
        scenario: ScenarioKind,
        params: FaultParams,
        now: EpochMillis,
    ) -> Result<Injected, RuntimeError>
    where
        A: FaultApplier<Undo = U, Handle = H>,
    {
        if let Support::No(reason) = A::support(scenario) {
            return Err(RuntimeError::Refused(reason));
        }
        let spec = crate::domain::chaos::ScenarioSpec::of(scenario);
        spec.check(&params, A::MAX_CPU_WORKERS)
            .map_err(RuntimeError::Refused)?;
        let id = format!(
            "{}-{}-{:04x}",
            scenario.name(),
            self.next,
            fastrand::u16(..)
        );
        self.next += 1;
        let Prepared { targets, undo } = applier.prepare(scope, &id, scenario, &params).await?;
        if let Some(l) = self.live.values().find(|l| {
            l.applied
                && l.record.scope == scope
                && l.record.scenario == scenario
                && l.record.targets.iter().any(|t| targets.contains(t))
        }) {
            return Err(RuntimeError::Refused(format!(
                "{scenario} is already running on {} ({})",
                l.record.targets.join(", "),
                l.experiment.id
            )));
        }
        let duration = if spec.instant {
            0
        } else {
            params.duration_secs
        };
        let mut record = FaultRecord {
            id: id.clone(),
            backend: A::BACKEND.to_string(),
            scope: scope.to_string(),
            scenario,
            params: params.clone(),
            started_at: now,
            ends_at: now + (duration as i64) * 1000,
            owner: self.owner.clone(),
            targets,
            undo,
        };
        // Write-ahead: a crash after this point leaves a trace to undo.
        let _ = self.tidy();
        self.journal
            .insert(&record)
            .map_err(|e| RuntimeError::Failed(format!("fault not applied: {e}")))?;
        let applied = match applier.apply(&mut record, &self.journal).await {
            Ok(a) => a,
            Err(e) => {
                let note = match applier.undo(&record, &mut None).await {
                    Ok(_) => String::new(),
                    Err(f) => format!(" (cleanup failed: {})", f.join("; ")),
                };
                if note.is_empty() {
                    let _ = self.forget(&id);
                }
                return Err(RuntimeError::Failed(format!("{scenario}: {e}{note}")));
            }
        };
        let mut experiment = Experiment::new(id.clone(), env, scenario, params, now);
        let mut in_effect = true;
        if spec.instant {
            // The act is over; what follows is recovery.
            experiment.fault_removed(now);
            in_effect = false;
            let _ = self.forget(&id);
        }
        let injected = Injected {
            experiment: experiment.clone(),
            what: applied.what,
            targets: record.targets.clone(),
        };
        self.live.insert(
            id,
            LiveFault {
                experiment,
                record,
                applied: in_effect,
                handle: applied.handle,
            },
        );
        self.prune();
        Ok(injected)
    }

    /// Remove an applied fault now; the experiment goes on watching recovery.
    /// `Ok` with the undo steps taken (none when it was no longer applied).
    pub async fn remove<A>(
        &mut self,
        applier: &mut A,
        id: &str,
        now: EpochMillis,
    ) -> Result<Vec<String>, String>
    where
        A: FaultApplier<Undo = U, Handle = H>,
    {
        let Some(l) = self.live.get_mut(id) else {
            return Err(format!("no experiment {id}"));
        };
        if !l.applied {
            return Ok(Vec::new());
        }
        let record = l.record.clone();
        let done = applier
            .undo(&record, &mut l.handle)
            .await
            .map_err(|failed| format!("could not remove the fault: {}", failed.join("; ")))?;
        l.applied = false;
        l.experiment.fault_removed(now);
        self.forget(id).map_err(|e| {
            format!("fault removed, but its record stays until the journal can be written: {e}")
        })?;
        Ok(done)
    }

    /// Ids of applied faults whose time is up.
    pub fn due(&self, now: EpochMillis) -> Vec<String> {
        self.live
            .values()
            .filter(|l| l.applied && now >= l.experiment.ends_at)
            .map(|l| l.experiment.id.clone())
            .collect()
    }

    /// Ids of every applied fault (for undo-all and shutdown).
    pub fn applied_ids(&self) -> Vec<String> {
        self.live
            .values()
            .filter(|l| l.applied)
            .map(|l| l.experiment.id.clone())
            .collect()
    }

    /// Feed one sample to each unfinished experiment `sample_of` has one for;
    /// returns the experiments that changed.
    pub fn observe(
        &mut self,
        now: EpochMillis,
        slo: &ChaosSlo,
        sample_of: impl Fn(&LiveFault<U, H>) -> Option<Sample>,
    ) -> Vec<Experiment> {
        let mut changed = Vec::new();
        for l in self.live.values_mut() {
            if finished(&l.experiment) {
                continue;
            }
            let Some(s) = sample_of(l) else { continue };
            let before = l.experiment.clone();
            if s.requests_measured {
                l.experiment.observe(
                    now,
                    s.error_rate,
                    s.p99_ms,
                    s.errors,
                    s.instances_short,
                    slo,
                );
            } else {
                l.experiment.observe_instances(now, s.instances_short, slo);
            }
            if l.experiment != before {
                changed.push(l.experiment.clone());
            }
        }
        changed
    }

    /// Mark every unfinished experiment aborted (shutdown, after the faults
    /// were removed); returns them.
    pub fn abort_unfinished(&mut self) -> Vec<Experiment> {
        let mut out = Vec::new();
        for l in self.live.values_mut() {
            if !finished(&l.experiment) {
                l.experiment.state = ExperimentState::Aborted;
                out.push(l.experiment.clone());
            }
        }
        out
    }

    fn prune(&mut self) {
        let mut done: Vec<(EpochMillis, String)> = self
            .live
            .values()
            .filter(|l| finished(&l.experiment))
            .map(|l| (l.experiment.started_at, l.experiment.id.clone()))
            .collect();
        if done.len() <= FINISHED_KEPT {
            return;
        }
        done.sort();
        let excess = done.len() - FINISHED_KEPT;
        for (_, id) in done.into_iter().take(excess) {
            self.live.remove(&id);
        }
    }
}

fn finished(x: &Experiment) -> bool {
    matches!(
        x.state,
        ExperimentState::Completed | ExperimentState::Aborted
    )
}
