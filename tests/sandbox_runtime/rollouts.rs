//! Rollouts on the sandbox: canary splits, promotion, rollback on a failing
//! metric, blue-green switches and promotion between environments.

use super::*;
use blissful_infra::domain::chaos::SigtermStop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_splits_traffic_then_promotes_and_rollback_restores() {
    let sb = start(config(1, &[(50, 3), (100, 1)]), false).await;
    let rt = &*sb.rt;
    let s = wait_healthy(rt).await;
    let addr = s.router_addr.clone();
    assert_eq!(served_by(&addr, 5).await, vec!["v1"; 5]);

    let accepted = rt.deploy(&actor(), ENV, &Version::new("v2")).await.unwrap();
    assert_eq!(accepted.from_version, Some(Version::new("v1")));
    // One rollout at a time.
    let again = rt.deploy(&actor(), ENV, &Version::new("v3")).await;
    assert!(matches!(again, Err(RuntimeError::Refused(_))), "{again:?}");

    let s = wait_status(rt, "the 50% step", Duration::from_secs(30), |s| {
        s.traffic.canary_weight == 50
            && s.instances
                .iter()
                .any(|i| i.version.as_str() == "v2" && i.phase == InstancePhase::Ready)
    })
    .await;
    assert_eq!(s.step, Some((0, 2)));
    assert!(matches!(s.health, Health::Progressing(_)), "{:?}", s.health);
    let seen = served_by(&addr, 60).await;
    let (v1, v2) = (count(&seen, "v1"), count(&seen, "v2"));
    assert_eq!(v1 + v2, 60, "{seen:?}");
    assert!(
        v1 >= 10 && v2 >= 10,
        "a 50% split sent {v1} to v1 and {v2} to v2"
    );

    let run = wait_pipeline(rt, accepted.pipeline_id, Duration::from_secs(40)).await;
    assert_eq!(run.status, StageStatus::Succeeded, "{run:#?}");
    assert!(
        run.stages
            .iter()
            .all(|st| st.status == StageStatus::Succeeded),
        "{run:#?}"
    );
    assert!(run.stages[1].detail.starts_with("passed"), "{run:#?}");
    let s = wait_healthy(rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v2")));
    assert_eq!(s.traffic.canary, None);
    assert_eq!(s.previous, Some(Version::new("v1")));
    assert!(
        s.instances.iter().all(|i| i.version.as_str() == "v2"),
        "{s:#?}"
    );
    assert_eq!(served_by(&addr, 10).await, vec!["v2"; 10]);
    let v2_pids = s
        .instances
        .iter()
        .filter_map(|i| i.pid())
        .collect::<Vec<_>>();

    let rb = rt.rollback(&actor(), ENV).await.unwrap();
    assert_eq!(rb.to_version, Some(Version::new("v1")));
    let run = wait_pipeline(rt, rb.pipeline_id, Duration::from_secs(30)).await;
    assert_eq!(run.status, StageStatus::Succeeded, "{run:#?}");
    let s = wait_healthy(rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v1")));
    assert_eq!(s.previous, Some(Version::new("v2")));
    assert_eq!(served_by(&addr, 10).await, vec!["v1"; 10]);
    wait_gone(&v2_pids).await;
    // Each stopped instance's answer to SIGTERM is measured and logged by
    // the sandbox itself; the sample service drains and exits in time.
    let logs = rt.recent_logs(Some(ENV), 2000).await.unwrap();
    let stops: Vec<SigtermStop> = logs
        .iter()
        .filter(|l| &*l.instance == "sandbox" && &*l.version == "-")
        .filter_map(|l| SigtermStop::parse(&l.text))
        .collect();
    assert!(
        stops.iter().any(|s| s.instance.contains("-v2-")),
        "no measured stop of a v2 instance: {stops:#?}"
    );
    assert!(stops.iter().all(|s| !s.killed), "{stops:#?}");

    let pids: Vec<u32> = s.instances.iter().filter_map(|i| i.pid()).collect();
    rt.shutdown().await;
    wait_gone(&pids).await;
    let audit = read_audit_journal(&sb.state.audit_journal()).unwrap();
    let has = |user: &str, action: &str, outcome: &str| {
        audit
            .iter()
            .any(|a| a.user == user && a.action == action && a.outcome.starts_with(outcome))
    };
    assert!(has("tester", "deploy", "accepted"), "{audit:#?}");
    assert!(has("tester", "deploy", "refused: "), "{audit:#?}");
    assert!(has("controller", "promote", "promoted"), "{audit:#?}");
    assert!(has("tester", "rollback", "accepted"), "{audit:#?}");
    assert!(has("controller", "rollback", "rolled back: "), "{audit:#?}");
    // After shutdown the engine is gone, and says so.
    assert!(matches!(
        rt.status().await,
        Err(RuntimeError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_canaries_are_rolled_back_with_the_failed_metric() {
    let sb = start(config(1, &[(50, 1), (100, 1)]), false).await;
    let rt = &*sb.rt;
    let mut events = rt.subscribe().await.unwrap();
    wait_healthy(rt).await;

    let cases = [
        ("v4-buggy", Metric::ErrorRate),
        ("v3-slow", Metric::P95Latency),
    ];
    for (version, metric) in cases {
        let accepted = rt
            .deploy(&actor(), ENV, &Version::new(version))
            .await
            .unwrap();
        let run = wait_pipeline(rt, accepted.pipeline_id, Duration::from_secs(40)).await;
        assert!(matches!(run.status, StageStatus::Failed(_)), "{run:#?}");
        let failed_stage = run
            .stages
            .iter()
            .find(|s| matches!(s.status, StageStatus::Failed(_)))
            .unwrap();
        assert!(failed_stage.name.starts_with("step 1"), "{run:#?}");
        assert!(failed_stage.detail.contains(metric.label()), "{run:#?}");
        let s = wait_healthy(rt).await;
        assert_eq!(s.traffic.stable, Some(Version::new("v1")));
        assert_eq!(s.traffic.canary, None);
        assert!(
            s.instances.iter().all(|i| i.version.as_str() == "v1"),
            "{s:#?}"
        );
        let h = rt.history().await.unwrap();
        let verdict = &h.verdicts.last().unwrap().verdict;
        assert_eq!(verdict.outcome, Outcome::Fail);
        assert!(
            verdict.failed_checks().any(|c| c.metric == metric),
            "{verdict:#?}"
        );
    }

    // The subscriber saw both rollbacks, with the verdict that caused them,
    // and the status and metrics stream along the way.
    let mut rolled_back = Vec::new();
    let (mut env_events, mut v1_metrics, mut verdicts) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rolled_back.len() < 2 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            Ok(Some(RuntimeEvent::RolloutFinished { outcome, .. })) => rolled_back.push(outcome),
            Ok(Some(RuntimeEvent::Environment { .. })) => env_events += 1,
            Ok(Some(RuntimeEvent::Verdict { .. })) => verdicts += 1,
            Ok(Some(RuntimeEvent::Metrics { version, point, .. })) => {
                if version == "v1" && point.rps > 0.0 && point.mem_mib > 0.0 {
                    v1_metrics += 1;
                }
            }
            Ok(Some(RuntimeEvent::Lagged { count })) => panic!("lost {count} events"),
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    assert!(env_events >= 2, "{env_events} environment events");
    assert!(
        v1_metrics >= 2,
        "{v1_metrics} v1 metric points with traffic"
    );
    assert!(verdicts >= 2, "{verdicts} verdicts");
    assert_eq!(rolled_back.len(), 2, "{rolled_back:#?}");
    for o in &rolled_back {
        assert!(
            matches!(
                o,
                blissful_infra::runtime::RolloutOutcome::RolledBack {
                    verdict: Some(_),
                    ..
                }
            ),
            "{o:#?}"
        );
    }
    let audit = read_audit_journal(&sb.state.audit_journal()).unwrap();
    let auto: Vec<_> = audit
        .iter()
        .filter(|a| a.user == "controller" && a.outcome.starts_with("rolled back: failed"))
        .collect();
    assert_eq!(auto.len(), 2, "{audit:#?}");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switch_moves_all_traffic_and_rollback_removes_the_canary() {
    // A long first step holds the canary while we switch by hand.
    let sb = start(config(1, &[(10, 60), (100, 1)]), false).await;
    let rt = &*sb.rt;
    let addr = wait_healthy(rt).await.router_addr;
    let none = rt.switch_traffic(&actor(), ENV, true).await;
    assert!(matches!(none, Err(RuntimeError::Refused(_))), "{none:?}");
    let accepted = rt.deploy(&actor(), ENV, &Version::new("v2")).await.unwrap();
    wait_status(rt, "the canary step", Duration::from_secs(30), |s| {
        s.traffic.canary_weight == 10
    })
    .await;

    rt.switch_traffic(&actor(), ENV, true).await.unwrap();
    let run = wait_pipeline(rt, accepted.pipeline_id, Duration::from_secs(5)).await;
    assert_eq!(run.status, StageStatus::Cancelled);
    assert_eq!(served_by(&addr, 10).await, vec!["v2"; 10]);
    rt.switch_traffic(&actor(), ENV, false).await.unwrap();
    assert_eq!(served_by(&addr, 10).await, vec!["v1"; 10]);
    let s = env_status(rt).await;
    assert_eq!(s.traffic.canary, Some(Version::new("v2")));
    assert!(matches!(s.health, Health::Progressing(_)), "{:?}", s.health);

    rt.rollback(&actor(), ENV).await.unwrap();
    let s = wait_healthy(rt).await;
    assert_eq!(s.traffic.canary, None);
    assert_eq!(s.traffic.stable, Some(Version::new("v1")));
    assert!(s.instances.iter().all(|i| i.version.as_str() == "v1"));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_rolls_one_environments_version_out_to_the_next() {
    let mut cfg = config(1, &[(100, 1)]);
    let mut production = cfg.environments[0].clone();
    production.name = "production".into();
    cfg.environments[0].initial_version = "v2".into();
    cfg.environments.push(production);
    let sb = start(cfg, false).await;
    let rt = &*sb.rt;
    wait_healthy(rt).await;
    let accepted = rt.promote(&actor(), ENV, "production").await.unwrap();
    assert_eq!(accepted.env, "production");
    assert_eq!(accepted.to_version, Some(Version::new("v2")));
    let run = wait_pipeline(rt, accepted.pipeline_id, Duration::from_secs(30)).await;
    assert_eq!(
        run.kind,
        blissful_infra::domain::pipeline::PipelineKind::Promotion
    );
    assert_eq!(run.status, StageStatus::Succeeded, "{run:#?}");
    let prod = rt
        .status()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == "production")
        .unwrap();
    assert_eq!(prod.traffic.stable, Some(Version::new("v2")));
    assert_eq!(prod.previous, Some(Version::new("v1")));
    // Nothing left to promote.
    let again = rt.promote(&actor(), ENV, "production").await;
    assert!(matches!(again, Err(RuntimeError::Refused(_))), "{again:?}");
    let unknown = rt.promote(&actor(), ENV, "nowhere").await;
    assert!(
        matches!(unknown, Err(RuntimeError::UnknownEnvironment(_))),
        "{unknown:?}"
    );
    rt.shutdown().await;
}
