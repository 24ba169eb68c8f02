//! Progressive delivery on Docker: a new version as a second container next
//! to the current one, traffic shifted by the host edge router, analysis and
//! automatic rollback, promote, rollback and the blue/green switch. Skipped
//! (with a printed reason) when no engine is reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blissful_infra::config::Config;
use blissful_infra::docker::{
    cli, engine, lifecycle, DockerRuntime, DockerRuntimeOptions, ENV_NAME,
};
use blissful_infra::domain::chaos::SigtermStop;
use blissful_infra::domain::environment::{EnvironmentStatus, Health, Version};
use blissful_infra::domain::rollout::{CanaryPlan, CanaryStep};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, RolloutOutcome, Runtime, RuntimeError, RuntimeEvent};
use docker_common::{app_db_compose, eventually, http_get, TestProject};

fn config() -> Config {
    let mut c = Config::default();
    c.docker.app_service = "app".into();
    c.traffic.rate_per_sec = 40.0;
    c.traffic.paths = vec!["/hello".into()];
    c.rollout.steps = CanaryPlan {
        steps: vec![CanaryStep {
            weight: 50,
            pause_secs: 2,
        }],
    };
    c.rollout.analysis.min_samples = 5;
    c.rollout.analysis.latency_slack_ms = 200.0;
    c.rollout.max_extensions = 4;
    c
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

async fn env(rt: &dyn Runtime) -> EnvironmentStatus {
    rt.status().await.unwrap().remove(0)
}

/// The outcome of pipeline `id`, once it finishes.
async fn finished(events: &Arc<Mutex<Vec<RuntimeEvent>>>, id: u64) -> RolloutOutcome {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = events.lock().unwrap().iter().find_map(|e| match e {
            RuntimeEvent::RolloutFinished {
                pipeline_id,
                outcome,
                ..
            } if *pipeline_id == id => Some(outcome.clone()),
            _ => None,
        });
        if let Some(o) = found {
            return o;
        }
        if std::time::Instant::now() > deadline {
            let last = events.lock().unwrap().iter().rev().find_map(|e| match e {
                RuntimeEvent::Pipeline { run } if run.id == id => Some(run.clone()),
                _ => None,
            });
            panic!("pipeline #{id} did not finish: {last:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Versions that answered through the router, from the services' own `/metrics`.
async fn served_versions(router_port: u16, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        if let Some((200, body)) = http_get(router_port, "/metrics").await {
            for v in ["v1", "v2", "v3", "v4-buggy"] {
                if body.contains(&format!("version=\"{v}\"")) && !seen.contains(&v.to_string()) {
                    seen.push(v.to_string());
                }
            }
        }
    }
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_promote_automatic_rollback_blue_green_and_rollback() {
    require_docker!();
    let p = TestProject::new("deliv", &app_db_compose(false));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await,
        0
    );
    let docker = DockerRuntime::connect(DockerRuntimeOptions {
        config: Arc::new(config()),
        project: p.name().into(),
        state: StatePaths::at(p.state_dir()),
        docker_host: None,
    })
    .await
    .unwrap();
    // Audited as the daemon that owns it wraps it.
    let audit_path = StatePaths::at(p.state_dir()).audit_journal();
    let rt = blissful_infra::runtime::Audited::start(docker.clone(), audit_path).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut rx = rt.subscribe().await.unwrap();
    let e = events.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            e.lock().unwrap().push(ev);
        }
    });
    let router = docker.router_addr().expect("the edge router runs").port();
    eventually(Duration::from_secs(20), "v1 behind the router", || async {
        let s = env(&rt).await;
        (s.health == Health::Healthy && http_get(router, "/hello").await.map(|r| r.0) == Some(200))
            .then_some(())
    })
    .await;
    assert_eq!(served_versions(router, 5).await, vec!["v1"]);
    let a = actor();

    // A healthy canary is analysed and promoted; the old version is removed.
    let acc = rt.deploy(&a, ENV_NAME, &Version::new("v2")).await.unwrap();
    assert_eq!(acc.from_version, Some(Version::new("v1")));
    let during = eventually(Duration::from_secs(30), "the canary at 50%", || async {
        let s = env(&rt).await;
        (s.traffic.canary_weight == 50).then_some(s)
    })
    .await;
    assert_eq!(during.traffic.canary, Some(Version::new("v2")));
    assert!(
        during.instances.iter().any(|i| i.id == "app@v2"),
        "{:?}",
        during.instances
    );
    assert_eq!(
        served_versions(router, 30).await,
        vec!["v1", "v2"],
        "traffic is split"
    );
    assert_eq!(
        finished(&events, acc.pipeline_id).await,
        RolloutOutcome::Promoted {
            version: Version::new("v2")
        }
    );
    let s = env(&rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v2")));
    assert_eq!(s.traffic.canary, None);
    assert_eq!(s.previous, Some(Version::new("v1")));
    eventually(
        Duration::from_secs(10),
        "v1's container removed",
        || async {
            let s = env(&rt).await;
            (!s.instances.iter().any(|i| i.version.as_str() == "v1")).then_some(())
        },
    )
    .await;
    assert_eq!(served_versions(router, 5).await, vec!["v2"]);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, RuntimeEvent::Verdict { .. })));

    // A failing canary (25% errors) is rolled back automatically.
    let acc = rt
        .deploy(&a, ENV_NAME, &Version::new("v4-buggy"))
        .await
        .unwrap();
    match finished(&events, acc.pipeline_id).await {
        RolloutOutcome::RolledBack {
            version, verdict, ..
        } => {
            assert_eq!(version, Version::new("v4-buggy"));
            assert!(verdict.is_some(), "rolled back on the analysis");
        }
        other => panic!("expected an automatic rollback, got {other:?}"),
    }
    eventually(
        Duration::from_secs(10),
        "the buggy canary removed",
        || async {
            let s = env(&rt).await;
            (s.traffic.canary.is_none()
                && !s.instances.iter().any(|i| i.version.as_str() == "v4-buggy"))
            .then_some(())
        },
    )
    .await;
    assert_eq!(env(&rt).await.traffic.stable, Some(Version::new("v2")));

    // Blue/green: all traffic to the new version at once, and back.
    let acc = rt.deploy(&a, ENV_NAME, &Version::new("v3")).await.unwrap();
    eventually(Duration::from_secs(30), "the v3 canary ready", || async {
        rt.switch_traffic(&a, ENV_NAME, true).await.ok()
    })
    .await;
    let s = env(&rt).await;
    assert_eq!(s.traffic.canary_weight, 100);
    assert!(
        matches!(
            finished(&events, acc.pipeline_id).await,
            RolloutOutcome::Aborted { .. }
        ),
        "the stepped rollout stops"
    );
    assert_eq!(served_versions(router, 10).await, vec!["v3"]);
    rt.switch_traffic(&a, ENV_NAME, false).await.unwrap();
    assert_eq!(served_versions(router, 10).await, vec!["v2"]);
    // Promote the held canary now (promote within the one environment).
    rt.switch_traffic(&a, ENV_NAME, true).await.unwrap();
    let acc = rt.promote(&a, ENV_NAME, ENV_NAME).await.unwrap();
    // A promotion is watched for `rollout.post_promotion_window_secs` first.
    assert!(matches!(
        finished(&events, acc.pipeline_id).await,
        RolloutOutcome::Promoted { .. }
    ));
    let s = env(&rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v3")));
    assert_eq!(s.previous, Some(Version::new("v2")));

    // Rollback: back to the previous version in a new container.
    let acc = rt.rollback(&a, ENV_NAME).await.unwrap();
    assert_eq!(acc.to_version, Some(Version::new("v2")));
    finished(&events, acc.pipeline_id).await;
    let s = env(&rt).await;
    assert_eq!(s.traffic.stable, Some(Version::new("v2")));
    assert_eq!(served_versions(router, 5).await, vec!["v2"]);
    // Each retired container's answer to SIGTERM is measured and logged by
    // the runtime itself; the sample service drains and exits in time.
    let logs = rt.recent_logs(None, 5000).await.unwrap();
    let stops: Vec<SigtermStop> = logs
        .iter()
        .filter(|l| &*l.instance == "docker" && &*l.version == "-")
        .filter_map(|l| SigtermStop::parse(&l.text))
        .collect();
    assert!(
        stops.iter().any(|s| s.instance.contains("v3")),
        "no measured stop of a v3 container: {stops:#?}"
    );
    assert!(
        stops.iter().all(|s| !s.killed && s.after_ms < s.grace_ms),
        "{stops:#?}"
    );
    println!("measured stops: {stops:?}");
    let none = rt.promote(&a, ENV_NAME, ENV_NAME).await;
    assert!(matches!(none, Err(RuntimeError::Refused(_))), "{none:?}");
    assert!(matches!(
        rt.deploy(&a, "staging", &Version::new("v9")).await,
        Err(RuntimeError::UnknownEnvironment(_))
    ));

    // Audit entries for every action.
    let audit = std::fs::read_to_string(p.state_dir().join("audit.jsonl")).unwrap();
    for action in [
        "\"deploy\"",
        "\"switch_traffic\"",
        "\"promote\"",
        "\"rollback\"",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    rt.shutdown().await;

    // down removes blissful-infra's copies too, and nothing is left.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::down(&p.project, true, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let docker = engine::connect().await.unwrap();
    assert!(engine::project_containers(&docker, p.name(), None)
        .await
        .unwrap()
        .is_empty());
    assert!(lifecycle::project_networks(&docker, p.name())
        .await
        .unwrap()
        .is_empty());
}
