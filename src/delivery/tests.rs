//! The controller against an in-memory backend: decisions that are hard to
//! provoke with real processes (a version that fails only after it took all
//! traffic).
#![cfg(test)] // test code only

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;
use crate::domain::analysis::VersionSample;
use crate::domain::environment::TrafficSplit;
use crate::domain::rollout::{CanaryPlan, CanaryStep};
use crate::runtime::RolloutOutcome;

/// Every version is ready at once; the canary answers well until the
/// analysis window has been reset `bad_after_resets` times.
struct Fake {
    running: Mutex<BTreeSet<String>>,
    resets: AtomicUsize,
    bad_after_resets: usize,
    ids: AtomicU64,
    reports: Mutex<Vec<Report>>,
}

impl Fake {
    fn new(bad_after_resets: usize) -> Arc<Fake> {
        Arc::new(Fake {
            running: Mutex::new(BTreeSet::from(["v1".to_string()])),
            resets: AtomicUsize::new(0),
            bad_after_resets,
            ids: AtomicU64::new(1),
            reports: Mutex::new(Vec::new()),
        })
    }

    fn outcomes(&self) -> Vec<RolloutOutcome> {
        let reports = self.reports.lock().unwrap();
        reports
            .iter()
            .filter_map(|r| match r {
                Report::Finished { outcome, .. } => Some(outcome.clone()),
                _ => None,
            })
            .collect()
    }

    fn last_view(&self) -> Option<RolloutView> {
        let reports = self.reports.lock().unwrap();
        reports.iter().rev().find_map(|r| match r {
            Report::View(v) => Some(v.clone()),
            _ => None,
        })
    }
}

#[async_trait]
impl DeliveryBackend for Fake {
    async fn bring_up(&self, version: &Version) -> Result<(), String> {
        self.running.lock().unwrap().insert(version.0.clone());
        Ok(())
    }
    async fn readiness(&self, version: &Version) -> Readiness {
        let up = self.running.lock().unwrap().contains(version.as_str());
        Readiness {
            ready: u32::from(up),
            desired: 1,
        }
    }
    async fn set_traffic(&self, _split: &TrafficSplit) -> Result<(), String> {
        Ok(())
    }
    fn reset_analysis(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
    fn analysis_sample(&self, version: &Version) -> VersionSample {
        let bad =
            version.as_str() != "v1" && self.resets.load(Ordering::SeqCst) >= self.bad_after_resets;
        VersionSample {
            requests: 100,
            errors: if bad { 40 } else { 0 },
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
        self.running.lock().unwrap().remove(version.as_str());
        Ok(())
    }
    async fn instances(&self, version: &Version) -> Vec<String> {
        vec![format!("{version}-1")]
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

fn settings(window_secs: u64) -> Settings {
    let mut rollout = crate::config::RolloutConfig {
        steps: CanaryPlan {
            steps: vec![CanaryStep {
                weight: 100,
                pause_secs: 0,
            }],
        },
        ..Default::default()
    };
    rollout.analysis.min_samples = 5;
    rollout.post_promotion_window_secs = window_secs;
    Settings {
        env: "test".into(),
        rollout,
        smoke_paths: vec!["/".into()],
        analyzer: Analyzer::Router,
        journal: None,
    }
}

fn actor() -> Actor {
    Actor {
        user: "ann".into(),
        via: "test".into(),
    }
}

async fn wait_outcome(fake: &Fake) -> RolloutOutcome {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(o) = fake.outcomes().pop() {
            return o;
        }
        assert!(Instant::now() < deadline, "no outcome");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_version_failing_in_the_post_promotion_watch_is_switched_back() {
    // Good during its step (one reset), bad once it takes all traffic (two).
    let fake = Fake::new(2);
    let c = DeliveryController::spawn(fake.clone(), settings(1), Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    let outcome = wait_outcome(&fake).await;
    let RolloutOutcome::RolledBack {
        version, reason, ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(version, Version::new("v2"));
    assert!(reason.contains("error rate"), "{reason}");
    assert!(reason.contains("watch"), "{reason}");
    let view = fake.last_view().unwrap();
    assert_eq!(view.stable, Some(Version::new("v1")));
    assert_eq!(view.canary, None);
    assert!(!fake.running.lock().unwrap().contains("v2"), "v2 retired");
    c.stop("test over").await;
}

#[tokio::test]
async fn a_version_that_holds_up_in_the_watch_becomes_a_new_revision() {
    let fake = Fake::new(usize::MAX);
    let c = DeliveryController::spawn(fake.clone(), settings(1), Some(Version::new("v1")), None);
    let deploy = Intent::Deploy {
        version: Version::new("v2"),
    };
    c.intent(&actor(), deploy, None).await.unwrap();
    let outcome = wait_outcome(&fake).await;
    assert_eq!(
        outcome,
        RolloutOutcome::Promoted {
            version: Version::new("v2")
        }
    );
    let view = fake.last_view().unwrap();
    assert_eq!(view.stable, Some(Version::new("v2")));
    assert_eq!(view.previous, Some(Version::new("v1")));
    assert_eq!(view.revision(2), Some(&Version::new("v2")));
    // A rolling restart replaces the one instance.
    let restarted = c.intent(&actor(), Intent::Restart, None).await.unwrap();
    assert!(
        restarted.message.contains("1 instance(s) restarted"),
        "{}",
        restarted.message
    );
    c.stop("test over").await;
}

#[tokio::test]
async fn intents_without_a_rollout_are_refused_with_the_reason() {
    let fake = Fake::new(usize::MAX);
    let c = DeliveryController::spawn(fake.clone(), settings(0), Some(Version::new("v1")), None);
    for intent in [
        Intent::Pause,
        Intent::Resume,
        Intent::Retry,
        Intent::Promote { full: false },
        Intent::Abort { reason: "x".into() },
        Intent::Switch { to_canary: true },
    ] {
        let r = c.intent(&actor(), intent.clone(), None).await;
        assert!(
            matches!(r, Err(RuntimeError::Refused(_))),
            "{intent:?}: {r:?}"
        );
    }
    let bad = Intent::Deploy {
        version: Version::new("v2; rm -rf /"),
    };
    assert!(c.intent(&actor(), bad, None).await.is_err());
    c.stop("test over").await;
}
