//! A service built to pass and the same service built to fail the
//! dependency-timeout scenario, on the real sandbox: each instance calls a
//! stand-in database on every request (`SAMPLE_CALLS_DEPENDENCY`). With a
//! working circuit breaker (`SAMPLE_BREAKER=on`) the breaker is seen open
//! through the service's own `/metrics` and the scenario passes; with one
//! that never opens (`stuck`) it fails on the same measurement. No verdict
//! is set by the test: both come from what the suite read. The scorecard
//! cites the breaker as measured and the retries from the service's logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use blissful_infra::config::Config;
use blissful_infra::domain::chaos::{
    Basis, ChaosSlo, CheckOutcome, FaultParams, Finding, Practice, ScenarioKind, ScenarioResult,
    Tolerance,
};
use blissful_infra::domain::environment::Health;
use blissful_infra::faults::suite::{run_suite, Progress, Sinks, SuitePlan, SuiteReport};
use blissful_infra::runtime::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENV: &str = "staging";

/// A stand-in database that echoes every line.
async fn echo_listener() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn config(db: &str, breaker: &str) -> Config {
    let mut c = support::sandbox::one_env(ENV, 2);
    c.traffic.rate_per_sec = 20.0;
    c.service
        .env
        .insert("DATABASE_URL".into(), format!("postgres://app:pw@{db}/app"));
    c.service
        .env
        .insert("SAMPLE_CALLS_DEPENDENCY".into(), "DATABASE_URL".into());
    c.service
        .env
        .insert("SAMPLE_BREAKER".into(), breaker.into());
    // The engine judges its experiments by these; a breaker that works
    // still costs the few requests that open it.
    c.chaos.slo = slo();
    c
}

fn slo() -> ChaosSlo {
    ChaosSlo {
        max_error_rate: 0.5,
        max_p99_ms: 5_000.0,
        max_recovery_secs: 20,
    }
}

async fn fmea_of_dependency_timeout(breaker: &str) -> SuiteReport {
    let dir = tempfile::tempdir().unwrap();
    let db = echo_listener().await;
    let (rt, _state) = support::sandbox::start(config(&db, breaker), dir.path(), false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rt
        .status()
        .await
        .unwrap()
        .iter()
        .any(|e| e.name == ENV && e.health == Health::Healthy)
    {
        assert!(Instant::now() < deadline, "never healthy ({breaker})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let plan = SuitePlan {
        env: ENV.into(),
        scenarios: vec![ScenarioKind::DependencyTimeout],
        params: FaultParams {
            duration_secs: 5,
            ..FaultParams::default()
        },
        baseline_secs: 3,
        slo: slo(),
        tolerance: Tolerance::default(),
        abort_on_critical: false,
        load: None,
    };
    let actor = Actor {
        user: "tester".into(),
        via: "test".into(),
    };
    let sinks = Sinks {
        reports_dir: None,
        learner: None,
        project_dir: Some(dir.path()),
        metrics: None,
    };
    let report = run_suite(&*rt, &actor, &plan, sinks, &mut |_: Progress| {})
        .await
        .unwrap();
    rt.shutdown().await;
    report
}

fn practice(r: &SuiteReport, p: Practice) -> Finding {
    r.scorecard
        .checklist
        .iter()
        .find(|c| c.practice == p)
        .map(|c| c.finding.clone())
        .unwrap_or_else(|| panic!("no {p:?} in {r:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_that_opens_passes_dependency_timeout_and_a_stuck_one_fails_it() {
    let good = fmea_of_dependency_timeout("on").await;
    let v = &good.verdicts[0];
    assert_eq!(v.result, ScenarioResult::Pass, "{v:#?}");
    assert!(
        matches!(&v.expected.outcome, CheckOutcome::Passed(d) if d.contains("open")),
        "{v:#?}"
    );
    match practice(&good, Practice::CircuitBreakers) {
        Finding::Present { basis, evidence } => {
            assert_eq!(basis, Basis::Measured);
            assert!(evidence.contains("seen open"), "{evidence}");
        }
        other => panic!("{other:?}"),
    }
    match practice(&good, Practice::RetryLogic) {
        Finding::Present { basis, evidence } => {
            assert_eq!(basis, Basis::Measured);
            assert!(evidence.contains("retrying the dependency"), "{evidence}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        v.mitigations
            .iter()
            .any(|c| c.practice == Practice::CircuitBreakers && c.present()),
        "{v:#?}"
    );

    let bad = fmea_of_dependency_timeout("stuck").await;
    let v = &bad.verdicts[0];
    assert_eq!(v.result, ScenarioResult::Fail, "{v:#?}");
    assert!(
        matches!(&v.expected.outcome, CheckOutcome::Failed(d) if d.contains("never showed open")),
        "{v:#?}"
    );
    assert_eq!(bad.score, Some(0.0));
    match practice(&bad, Practice::CircuitBreakers) {
        Finding::Present { evidence, .. } => {
            assert!(evidence.contains("never seen open"), "{evidence}")
        }
        other => panic!("{other:?}"),
    }
}
