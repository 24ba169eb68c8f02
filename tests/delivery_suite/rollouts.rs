//! Rollout cases, each run on both backends.

use super::*;

pub(crate) async fn good_version_is_promoted(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 1), (100, 1)])).await else {
        return;
    };
    u.promote_good("v2").await;
    let s = u.status().await;
    assert_eq!(s.previous, Some(Version::new("v1")), "[{}]", u.name());
    let revs: Vec<(u32, &str)> = s
        .revisions
        .iter()
        .map(|r| (r.number, r.version.as_str()))
        .collect();
    assert_eq!(revs, vec![(1, "v1"), (2, "v2")], "[{}]", u.name());
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v2"),
        "[{}] {seen:?}",
        u.name()
    );
    u.rt.shutdown().await;
}

pub(crate) async fn bad_version_is_rolled_back_naming_metric_value_and_threshold(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 1), (100, 1)])).await else {
        return;
    };
    let mut rx = u.rt.subscribe().await.unwrap();
    let id = u.deploy("v4-buggy").await;
    let outcome = outcome_of(&mut rx, id, 90).await;
    let RolloutOutcome::RolledBack {
        reason, verdict, ..
    } = outcome
    else {
        panic!("[{}] v4-buggy was not rolled back: {outcome:?}", u.name());
    };
    // "failed: error rate 25.00% > 1.00%": the metric, its value, the threshold.
    assert!(
        reason.contains(Metric::ErrorRate.label()),
        "[{}] {reason}",
        u.name()
    );
    assert!(
        reason.contains('>') && reason.contains('%'),
        "[{}] {reason}",
        u.name()
    );
    let verdict = verdict.expect("the rollback carries its verdict");
    let check = verdict
        .failed_checks()
        .find(|c| c.metric == Metric::ErrorRate);
    let check = check.unwrap_or_else(|| panic!("[{}] {verdict:#?}", u.name()));
    assert!(check.value > check.threshold, "[{}] {check:?}", u.name());
    let run = u.pipeline(id, 10).await;
    assert!(
        matches!(run.status, StageStatus::Failed(_)),
        "[{}] {run:#?}",
        u.name()
    );
    let s = u
        .wait("v1 alone again", 30, |s| s.health == Health::Healthy)
        .await;
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{}]", u.name());
    assert_eq!(s.traffic.canary, None, "[{}]", u.name());
    u.rt.shutdown().await;
}

pub(crate) async fn pause_resume_abort_and_retry(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 2), (100, 2)])).await else {
        return;
    };
    let n = u.name();
    let first = u.deploy("v2").await;
    u.wait("the first step", 60, |s| s.step == Some((0, 2)))
        .await;
    u.intent(Intent::Pause).await.unwrap();
    let s = u
        .wait("paused", 5, |s| matches!(s.health, Health::Paused(_)))
        .await;
    assert_eq!(s.traffic.canary_weight, 50, "[{n}]");
    // Longer than the step's pause: a paused rollout does not move on.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = u.status().await;
    assert_eq!(s.step, Some((0, 2)), "[{n}] {s:#?}");
    assert!(
        matches!(s.health, Health::Paused(_)),
        "[{n}] {:?}",
        s.health
    );
    assert!(matches!(
        u.intent(Intent::Pause).await,
        Err(RuntimeError::Refused(_))
    ));
    u.intent(Intent::Resume).await.unwrap();
    u.wait("the second step", 30, |s| s.step == Some((1, 2)))
        .await;

    u.intent(Intent::Abort {
        reason: "p99 too high".into(),
    })
    .await
    .unwrap();
    let s = u
        .wait("aborted", 10, |s| matches!(s.health, Health::Aborted(_)))
        .await;
    assert_eq!(s.health, Health::Aborted("p99 too high".into()), "[{n}]");
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{n}]");
    assert_eq!(s.traffic.canary, None, "[{n}]");
    let run = u.pipeline(first, 10).await;
    assert_eq!(run.status, StageStatus::Cancelled, "[{n}] {run:#?}");
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    // Still aborted a while later: only a deploy or a retry clears it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        matches!(u.status().await.health, Health::Aborted(_)),
        "[{n}]"
    );

    let retried = u.intent(Intent::Retry).await.unwrap();
    assert_ne!(retried, first, "[{n}] a retry is a new pipeline");
    let run = u.pipeline(retried, 90).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    let s = u
        .wait("v2 stable after the retry", 30, |s| {
            s.health == Health::Healthy
        })
        .await;
    assert_eq!(s.traffic.stable, Some(Version::new("v2")), "[{n}]");
    assert!(matches!(
        u.intent(Intent::Retry).await,
        Err(RuntimeError::Refused(_))
    ));
    u.rt.shutdown().await;
}

pub(crate) async fn undo_to_a_revision(backend: Backend) {
    let Some(u) = start(backend, config(&[(100, 1)])).await else {
        return;
    };
    let n = u.name();
    u.promote_good("v2").await;
    u.promote_good("v3").await;
    let unknown = u
        .intent(Intent::Undo {
            to_revision: Some(42),
        })
        .await;
    assert!(
        matches!(unknown, Err(RuntimeError::NotFound(_))),
        "[{n}] {unknown:?}"
    );
    let id = u
        .intent(Intent::Undo {
            to_revision: Some(1),
        })
        .await
        .unwrap();
    let run = u.pipeline(id, 60).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    let s = u
        .wait("v1 again", 30, |s| {
            s.traffic.stable == Some(Version::new("v1")) && s.health == Health::Healthy
        })
        .await;
    assert_eq!(s.previous, Some(Version::new("v3")), "[{n}]");
    let revs: Vec<(u32, &str)> = s
        .revisions
        .iter()
        .map(|r| (r.number, r.version.as_str()))
        .collect();
    assert_eq!(
        revs,
        vec![(1, "v1"), (2, "v2"), (3, "v3"), (4, "v1")],
        "[{n}]"
    );
    assert!(
        !s.instances
            .iter()
            .any(|i| matches!(i.version.as_str(), "v2" | "v3")),
        "[{n}] retired versions still run: {s:#?}"
    );
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    u.rt.shutdown().await;
}

pub(crate) async fn blue_green_smoke_check_fails_and_traffic_stays(backend: Backend) {
    // A long first step holds the canary while we switch by hand.
    let Some(u) = start(backend, config(&[(10, 120), (100, 1)])).await else {
        return;
    };
    let n = u.name();
    let rollout = u.deploy("v4-buggy").await;
    u.wait("the canary step", 60, |s| s.traffic.canary_weight == 10)
        .await;
    let r = u.intent(Intent::Switch { to_canary: true }).await;
    let Err(RuntimeError::Refused(why)) = r else {
        panic!("[{n}] the switch to a failing version went ahead: {r:?}");
    };
    assert!(why.contains("smoke check"), "[{n}] {why}");
    assert!(why.contains("threshold"), "[{n}] {why}");
    let s = u.status().await;
    assert_eq!(s.traffic.canary_weight, 0, "[{n}] {s:#?}");
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{n}]");
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    let run = u.pipeline(rollout, 10).await;
    assert_eq!(run.status, StageStatus::Cancelled, "[{n}] {run:#?}");
    let h = u.rt.history().await.unwrap();
    let smoke = h
        .pipelines
        .iter()
        .rev()
        .find(|p| p.title.starts_with("blue/green"));
    let smoke = smoke.unwrap_or_else(|| panic!("[{n}] no switch pipeline"));
    assert!(
        matches!(&smoke.stages[0].status, StageStatus::Failed(w) if w.contains("smoke check")),
        "[{n}] {smoke:#?}"
    );
    // The held canary can still be taken out.
    u.intent(Intent::Undo { to_revision: None }).await.unwrap();
    u.wait("v1 alone", 30, |s| {
        s.traffic.canary.is_none() && s.health == Health::Healthy
    })
    .await;
    u.rt.shutdown().await;
}

pub(crate) async fn restart_replaces_instances_keeping_capacity(backend: Backend) {
    let Some(u) = start(backend, config(&[(100, 1)])).await else {
        return;
    };
    let n = u.name();
    let v1_ids = |s: &EnvironmentStatus| -> Vec<String> {
        s.instances
            .iter()
            .filter(|i| i.version.as_str() == "v1")
            .map(|i| i.id.clone())
            .collect()
    };
    let before = v1_ids(&u.status().await);
    assert!(!before.is_empty(), "[{n}]");
    let id = u.intent(Intent::Restart).await.unwrap();
    let run = u.pipeline(id, 10).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    assert_eq!(
        run.stages.len(),
        before.len(),
        "[{n}] one stage per instance"
    );
    let s = u
        .wait("the replacements ready", 30, |s| {
            s.health == Health::Healthy
        })
        .await;
    let after = v1_ids(&s);
    assert_eq!(after.len(), before.len(), "[{n}] capacity kept: {s:#?}");
    assert!(
        after.iter().all(|a| !before.contains(a)),
        "[{n}] {before:?} -> {after:?}"
    );
    let seen = u.served(5).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    u.rt.shutdown().await;
}

/// `promote --full` right after a deploy, before the canary's instances are
/// ready, is accepted and applied once they are (as Argo Rollouts does):
/// the steps are skipped, naming who skipped them.
pub(crate) async fn promote_full_while_starting_applies_once_ready(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 120), (100, 120)])).await else {
        return;
    };
    let id = u.deploy("v2").await;
    let promoted = u.intent(Intent::Promote { full: true }).await;
    let promoted = promoted.unwrap_or_else(|e| panic!("[{}] promote --full: {e}", u.name()));
    assert_eq!(promoted, id, "[{}]", u.name());
    // Without the promotion the two steps would hold for four minutes.
    let s = u
        .wait("v2 stable", 45, |s| {
            s.traffic.stable == Some(Version::new("v2")) && s.traffic.canary.is_none()
        })
        .await;
    assert_eq!(s.health, Health::Healthy, "[{}]", u.name());
    let run = u.pipeline(id, 10).await;
    assert_eq!(
        run.status,
        StageStatus::Succeeded,
        "[{}] {run:#?}",
        u.name()
    );
    assert!(
        run.stages
            .iter()
            .any(|st| st.status == StageStatus::Skipped && st.detail.contains("promoted by")),
        "[{}] {run:#?}",
        u.name()
    );
    u.rt.shutdown().await;
}
