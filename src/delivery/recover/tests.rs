//! The controller and its rollout journal against an in-memory backend:
//! the record is on disk before each change of weight, a record a dead run
//! left is rolled back (or found completed) at start, and a record that
//! cannot be written stops the canary from getting more traffic.
#![cfg(test)] // test code only

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::delivery::journal::{InFlight, Operation, RolloutJournal};
use crate::delivery::*;
use crate::domain::analysis::VersionSample;
use crate::domain::environment::TrafficSplit;
use crate::domain::rollout::{CanaryPlan, CanaryStep};
use crate::runtime::RolloutOutcome;

/// Versions are ready once `ready` is set; every `set_traffic` notes the
/// weight the journal held at that moment.
struct Probe {
    journal: PathBuf,
    ready: AtomicBool,
    running: Mutex<Vec<String>>,
    /// `(canary weight asked for, weight in the journal then)`.
    splits: Mutex<Vec<(u8, Option<u8>)>>,
    retired: Mutex<Vec<String>>,
    reports: Mutex<Vec<Report>>,
    ids: AtomicU64,
}

impl Probe {
    fn new(journal: &Path, running: &[&str]) -> Arc<Probe> {
        Arc::new(Probe {
            journal: journal.to_path_buf(),
            ready: AtomicBool::new(true),
            running: Mutex::new(running.iter().map(|v| v.to_string()).collect()),
            splits: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            reports: Mutex::new(Vec::new()),
            ids: AtomicU64::new(100),
        })
    }

    fn view(&self) -> Option<RolloutView> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|r| match r {
                Report::View(v) => Some(v.clone()),
                _ => None,
            })
    }

    fn outcome(&self) -> Option<RolloutOutcome> {
        self.reports.lock().unwrap().iter().find_map(|r| match r {
            Report::Finished { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
    }
}

#[async_trait]
impl DeliveryBackend for Probe {
    async fn bring_up(&self, version: &Version) -> Result<(), String> {
        self.running.lock().unwrap().push(version.0.clone());
        Ok(())
    }
    async fn readiness(&self, version: &Version) -> Readiness {
        let up = self.running.lock().unwrap().contains(&version.0);
        Readiness {
            ready: u32::from(up && self.ready.load(Ordering::SeqCst)),
            desired: 1,
        }
    }
    async fn set_traffic(&self, split: &TrafficSplit) -> Result<(), String> {
        let held = std::fs::read_to_string(&self.journal)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|j| j["rollout"]["weight"].as_u64())
            .map(|w| w as u8);
        self.splits
            .lock()
            .unwrap()
            .push((split.canary_weight, held));
        Ok(())
    }
    fn reset_analysis(&self) {}
    fn analysis_sample(&self, _version: &Version) -> VersionSample {
        VersionSample {
            requests: 100,
            p50_ms: 5.0,
            p95_ms: 10.0,
            p99_ms: 20.0,
            ..Default::default()
        }
    }
    async fn endpoints(&self, _version: &Version) -> Vec<SocketAddr> {
        Vec::new()
    }
    async fn retire(&self, version: &Version) -> Result<(), String> {
        self.running.lock().unwrap().retain(|v| *v != version.0);
        self.retired.lock().unwrap().push(version.0.clone());
        Ok(())
    }
    async fn instances(&self, version: &Version) -> Vec<String> {
        let running = self.running.lock().unwrap();
        running
            .iter()
            .filter(|v| **v == version.0)
            .map(|v| format!("{v}-1"))
            .collect()
    }
    async fn replace_instance(&self, _version: &Version, _id: &str) -> Result<(), String> {
        Ok(())
    }
    fn next_pipeline_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst)
    }
    async fn report(&self, report: Report) {
        self.reports.lock().unwrap().push(report);
    }
}

fn settings(dir: &Path) -> Settings {
    let mut rollout = crate::config::RolloutConfig {
        steps: CanaryPlan {
            steps: vec![
                CanaryStep {
                    weight: 25,
                    pause_secs: 0,
                },
                CanaryStep {
                    weight: 50,
                    pause_secs: 0,
                },
            ],
        },
        ..Default::default()
    };
    rollout.analysis.min_samples = 5;
    rollout.post_promotion_window_secs = 0;
    Settings {
        env: "staging".into(),
        rollout,
        smoke_paths: vec!["/".into()],
        analyzer: Analyzer::Router,
        journal: Some(RolloutJournal::new(
            dir.join("rollout-staging.json"),
            dir.join("audit.jsonl"),
        )),
    }
}

fn actor() -> Actor {
    Actor {
        user: "ann".into(),
        via: "test".into(),
    }
}

async fn eventually<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: never");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    let probe = Probe::new(journal.path(), &["v1"]);
    let c = DeliveryController::spawn(probe.clone(), s, Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    let outcome = eventually("the promotion", || probe.outcome()).await;
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
    let probe = Probe::new(journal.path(), &["v1", "v2"]);
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
    let probe = Probe::new(journal.path(), &["v1", "v2"]);
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
    let probe = Probe::new(journal.path(), &["v1"]);
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
    assert!(!probe.running.lock().unwrap().contains(&"v2".to_string()));

    // The record of the start is written, then the disk "fills up": the
    // first step's weight is refused and the canary rolled back.
    std::fs::remove_dir_all(journal.path()).unwrap();
    probe.ready.store(false, Ordering::SeqCst);
    c.intent(&actor(), deploy, None).await.unwrap();
    std::fs::remove_file(journal.path()).unwrap();
    std::fs::create_dir_all(journal.path().join("blocked")).unwrap();
    probe.ready.store(true, Ordering::SeqCst);
    let outcome = eventually("the rollback", || probe.outcome()).await;
    let RolloutOutcome::RolledBack { reason, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.contains("rollout journal"), "{reason}");
    assert!(reason.contains("no more traffic"), "{reason}");
    let splits = probe.splits.lock().unwrap().clone();
    assert!(splits.iter().all(|(w, _)| *w == 0), "{splits:?}");
    assert!(!probe.running.lock().unwrap().contains(&"v2".to_string()));
    c.stop("test over").await;
}

#[tokio::test]
async fn a_clean_stop_says_so_in_the_record_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let journal = s.journal.clone().unwrap();
    let probe = Probe::new(journal.path(), &["v1"]);
    probe.ready.store(false, Ordering::SeqCst);
    let c = DeliveryController::spawn(probe.clone(), s.clone(), Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    c.stop("sandbox shut down").await;
    let left = journal.read().unwrap().unwrap();
    assert_eq!(left.ended.as_deref(), Some("sandbox shut down"));

    let probe = Probe::new(journal.path(), &["v1"]);
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
