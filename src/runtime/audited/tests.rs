//! Unit tests of the audit decorator against the fake runtime.
#![cfg(test)] // test code only

use std::sync::Arc;
use std::time::Duration;

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::environment::Version;
use crate::runtime::audit_log::read_audit_journal;
use crate::runtime::fake::FakeRuntime;
use crate::runtime::{
    Actor, Audited, Intent, IntentKind, ReadOnly, RolloutOutcome, Runtime, RuntimeError,
    RuntimeEvent,
};

/// The outcome entries, without the `requested` ones written ahead.
fn outcomes(
    entries: Vec<crate::domain::audit::AuditEntry>,
) -> Vec<crate::domain::audit::AuditEntry> {
    entries
        .into_iter()
        .filter(|e| e.outcome != crate::runtime::audited::REQUESTED)
        .collect()
}

fn alice() -> Actor {
    Actor {
        user: "alice".into(),
        via: "cli".into(),
    }
}

#[tokio::test]
async fn every_intent_is_written_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let fake = Arc::new(FakeRuntime::supporting(&[IntentKind::Deploy]));
    let rt = Audited::start(fake.clone(), path.clone()).await;
    let a = alice();
    rt.intent(
        &a,
        "staging",
        Intent::Deploy {
            version: Version::new("v2"),
        },
    )
    .await
    .unwrap();
    let paused = rt.intent(&a, "staging", Intent::Pause).await;
    assert!(matches!(paused, Err(RuntimeError::Refused(_))));
    let undo = rt
        .intent(
            &a,
            "staging",
            Intent::Undo {
                to_revision: Some(3),
            },
        )
        .await;
    assert!(undo.is_err());
    rt.flush().await;

    let all = read_audit_journal(&path).unwrap();
    // Each change: `requested` before it reached the runtime, then its outcome.
    assert_eq!(all.len(), 6, "{all:#?}");
    for pair in all.chunks(2) {
        assert_eq!(pair[0].outcome, "requested", "{all:#?}");
        assert_ne!(pair[1].outcome, "requested", "{all:#?}");
        assert_eq!(pair[0].action, pair[1].action);
        assert_eq!(pair[0].detail, pair[1].detail);
    }
    assert_eq!(all[0].to_version.as_deref(), Some("v2"));
    let entries = outcomes(all);
    assert_eq!(entries[0].action, "deploy");
    assert_eq!(entries[0].outcome, "accepted");
    assert_eq!(entries[0].to_version.as_deref(), Some("v2"));
    assert_eq!(entries[0].user, "alice");
    assert_eq!(entries[0].env, "staging");
    assert_eq!(entries[1].action, "pause");
    assert_eq!(entries[1].outcome, "refused: the fake cannot pause");
    assert_eq!(entries[2].action, "rollback");
    assert!(
        entries[2].detail.contains("--to-revision 3"),
        "{entries:#?}"
    );
    // Each call reached the runtime once.
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn chaos_undo_and_env_promotion_are_written_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let fake = Arc::new(FakeRuntime::supporting(&[]));
    let rt = Audited::start(fake, path.clone()).await;
    let a = alice();
    let _ = rt
        .inject(&a, "staging", ScenarioKind::PodKill, FaultParams::default())
        .await;
    rt.undo(&a, "exp-4").await.unwrap();
    let _ = rt.promote(&a, "staging", "production").await;
    rt.flush().await;
    let entries = outcomes(read_audit_journal(&path).unwrap());
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["chaos pod-kill", "undo", "promote"]);
    assert!(entries[0].outcome.starts_with("refused: "));
    assert_eq!(entries[1].outcome, "accepted");
    assert!(entries[1].detail.contains("exp-4"));
    assert_eq!(entries[2].env, "production");
}

#[tokio::test]
async fn read_only_refusals_are_audited_when_audit_wraps_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let fake = Arc::new(FakeRuntime::supporting(&IntentKind::ALL));
    let ro: Arc<dyn Runtime> = Arc::new(ReadOnly::new(fake.clone()));
    let rt = Audited::start(ro, path.clone()).await;
    let r = rt.intent(&alice(), "staging", Intent::Retry).await;
    assert!(matches!(r, Err(RuntimeError::ReadOnly(_))));
    rt.flush().await;
    let entries = outcomes(read_audit_journal(&path).unwrap());
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].outcome.starts_with("refused: read-only"),
        "{entries:#?}"
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn rollouts_the_controller_finishes_are_written_as_controller() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let fake = Arc::new(FakeRuntime::supporting(&[]));
    let rt = Audited::start(fake.clone(), path.clone()).await;
    fake.emit(RuntimeEvent::RolloutFinished {
        env: "staging".into(),
        pipeline_id: 9,
        outcome: RolloutOutcome::RolledBack {
            version: Version::new("v2"),
            reason: "failed: p99 420ms > 300ms".into(),
            verdict: None,
        },
    });
    fake.emit(RuntimeEvent::RolloutFinished {
        env: "staging".into(),
        pipeline_id: 10,
        outcome: RolloutOutcome::Aborted {
            reason: "aborted by alice".into(),
        },
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    rt.shutdown().await;
    let entries = read_audit_journal(&path).unwrap();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e.user == "controller"));
    assert_eq!(entries[0].action, "rollback");
    assert_eq!(entries[0].outcome, "rolled back: failed: p99 420ms > 300ms");
    assert_eq!(entries[0].from_version.as_deref(), Some("v2"));
    assert_eq!(entries[1].action, "abort");
    assert_eq!(entries[1].outcome, "aborted: aborted by alice");
    assert_eq!(fake.calls(), ["shutdown"]);
}

#[tokio::test]
async fn subscribers_see_the_runtime_events() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::supporting(&[]));
    let rt = Audited::start(fake.clone(), dir.path().join("audit.jsonl")).await;
    let mut rx = rt.subscribe().await.unwrap();
    let source = RuntimeEvent::Source {
        name: "fake".into(),
        state: crate::runtime::SourceState::Ok,
    };
    fake.emit(source.clone());
    let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap();
    assert_eq!(ev, Some(source));
    // A loss the watcher saw reaches subscribers as an audit notice.
    fake.emit(RuntimeEvent::Lagged { count: 3 });
    let mut notice = None;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
        if let RuntimeEvent::Log { line } = ev {
            notice = Some(line);
            break;
        }
    }
    let notice = notice.expect("an audit notice");
    assert_eq!(&*notice.instance, "audit");
    assert!(
        notice.text.contains("3 runtime events were lost"),
        "{notice:?}"
    );
}

#[tokio::test]
async fn a_change_that_cannot_be_audited_never_reaches_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the journal should be: every append fails.
    let path = dir.path().join("audit.jsonl");
    std::fs::create_dir(&path).unwrap();
    let fake = Arc::new(FakeRuntime::supporting(&IntentKind::ALL));
    let rt = Audited::start(fake.clone(), path.clone()).await;
    let a = alice();
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    match rt.intent(&a, "staging", deploy).await {
        Err(RuntimeError::Refused(why)) => {
            assert!(why.contains("deploy on staging was not made"), "{why}");
            assert!(why.contains("cannot be audited"), "{why}");
            assert!(why.contains(&path.display().to_string()), "{why}");
            assert!(why.contains("Is a directory"), "{why}");
        }
        other => panic!("not refused: {other:?}"),
    }
    let chaos = rt
        .inject(
            &a,
            "staging",
            ScenarioKind::CpuStress,
            FaultParams::default(),
        )
        .await;
    assert!(matches!(chaos, Err(RuntimeError::Refused(_))), "{chaos:?}");
    let promote = rt.promote(&a, "staging", "production").await;
    assert!(
        matches!(promote, Err(RuntimeError::Refused(_))),
        "{promote:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // What stops harm goes ahead, and the lost entry is an error event.
    let mut rx = rt.subscribe().await.unwrap();
    let abort = Intent::Abort {
        reason: "bad".into(),
    };
    rt.intent(&a, "staging", abort).await.unwrap();
    rt.undo(&a, "exp-1").await.unwrap();
    assert_eq!(fake.calls().len(), 2, "{:?}", fake.calls());
    let mut notices = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if let RuntimeEvent::Log { line } = ev {
            notices.push(line.text.to_string());
        }
    }
    assert!(
        notices
            .iter()
            .any(|n| n.contains("abort on staging goes ahead unaudited")),
        "{notices:#?}"
    );
}
