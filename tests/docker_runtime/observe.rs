//! Containers in `status`, logs and stats streamed, a restart after a pod
//! kill, and an unreachable engine reported and reconnected.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_logs_stats_and_a_restart_after_pod_kill() {
    require_docker!();
    let p = TestProject::new("rt", &app_db_compose(false));
    up(&p).await;
    let rt = connect(&p).await;
    assert_eq!(rt.source_state(), SourceState::Ok);
    let rec = Recorder::start(&rt).await;

    let s = eventually(Duration::from_secs(20), "a healthy environment", || async {
        let s = env(&rt).await;
        (s.health == Health::Healthy).then_some(s)
    })
    .await;
    assert_eq!(s.name, ENV_NAME);
    let app = instance(&s, "app-1");
    assert_eq!(app.version.as_str(), "v1", "VERSION of the container");
    assert_eq!(app.phase, InstancePhase::Ready);
    assert_eq!(app.restarts, 0);
    assert!(app.pid().is_some());
    let db = instance(&s, "db-1");
    assert_eq!(
        db.version.as_str(),
        "latest",
        "image tag when there is no version"
    );
    assert_eq!(s.traffic.stable.as_ref().map(|v| v.as_str()), Some("v1"));
    assert!(s.router_addr.starts_with("127.0.0.1:"), "{}", s.router_addr);

    // Logs: the service's own start line (from the history) and a fresh request line.
    let port = app_port(&s);
    let marker = format!("/hello/logcheck{}", fastrand::u32(..));
    assert_eq!(http_get(port, &marker).await.map(|r| r.0), Some(200));
    eventually(
        Duration::from_secs(10),
        "the request line in the logs",
        || async {
            let logs = rt.recent_logs(Some(ENV_NAME), 5000).await.unwrap();
            logs.iter()
                .any(|l| &*l.instance == "app-1" && &*l.version == "v1" && l.text.contains(&marker))
                .then_some(())
        },
    )
    .await;
    let logs = rt.recent_logs(None, 5000).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| &*l.instance == "app-1" && l.text.contains("\"msg\":\"started\"")),
        "the start line is read from the container's history"
    );
    assert!(rec.any(|e| matches!(e, RuntimeEvent::Log { line } if line.text.contains(&marker))));
    assert!(matches!(
        rt.recent_logs(Some("staging"), 10).await,
        Err(RuntimeError::UnknownEnvironment(_))
    ));

    // Stats: CPU and memory per container.
    let stats = eventually(
        Duration::from_secs(15),
        "stats of both containers",
        || async {
            let s = rt.container_stats();
            (s.contains_key("app-1") && s.contains_key("db-1")).then_some(s)
        },
    )
    .await;
    assert!(stats["app-1"].mem_mib > 0.5, "{:?}", stats["app-1"]);
    assert!(stats["app-1"].cpu_pct >= 0.0);
    assert!(rec.any(|e| matches!(e, RuntimeEvent::Metrics { version, point, .. } if version == "app-1" && point.mem_mib > 0.0)));

    // pod-kill: the restart policy brings the container back; the timeline shows both.
    let exp = rt
        .inject(
            &actor(),
            ENV_NAME,
            ScenarioKind::PodKill,
            FaultParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(exp.scenario, ScenarioKind::PodKill);
    eventually(Duration::from_secs(20), "die and start in the timeline", || async {
        let died = rec.any(|e| matches!(e, RuntimeEvent::Pipeline { run } if run.kind == PipelineKind::Container && run.title.starts_with("app-1 died (exit code 137)")));
        let back = rec.any(|e| matches!(e, RuntimeEvent::Pipeline { run } if run.kind == PipelineKind::Container && run.title == "app-1 started" && run.stages[0].detail.contains("restart #1")));
        (died && back).then_some(())
    })
    .await;
    let s = eventually(Duration::from_secs(30), "app-1 ready again", || async {
        let s = env(&rt).await;
        let a = instance(&s, "app-1");
        (a.restarts == 1 && a.phase == InstancePhase::Ready).then_some(s)
    })
    .await;
    assert_ne!(instance(&s, "app-1").pid(), app.pid(), "a new process");
    let done = eventually(
        Duration::from_secs(40),
        "the pod-kill experiment to complete",
        || async {
            let h = rt.history().await.unwrap();
            h.experiments
                .into_iter()
                .find(|e| e.id == exp.id && e.state == ExperimentState::Completed)
        },
    )
    .await;
    assert!(done.detection_ms.is_some(), "{done:?}");
    // The verdict is the SLOs': a kill that users saw as errors breached them.
    assert_eq!(done.slo_checks.len(), 3, "{done:?}");
    let breached = done
        .slo_checks
        .iter()
        .any(|c| c.metric != SloMetric::Recovery && !c.passed);
    let expected = if breached {
        ExperimentResult::SloBreached
    } else {
        ExperimentResult::Resilient
    };
    assert_eq!(done.result, Some(expected), "{done:?}");
    // Logs resume after the restart, without repeating old lines.
    eventually(Duration::from_secs(15), "the second start line", || async {
        let logs = rt.recent_logs(None, 10_000).await.unwrap();
        let starts = logs
            .iter()
            .filter(|l| &*l.instance == "app-1" && l.text.contains("\"msg\":\"started\""))
            .count();
        (starts == 2).then_some(())
    })
    .await;
    let logs = rt.recent_logs(None, 10_000).await.unwrap();
    let first_marker_lines = logs.iter().filter(|l| l.text.contains(&marker)).count();
    assert_eq!(first_marker_lines, 1, "no line is read twice");

    // An OOM kill is in the timeline the moment the engine reports it.
    let docker = engine::connect().await.unwrap();
    let app_id = engine::project_containers(&docker, p.name(), Some("app"))
        .await
        .unwrap()[0]
        .id
        .clone()
        .unwrap();
    let limited = std::process::Command::new("docker")
        .args(["update", "--memory", "96m", "--memory-swap", "96m", &app_id])
        .output()
        .unwrap();
    assert!(
        limited.status.success(),
        "{}",
        String::from_utf8_lossy(&limited.stderr)
    );
    let mem = FaultParams {
        memory_mib: 200,
        ..FaultParams::default()
    };
    let exp = rt
        .inject(&actor(), ENV_NAME, ScenarioKind::MemoryPressure, mem)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(15),
        "the OOM kill in the timeline",
        || async {
            rec.any(|e| {
                matches!(e, RuntimeEvent::Pipeline { run } if run.kind == PipelineKind::Container
                && run.title == "app-1 ran out of memory (OOM kill)")
            })
            .then_some(())
        },
    )
    .await;
    assert!(rec.any(|e| matches!(e, RuntimeEvent::Log { line } if line.text.contains("OOM kill"))));
    rt.undo(&actor(), &exp.id).await.unwrap();
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_reports_an_unreachable_engine_and_reconnects() {
    require_docker!();
    // An engine address we control: a Unix-socket relay to the real engine.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let relay = Relay::start(&sock);
    let p = TestProject::new("src", &app_db_compose(false));
    up(&p).await;
    let mut opts = options(&p, config());
    opts.docker_host = Some(format!("unix://{}", sock.display()));
    let rt = DockerRuntime::connect(opts).await.unwrap();
    assert_eq!(rt.source_state(), SourceState::Ok);
    let rec = Recorder::start(&rt).await;
    drop(relay); // the "daemon" goes away
    eventually(Duration::from_secs(15), "a degraded source", || async {
        matches!(rt.source_state(), SourceState::Degraded(_)).then_some(())
    })
    .await;
    let s = env(&rt).await;
    assert!(
        matches!(&s.health, Health::Degraded(r) if r.contains("unreachable")),
        "{:?}",
        s.health
    );
    assert!(rec.any(|e| matches!(
        e,
        RuntimeEvent::Source {
            state: SourceState::Degraded(_),
            ..
        }
    )));
    // The console's Environments pane names the engine, the error and the next retry.
    let screen = rec.console_screen();
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows.iter().position(|r| r.contains("✗ docker: "));
    let outage = at.map(|i| rows[i..(i + 3).min(rows.len())].join(" "));
    assert!(outage.is_some_and(|o| o.contains("retry in")), "{screen}");
    let err = rt
        .inject(
            &actor(),
            ENV_NAME,
            ScenarioKind::DbDown,
            FaultParams::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Unavailable(_)), "{err:?}");
    let _relay = Relay::start(&sock); // back
    eventually(
        Duration::from_secs(20),
        "the source to reconnect",
        || async { (rt.source_state() == SourceState::Ok).then_some(()) },
    )
    .await;
    assert!(rec.any(|e| matches!(
        e,
        RuntimeEvent::Source {
            state: SourceState::Ok,
            ..
        }
    )));
    let s = env(&rt).await;
    assert_eq!(s.health, Health::Healthy, "{:?}", s.health);
    let screen = rec.console_screen();
    assert!(
        !screen.contains("✗ docker:"),
        "recovered by itself:\n{screen}"
    );
    // Logs pick up again where they stopped: new lines arrive, old ones are not repeated.
    let marker = format!("/hello/again{}", fastrand::u32(..));
    assert_eq!(
        http_get(app_port(&s), &marker).await.map(|r| r.0),
        Some(200)
    );
    eventually(
        Duration::from_secs(10),
        "a log line after the reconnect",
        || async {
            let logs = rt.recent_logs(None, 10_000).await.unwrap();
            logs.iter().any(|l| l.text.contains(&marker)).then_some(())
        },
    )
    .await;
    let logs = rt.recent_logs(None, 10_000).await.unwrap();
    let starts = logs
        .iter()
        .filter(|l| &*l.instance == "app-1" && l.text.contains("\"msg\":\"started\""))
        .count();
    assert_eq!(starts, 1, "the history is not read twice");
    rt.shutdown().await;
}
