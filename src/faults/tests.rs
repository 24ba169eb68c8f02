//! The engine with a fake backend: write-ahead ordering, timing, undo and
//! reconcile, independent of any platform.
#![cfg(test)] // test code only

use async_trait::async_trait;

use super::*;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::{RuntimeError, Support};

/// Records what the engine asked of it; `journalled_at_apply` is what the
/// journal held when `apply` ran.
#[derive(Default)]
struct Fake {
    applied: Vec<String>,
    undone: Vec<String>,
    journalled_at_apply: Vec<usize>,
    fail_undo: bool,
}

#[async_trait]
impl FaultApplier for Fake {
    type Undo = String;
    type Handle = u32;
    const BACKEND: &'static str = "fake";
    const MAX_CPU_WORKERS: u32 = 2;

    fn support(kind: ScenarioKind) -> Support {
        if kind == ScenarioKind::DbDown {
            Support::No("the fake has no database".into())
        } else {
            Support::Yes
        }
    }

    async fn prepare(
        &mut self,
        scope: &str,
        id: &str,
        _: ScenarioKind,
        _: &FaultParams,
    ) -> Result<Prepared<String>, RuntimeError> {
        Ok(Prepared {
            targets: vec![format!("{scope}-app")],
            undo: vec![format!("stop {id}")],
        })
    }

    async fn apply(
        &mut self,
        record: &mut FaultRecord<String>,
        journal: &Journal<String>,
    ) -> Result<Applied<u32>, String> {
        self.journalled_at_apply
            .push(journal.read().map_err(|e| e.to_string())?.len());
        self.applied.push(record.id.clone());
        Ok(Applied {
            what: "applied".into(),
            handle: Some(7),
        })
    }

    async fn undo(&mut self, record: &FaultRecord<String>, handle: &mut Option<u32>) -> UndoResult {
        if self.fail_undo {
            return Err(vec!["engine unreachable".into()]);
        }
        self.undone
            .push(format!("{} {:?}", record.id, handle.take()));
        Ok(record.undo.clone())
    }

    async fn undo_leftover(&mut self, record: &FaultRecord<String>) -> UndoResult {
        self.undo(record, &mut None).await
    }
}

fn params() -> FaultParams {
    FaultParams {
        duration_secs: 10,
        ..FaultParams::default()
    }
}

#[tokio::test]
async fn the_applier_is_not_called_when_the_journal_write_fails() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("state");
    std::fs::write(&blocker, "not a directory").unwrap();
    let mut runner: FaultRunner<String, u32> =
        FaultRunner::new(Journal::at(blocker.join("faults.json")));
    let mut fake = Fake::default();
    let err = runner
        .inject(
            &mut fake,
            ("p", "env"),
            ScenarioKind::CpuStress,
            params(),
            0,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Failed(m) if m.starts_with("fault not applied: fault journal")),
        "{err}"
    );
    assert!(fake.applied.is_empty(), "applied without a journal record");
    assert!(runner.active(None).is_empty());
}

#[tokio::test]
async fn a_fault_is_journalled_before_it_is_applied_and_leaves_after_undo() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Journal<String> = Journal::at(dir.path().join("faults.json"));
    let mut runner = FaultRunner::new(journal.clone());
    let mut fake = Fake::default();
    let x = runner
        .inject(
            &mut fake,
            ("p", "env"),
            ScenarioKind::CpuStress,
            params(),
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(fake.journalled_at_apply, vec![1]);
    assert_eq!(x.experiment.ends_at, 11_000);
    assert_eq!(
        journal.read().unwrap()[0].undo,
        vec![format!("stop {}", x.experiment.id)]
    );
    // The same scenario on the same target is refused while it runs.
    let again = runner
        .inject(
            &mut fake,
            ("p", "env"),
            ScenarioKind::CpuStress,
            params(),
            1_500,
        )
        .await;
    assert!(matches!(again, Err(RuntimeError::Refused(m)) if m.contains("already running")));
    assert!(runner.due(10_999).is_empty());
    assert_eq!(runner.due(11_000), vec![x.experiment.id.clone()]);
    let done = runner
        .remove(&mut fake, &x.experiment.id, 11_000)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(fake.undone, vec![format!("{} Some(7)", x.experiment.id)]);
    assert!(journal.read().unwrap().is_empty());
    assert!(runner.active(None).is_empty());
    assert!(runner.unfinished("p"), "still watching recovery");
}

#[tokio::test]
async fn unsupported_and_out_of_range_faults_are_refused_before_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Journal<String> = Journal::at(dir.path().join("faults.json"));
    let mut runner = FaultRunner::new(journal.clone());
    let mut fake = Fake::default();
    let r = runner
        .inject(&mut fake, ("p", "env"), ScenarioKind::DbDown, params(), 0)
        .await;
    assert!(matches!(r, Err(RuntimeError::Refused(m)) if m == "the fake has no database"));
    let many = FaultParams {
        cpu_workers: 3,
        ..params()
    };
    let r = runner
        .inject(&mut fake, ("p", "env"), ScenarioKind::CpuStress, many, 0)
        .await;
    assert!(matches!(r, Err(RuntimeError::Refused(m)) if m.contains("1..=2")));
    assert!(!journal.path().exists());
    assert_eq!(
        scenario_support::<Fake>().get("db-down"),
        Some(&Support::No("the fake has no database".into()))
    );
}

#[tokio::test]
async fn reconcile_undoes_orphans_keeps_live_owners_and_retries_failures() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Journal<String> = Journal::at(dir.path().join("faults.json"));
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let mut alive = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let rec = |id: &str, scope: &str, pid: u32| FaultRecord {
        id: id.into(),
        backend: "fake".into(),
        scope: scope.into(),
        scenario: ScenarioKind::CpuStress,
        params: params(),
        started_at: 0,
        ends_at: 1,
        owner: ProcessRef::of_pid(pid),
        targets: vec!["x".into()],
        undo: vec![format!("stop {id}")],
    };
    journal.insert(&rec("orphan", "p", dead_pid)).unwrap();
    journal
        .insert(&rec("other-project", "q", dead_pid))
        .unwrap();
    journal.insert(&rec("owned", "p", alive.id())).unwrap();
    assert_eq!(live_owner(&journal, Some("p")).unwrap(), Some(alive.id()));

    let mut failing = Fake {
        fail_undo: true,
        ..Fake::default()
    };
    let r = reconcile(&mut failing, &journal, Some("p")).await.unwrap();
    assert_eq!(r.len(), 1);
    assert!(r[0]
        .describe()
        .contains("could not undo: engine unreachable"));
    assert_eq!(journal.read().unwrap().len(), 3, "kept for the next try");

    let mut fake = Fake::default();
    let r = reconcile(&mut fake, &journal, Some("p")).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(fake.undone, vec!["orphan None".to_string()]);
    assert!(
        r[0].describe().contains("stop orphan"),
        "{}",
        r[0].describe()
    );
    let ids: Vec<String> = journal.read().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, vec!["other-project", "owned"]);
    alive.kill().unwrap();
    alive.wait().unwrap();
}

#[tokio::test]
async fn a_failed_undo_keeps_the_fault_applied_journalled_and_its_handle() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Journal<String> = Journal::at(dir.path().join("faults.json"));
    let mut runner = FaultRunner::new(journal.clone());
    let mut fake = Fake::default();
    let x = runner
        .inject(
            &mut fake,
            ("p", "env"),
            ScenarioKind::NetworkLatency,
            params(),
            0,
        )
        .await
        .unwrap();
    let id = x.experiment.id;
    fake.fail_undo = true;
    let err = runner.remove(&mut fake, &id, 5_000).await.unwrap_err();
    assert!(err.contains("engine unreachable"), "{err}");
    let l = runner.get(&id).unwrap();
    assert!(l.applied);
    assert_eq!(l.handle, Some(7));
    assert_eq!(journal.read().unwrap().len(), 1);
    assert_eq!(runner.active(Some("p")).len(), 1);
    // Once the backend can undo it, it goes.
    fake.fail_undo = false;
    runner.remove(&mut fake, &id, 6_000).await.unwrap();
    assert!(journal.read().unwrap().is_empty());
    assert_eq!(fake.undone, vec![format!("{id} Some(7)")]);
}
