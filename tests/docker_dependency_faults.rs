//! Dependency faults on the real Docker engine: db-latency delays the
//! database container's traffic (netem, or the delay relay on a kernel
//! without it), measured on the database's own port, journaled while it
//! holds and gone after undo; the app's port is not slowed. dns-failure and
//! dependency-timeout are in `dns_timeout`. Skipped with a printed reason
//! when no engine is reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "docker_dependency_faults/dns_timeout.rs"]
mod dns_timeout;
mod docker_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::config::Config;
use blissful_infra::docker::chaos::JOURNAL_FILE;
use blissful_infra::docker::{cli, DockerRuntime, DockerRuntimeOptions};
use blissful_infra::domain::chaos::{FaultParams, ScenarioKind};
use blissful_infra::domain::environment::{EnvironmentStatus, Health};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, Support};
use docker_common::{app_db_compose, eventually, http_get, TestProject};

fn config() -> Config {
    let mut c = Config::default();
    c.docker.app_service = "app".into();
    c.traffic.rate_per_sec = 5.0;
    c.traffic.paths = vec!["/hello".into()];
    c
}

fn port_of(s: &EnvironmentStatus, id: &str) -> u16 {
    s.instances
        .iter()
        .find(|i| i.id == id)
        .and_then(|i| i.port())
        .unwrap_or_else(|| panic!("no port for {id} in {:?}", s.instances))
}

fn journal_has(p: &TestProject, id: &str) -> bool {
    std::fs::read_to_string(p.state_dir().join(JOURNAL_FILE)).is_ok_and(|t| t.contains(id))
}

async fn timed_get(port: u16) -> Duration {
    let t = Instant::now();
    assert!(
        http_get(port, "/").await.is_some(),
        "port {port} did not answer"
    );
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_latency_slows_the_database_only_and_is_removed() {
    require_docker!();
    let p = TestProject::new("dbl", &app_db_compose(false));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await;
    assert_eq!(code, 0, "up: {}", String::from_utf8_lossy(&err));
    let rt = DockerRuntime::connect(DockerRuntimeOptions {
        config: Arc::new(config()),
        project: p.name().to_string(),
        state: StatePaths::at(p.state_dir()),
        docker_host: None,
    })
    .await
    .unwrap();
    assert_eq!(
        rt.capabilities().scenarios.get("db-latency"),
        Some(&Support::Yes)
    );
    let s = eventually(Duration::from_secs(30), "healthy", || async {
        let s = rt.status().await.unwrap().remove(0);
        (s.health == Health::Healthy).then_some(s)
    })
    .await;
    let (db, app) = (port_of(&s, "db-1"), port_of(&s, "app-1"));
    let actor = Actor {
        user: "tester".into(),
        via: "test".into(),
    };
    let params = FaultParams {
        duration_secs: 60,
        latency_ms: 400,
        ..FaultParams::default()
    };
    let exp = rt
        .inject(&actor, &s.name, ScenarioKind::DbLatency, params)
        .await
        .unwrap();
    assert!(journal_has(&p, &exp.id), "journaled while it holds");
    for _ in 0..2 {
        let took = timed_get(db).await;
        assert!(
            took >= Duration::from_millis(380),
            "the database answered in {took:?}"
        );
    }
    let took = timed_get(app).await;
    assert!(
        took < Duration::from_millis(380),
        "the app was slowed too: {took:?}"
    );
    rt.undo(&actor, &exp.id).await.unwrap();
    assert!(!journal_has(&p, &exp.id), "out of the journal after undo");
    let took = timed_get(db).await;
    assert!(
        took < Duration::from_millis(380),
        "still slow after undo: {took:?}"
    );
    rt.shutdown().await;
}
