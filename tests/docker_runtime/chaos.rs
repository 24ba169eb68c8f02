//! Every chaos scenario applied and removed, and leftovers undone on request.

use super::*;

/// `iptables -S` of every chain in a container's network namespace.
fn iptables_rules(pid: u32) -> String {
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "iptables", "-S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nat_rules(pid: u32) -> String {
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "iptables", "-t", "nat", "-S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn qdiscs(pid: u32) -> String {
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "tc", "qdisc", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn journal_len(p: &TestProject) -> usize {
    let path = p.state_dir().join(JOURNAL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str::<serde_json::Value>(&t).unwrap()["faults"]
            .as_array()
            .unwrap()
            .len(),
        Err(_) => 0,
    }
}

fn params(duration_secs: u64) -> FaultParams {
    FaultParams {
        duration_secs,
        ..FaultParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chaos_scenario_has_its_effect_and_is_removed() {
    require_docker!();
    let p = TestProject::new("chaos", &app_db_compose(true));
    up(&p).await;
    let rt = connect(&p).await;
    let s = eventually(Duration::from_secs(20), "healthy", || async {
        let s = env(&rt).await;
        (s.health == Health::Healthy).then_some(s)
    })
    .await;
    let port = app_port(&s);
    let pid = instance(&s, "app-1").pid().unwrap();
    let a = actor();

    // network-partition: the service stops answering; undo brings it back.
    let exp = rt
        .inject(
            &a,
            ENV_NAME,
            ScenarioKind::NetworkPartition,
            FaultParams {
                rate: 1.0,
                ..params(60)
            },
        )
        .await
        .unwrap();
    assert_eq!(journal_len(&p), 1, "journalled while applied");
    assert!(
        iptables_rules(pid).contains(&exp.id),
        "{}",
        iptables_rules(pid)
    );
    let cut = tokio::time::timeout(Duration::from_secs(2), http_get(port, "/hello")).await;
    assert!(
        !matches!(cut, Ok(Some(_))),
        "partitioned container answered: {cut:?}"
    );
    assert_eq!(env(&rt).await.faults.len(), 1);
    rt.undo(&a, &exp.id).await.unwrap();
    assert_eq!(journal_len(&p), 0, "removed from the journal after undo");
    assert!(!iptables_rules(pid).contains(&exp.id));
    assert_eq!(http_get(port, "/hello").await.map(|r| r.0), Some(200));
    assert!(env(&rt).await.faults.is_empty());

    // packet-loss: netem where the kernel has it, else an iptables statistic rule.
    let loss = FaultParams {
        rate: 0.5,
        ..params(60)
    };
    let exp = rt
        .inject(&a, ENV_NAME, ScenarioKind::PacketLoss, loss)
        .await
        .unwrap();
    let (rules, q) = (iptables_rules(pid), qdiscs(pid));
    assert!(
        (rules.contains(&exp.id) && rules.contains("statistic")) || q.contains("netem"),
        "no loss rule: {rules}\n{q}"
    );
    rt.undo(&a, &exp.id).await.unwrap();
    assert!(!iptables_rules(pid).contains(&exp.id) && !qdiscs(pid).contains("netem"));
    assert_eq!(journal_len(&p), 0);

    // network-latency: netem delay, or (a kernel without netem) a delay relay
    // behind an iptables REDIRECT of the container's TCP ports.
    let lat = FaultParams {
        latency_ms: 400,
        ..params(60)
    };
    let exp = rt
        .inject(&a, ENV_NAME, ScenarioKind::NetworkLatency, lat)
        .await
        .unwrap();
    assert!(
        qdiscs(pid).contains("delay") || nat_rules(pid).contains(&exp.id),
        "no latency rule: {}\n{}",
        qdiscs(pid),
        nat_rules(pid)
    );
    assert_eq!(journal_len(&p), 1);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        assert_eq!(http_get(port, "/hello").await.map(|r| r.0), Some(200));
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
    }
    rt.undo(&a, &exp.id).await.unwrap();
    assert!(!qdiscs(pid).contains("netem") && !nat_rules(pid).contains(&exp.id));
    let t = std::time::Instant::now();
    assert_eq!(http_get(port, "/hello").await.map(|r| r.0), Some(200));
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(journal_len(&p), 0);

    // cpu-stress: the container burns a core until undone.
    let cpu = FaultParams {
        cpu_workers: 1,
        ..params(60)
    };
    let exp = rt
        .inject(&a, ENV_NAME, ScenarioKind::CpuStress, cpu)
        .await
        .unwrap();
    eventually(Duration::from_secs(15), "app-1 CPU above 50%", || async {
        rt.container_stats()
            .get("app-1")
            .filter(|p| p.cpu_pct > 50.0)
            .map(|_| ())
    })
    .await;
    rt.undo(&a, &exp.id).await.unwrap();
    eventually(
        Duration::from_secs(15),
        "app-1 CPU back below 30%",
        || async {
            rt.container_stats()
                .get("app-1")
                .filter(|p| p.cpu_pct < 30.0)
                .map(|_| ())
        },
    )
    .await;

    // memory-pressure: 128 MiB held inside the container until undone.
    let base = rt.container_stats()["app-1"].mem_mib;
    let mem = FaultParams {
        memory_mib: 128,
        ..params(60)
    };
    let exp = rt
        .inject(&a, ENV_NAME, ScenarioKind::MemoryPressure, mem)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(15),
        "app-1 memory up by 100 MiB",
        || async {
            rt.container_stats()
                .get("app-1")
                .filter(|p| p.mem_mib > base + 100.0)
                .map(|_| ())
        },
    )
    .await;
    rt.undo(&a, &exp.id).await.unwrap();
    eventually(
        Duration::from_secs(15),
        "app-1 memory back down",
        || async {
            rt.container_stats()
                .get("app-1")
                .filter(|p| p.mem_mib < base + 50.0)
                .map(|_| ())
        },
    )
    .await;

    // db-down and kafka-down: the dependency stops, and starts again on undo.
    for (scenario, name) in [
        (ScenarioKind::DbDown, "db-1"),
        (ScenarioKind::KafkaDown, "kafka-1"),
    ] {
        let exp = rt.inject(&a, ENV_NAME, scenario, params(60)).await.unwrap();
        let s = env(&rt).await;
        assert_eq!(
            instance(&s, name).phase,
            InstancePhase::Stopped,
            "{scenario}"
        );
        assert!(
            matches!(&s.health, Health::Degraded(r) if r.contains(name)),
            "{:?}",
            s.health
        );
        rt.undo(&a, &exp.id).await.unwrap();
        eventually(Duration::from_secs(20), "the dependency back", || async {
            let s = env(&rt).await;
            (instance(&s, name).phase == InstancePhase::Ready).then_some(())
        })
        .await;
    }

    // A fault ends by itself when its time is up.
    let exp = rt
        .inject(&a, ENV_NAME, ScenarioKind::DbDown, params(2))
        .await
        .unwrap();
    assert_eq!(journal_len(&p), 1);
    eventually(Duration::from_secs(15), "the fault to expire", || async {
        (journal_len(&p) == 0).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "db-1 back after expiry",
        || async {
            let s = env(&rt).await;
            (instance(&s, "db-1").phase == InstancePhase::Ready).then_some(())
        },
    )
    .await;
    let h = rt.history().await.unwrap();
    assert!(h
        .experiments
        .iter()
        .any(|e| e.id == exp.id && e.state != ExperimentState::Running));

    // Shutdown (the Ctrl-C path) undoes what is still applied.
    rt.inject(&a, ENV_NAME, ScenarioKind::KafkaDown, params(600))
        .await
        .unwrap();
    assert_eq!(journal_len(&p), 1);
    rt.shutdown().await;
    assert_eq!(journal_len(&p), 0);
    let docker = engine::connect().await.unwrap();
    let kafka = engine::project_containers(&docker, p.name(), Some("kafka"))
        .await
        .unwrap();
    assert_eq!(
        kafka[0].state.map(|s| s.to_string()),
        Some("running".to_string())
    );
}

/// A leftover that the start-up reconcile could not undo (here: journalled
/// by a dead process after this runtime started) is listed as a fault still
/// applied, can be undone on its own the way the console does, and the rest
/// with one call. (A crash mid-fault and the reconcile at the next start is
/// `tests/fault_engine_crash.rs`, on both backends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_not_undone_at_start_are_listed_and_undone_on_request() {
    require_docker!();
    use blissful_infra::docker::chaos::{FaultRecord, UndoStep};
    use blissful_infra::faults::{marked_pids, new_marker, Journal, ProcessRef};
    let p = TestProject::new("left", &app_db_compose(false));
    up(&p).await;
    let rt = connect(&p).await;
    assert!(rt.reconciled_faults().await.is_empty());
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = ProcessRef::of_pid(gone.id());
    gone.wait().unwrap();
    // Two "burners" of a dead blissful-infra, found by their markers.
    let mut burners = Vec::new();
    let mut records = Vec::new();
    for n in 0..2 {
        let marker = new_marker(p.name(), &format!("left-{n}"));
        use std::os::unix::process::CommandExt;
        burners.push(
            std::process::Command::new("sh")
                .args(["-c", "sleep 60", &marker])
                .process_group(0)
                .spawn()
                .unwrap(),
        );
        records.push(FaultRecord {
            id: format!("cpu-stress-left-{n}"),
            backend: "docker".into(),
            scope: p.name().into(),
            scenario: ScenarioKind::CpuStress,
            params: params(600),
            started_at: 0,
            ends_at: 600_000,
            owner: dead.clone(),
            targets: vec!["app-1".into()],
            undo: vec![UndoStep::KillMarked { marker }],
        });
    }
    let journal: Journal<UndoStep> = Journal::at(p.state_dir().join(JOURNAL_FILE));
    for r in &records {
        journal.insert(r).unwrap();
    }
    assert_eq!(find_leftovers(&p.state_dir(), p.name()).unwrap().len(), 2);
    let found = rt.leftover_faults().await;
    assert_eq!(found.len(), 2);
    let history = Runtime::history(&*rt).await.unwrap();
    for r in &records {
        assert!(
            history
                .experiments
                .iter()
                .any(|x| x.id == r.id && x.state == ExperimentState::Running),
            "{} not listed as applied: {:?}",
            r.id,
            history.experiments
        );
    }
    let mut events = Runtime::subscribe(&*rt).await.unwrap();
    Runtime::undo(&*rt, &actor(), &records[0].id).await.unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = events.recv().await {
            if let RuntimeEvent::Experiment { experiment } = ev {
                if experiment.id == records[0].id {
                    return Some(experiment.state);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    assert_eq!(gone, Some(ExperimentState::Aborted));
    assert!(
        burners[0].wait().unwrap().code().is_none(),
        "killed by a signal"
    );
    let lines = rt.undo_leftovers(&actor()).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&records[1].id) && lines[0].contains("killed 1 fault process group"),
        "{lines:?}"
    );
    assert!(
        burners[1].wait().unwrap().code().is_none(),
        "killed by a signal"
    );
    if let UndoStep::KillMarked { marker } = &records[1].undo[0] {
        assert!(marked_pids(marker).is_empty());
    }
    assert_eq!(journal_len(&p), 0);
    assert!(rt.leftover_faults().await.is_empty());
    rt.shutdown().await;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(cli::down(&p.project, true, &mut out, &mut err).await, 0);
}
