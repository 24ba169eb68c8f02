//! The controller and its rollout journal against an in-memory backend:
//! the record is on disk before each change of weight, a record a dead run
//! left is rolled back (or found completed) at start, and a record that
//! cannot be written stops the canary from getting more traffic.
#![cfg(test)] // test code only

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::delivery::journal::{InFlight, Operation, RolloutJournal};
use crate::delivery::memory_backend::{
    actor, eventually, settings as memory_settings, MemoryBackend,
};
use crate::delivery::*;
use crate::runtime::RolloutOutcome;

/// Versions are ready once `ready` is set; every `set_traffic` notes the
/// weight the journal held at that moment.
fn journalled_backend(journal: &Path, running: &[&str]) -> Arc<MemoryBackend> {
    MemoryBackend::new(running).watching(journal).shared()
}

/// The first outcome reported.
fn first_outcome(probe: &MemoryBackend) -> Option<RolloutOutcome> {
    probe.outcomes().into_iter().next()
}

/// Two steps (25%, 50%), no watch after promotion, journalled in `dir`.
fn settings(dir: &Path) -> Settings {
    let journal = RolloutJournal::new(dir.join("rollout-staging.json"), dir.join("audit.jsonl"));
    memory_settings("staging", &[25, 50], 0, Some(journal))
}

fn left_by_a_dead_run(step: usize, weight: u8) -> InFlight {
    InFlight {
        env: "staging".into(),
        pipeline_id: Some(7),
        operation: Operation::Rollout,
        version: Version::new("v2"),
        stable: Some(Version::new("v1")),
        step: Some((step, 2)),
        weight,
        starting: false,
        applied: true,
        user: "ann".into(),
        pid: 4242,
        ended: None,
        at: 1,
    }
}

#[tokio::test]
async fn every_weight_is_journalled_before_the_router_gets_it_and_the_record_goes_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    let probe = journalled_backend(journal.path(), &["v1"]);
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    let outcome = eventually("the promotion", || first_outcome(&probe)).await;
    assert!(
        matches!(outcome, RolloutOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    let splits = probe.splits.lock().unwrap().clone();
    // 25, 50 and 100 each reached the journal before the router.
    for w in [25u8, 50, 100] {
        assert!(splits.contains(&(w, Some(w))), "{w}: {splits:?}");
    }
    eventually("the record removed", || {
        (!journal.path().exists()).then_some(())
    })
    .await;
    c.stop("test over").await;
}

#[tokio::test]
async fn a_rollout_a_dead_run_left_is_rolled_back_and_the_reason_journalled() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    journal.write(&left_by_a_dead_run(1, 50), &None).unwrap();
    let probe = journalled_backend(journal.path(), &["v1", "v2"]);
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v1")), None);
    let view = eventually("the recovered view", || probe.view()).await;
    let want = "rollout of v2 rolled back after restart: blissful-infra (pid 4242) was killed or crashed during step 2/2 (weight 50%)";
    assert_eq!(view.state, RolloutState::Aborted(want.into()));
    assert_eq!(view.stable, Some(Version::new("v1")));
    assert_eq!(view.canary, None);
    assert_eq!(probe.retired.lock().unwrap().clone(), ["v2"]);
    assert!(!journal.path().exists());
    let audit = crate::runtime::read_audit_journal(journal.audit_path()).unwrap();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0].user, "controller");
    assert_eq!(audit[0].action, "rollback");
    assert_eq!(audit[0].outcome, want);
    // `retry` deploys it again.
    c.intent(&actor(), Intent::Retry, None).await.unwrap();
    c.stop("test over").await;
}

#[tokio::test]
async fn a_rollout_the_runtime_already_made_stable_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    let mut left = left_by_a_dead_run(0, 100);
    left.step = None;
    journal.write(&left, &None).unwrap();
    let probe = journalled_backend(journal.path(), &["v1", "v2"]);
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v2")), None);
    let view = eventually("the recovered view", || probe.view()).await;
    assert_eq!(view.state, RolloutState::Idle);
    // The promotion's last act: the old stable goes.
    assert_eq!(probe.retired.lock().unwrap().clone(), ["v1"]);
    let audit = crate::runtime::read_audit_journal(journal.audit_path()).unwrap();
    assert_eq!(audit[0].action, "promote");
    assert!(
        audit[0]
            .outcome
            .starts_with("rollout of v2 completed before the restart"),
        "{audit:#?}"
    );
    c.stop("test over").await;
}

#[tokio::test]
async fn without_its_journal_record_a_canary_gets_no_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    let probe = journalled_backend(journal.path(), &["v1"]);
    // Nothing can be written where the record goes: no rollout starts.
    std::fs::create_dir_all(journal.path().join("blocked")).unwrap();
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    let err = c.intent(&actor(), deploy.clone(), None).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("v2 was not started"), "{text}");
    assert!(text.contains("rollout-staging.json"), "{text}");
    assert!(!probe.is_running("v2"));

    // The record of the start is written, then the disk "fills up": the
    // first step's weight is refused and the canary rolled back.
    std::fs::remove_dir_all(journal.path()).unwrap();
    probe.ready.store(false, Ordering::SeqCst);
    c.intent(&actor(), deploy, None).await.unwrap();
    std::fs::remove_file(journal.path()).unwrap();
    std::fs::create_dir_all(journal.path().join("blocked")).unwrap();
    probe.ready.store(true, Ordering::SeqCst);
    let outcome = eventually("the rollback", || first_outcome(&probe)).await;
    let RolloutOutcome::RolledBack { reason, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.contains("rollout journal"), "{reason}");
    assert!(reason.contains("no more traffic"), "{reason}");
    let splits = probe.splits.lock().unwrap().clone();
    assert!(splits.iter().all(|(w, _)| *w == 0), "{splits:?}");
    assert!(!probe.is_running("v2"));
    c.stop("test over").await;
}

#[tokio::test]
async fn a_clean_stop_says_so_in_the_record_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    let probe = journalled_backend(journal.path(), &["v1"]);
    probe.ready.store(false, Ordering::SeqCst);
    let c = DeliveryController::spawn(probe.clone(), s.clone(), Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    c.stop("sandbox shut down").await;
    let left = journal.read().unwrap().unwrap();
    assert_eq!(left.ended.as_deref(), Some("sandbox shut down"));

    let probe = journalled_backend(journal.path(), &["v1"]);
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v1")), None);
    let view = eventually("the recovered view", || probe.view()).await;
    assert_eq!(
        view.state,
        RolloutState::Aborted(
            "rollout of v2 rolled back after restart: sandbox shut down while v2 was starting"
                .into()
        )
    );
    c.stop("test over").await;
}
