//! The controller against an in-memory backend: decisions that are hard to
//! provoke with real processes (a version that fails only after it took all
//! traffic).
#![cfg(test)] // test code only

use std::sync::Arc;

use super::memory_backend::{actor, eventually, settings as memory_settings, MemoryBackend};
use super::*;
use crate::runtime::RolloutOutcome;

/// Every version is ready at once; the canary answers well until the
/// analysis window has been reset `bad_after_resets` times.
fn in_memory(bad_after_resets: usize) -> Arc<MemoryBackend> {
    MemoryBackend::new(&["v1"])
        .bad_after_resets(bad_after_resets)
        .shared()
}

/// One step to all traffic, then a post-promotion watch of `window_secs`.
fn settings(window_secs: u64) -> Settings {
    memory_settings("test", &[100], window_secs, None)
}

async fn wait_outcome(fake: &MemoryBackend) -> RolloutOutcome {
    eventually("no outcome", || fake.outcomes().pop()).await
}

#[tokio::test]
async fn a_version_failing_in_the_post_promotion_watch_is_switched_back() {
    // Good during its step (one reset), bad once it takes all traffic (two).
    let fake = in_memory(2);
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
    let view = fake.view().unwrap();
    assert_eq!(view.stable, Some(Version::new("v1")));
    assert_eq!(view.canary, None);
    assert!(!fake.is_running("v2"), "v2 retired");
    c.stop("test over").await;
}

#[tokio::test]
async fn a_version_that_holds_up_in_the_watch_becomes_a_new_revision() {
    let fake = in_memory(usize::MAX);
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
    let view = fake.view().unwrap();
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
    let fake = in_memory(usize::MAX);
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
