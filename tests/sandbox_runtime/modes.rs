//! Read-only mode and a configured service command.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_destructive_action_and_audits_it() {
    let sb = start(config(1, &[(100, 1)]), true).await;
    let rt = &*sb.rt;
    let a = actor();
    let v2 = Version::new("v2");
    assert!(matches!(
        rt.deploy(&a, ENV, &v2).await,
        Err(RuntimeError::ReadOnly(_))
    ));
    assert!(matches!(
        rt.promote(&a, ENV, "production").await,
        Err(RuntimeError::ReadOnly(_))
    ));
    assert!(matches!(
        rt.rollback(&a, ENV).await,
        Err(RuntimeError::ReadOnly(_))
    ));
    assert!(matches!(
        rt.switch_traffic(&a, ENV, true).await,
        Err(RuntimeError::ReadOnly(_))
    ));
    let inj = rt
        .inject(&a, ENV, ScenarioKind::PodKill, FaultParams::default())
        .await;
    assert!(matches!(inj, Err(RuntimeError::ReadOnly(_))), "{inj:?}");
    assert!(matches!(
        rt.undo(&a, "x").await,
        Err(RuntimeError::ReadOnly(_))
    ));
    // Reading still works.
    let s = wait_healthy(rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v1")));
    rt.shutdown().await;
    let audit = outcomes(&sb.state);
    assert_eq!(audit.len(), 6, "{audit:#?}");
    assert!(
        audit
            .iter()
            .all(|e| e.outcome.starts_with("refused: read-only")),
        "{audit:#?}"
    );
    assert!(audit.iter().all(|e| e.user == "tester"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_command_runs_through_the_shell_with_its_port() {
    let mut cfg = config(1, &[(100, 1)]);
    // The same sample service, but started the way a user's Procfile line would be.
    cfg.service.command = format!(
        "exec '{}' sample-service --port \"$PORT\" --version \"$VERSION\" --instance \"$INSTANCE\"",
        env!("CARGO_BIN_EXE_blissful-infra")
    );
    let sb = start(cfg, false).await;
    let s = wait_healthy(&*sb.rt).await;
    assert_eq!(s.instances[0].id, "staging-v1-1");
    assert_eq!(served_by(&s.router_addr, 3).await, vec!["v1"; 3]);
    sb.rt.shutdown().await;
}
