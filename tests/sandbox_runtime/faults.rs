//! Chaos on the sandbox: a killed instance restarted, router faults applied and
//! removed, a crashed sandbox's leftover fault undone at start.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_is_restarted_and_the_experiment_recovers() {
    let sb = start(config(2, &[(100, 1)]), false).await;
    let rt = &*sb.rt;
    let before = wait_healthy(rt).await;
    assert_eq!(before.instances.len(), 2);
    let exp = rt
        .inject(&actor(), ENV, ScenarioKind::PodKill, FaultParams::default())
        .await
        .unwrap();
    let s = wait_status(rt, "a restarted instance", Duration::from_secs(20), |s| {
        s.instances.iter().any(|i| i.restarts >= 1)
            && s.instances.iter().all(|i| i.phase == InstancePhase::Ready)
    })
    .await;
    let restarted = s.instances.iter().find(|i| i.restarts >= 1).unwrap();
    let old = before
        .instances
        .iter()
        .find(|i| i.id == restarted.id)
        .unwrap();
    assert_ne!(
        restarted.pid(),
        old.pid(),
        "the instance runs as a new process"
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    let done = loop {
        let h = rt.history().await.unwrap();
        let e = h
            .experiments
            .iter()
            .find(|e| e.id == exp.id)
            .cloned()
            .unwrap();
        if e.state == ExperimentState::Completed {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "experiment never completed: {e:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(done.result.is_some());
    assert!(
        done.detection_ms.is_some(),
        "a missing instance is an impact: {done:#?}"
    );
    assert!(fault_records(&sb.state.fault_journal()).is_empty());
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_faults_change_what_clients_see_and_are_removed() {
    let mut cfg = config(1, &[(100, 1)]);
    cfg.traffic.rate_per_sec = 20.0;
    let sb = start(cfg, false).await;
    let rt = &*sb.rt;
    let addr = wait_healthy(rt).await.router_addr;
    let journal = sb.state.fault_journal();

    // Error injection: journalled while active, visible to clients, gone after.
    let params = FaultParams {
        duration_secs: 2,
        rate: 1.0,
        ..FaultParams::default()
    };
    let exp = rt
        .inject(&actor(), ENV, ScenarioKind::ErrorInjection, params)
        .await
        .unwrap();
    let j = fault_records(&journal);
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].id, exp.id);
    assert_eq!(j[0].owner.pid, std::process::id());
    assert_eq!(get(&addr, "/hello").await.unwrap().0, 503);
    let s = env_status(rt).await;
    assert_eq!(s.faults.len(), 1);
    assert!(matches!(s.health, Health::Degraded(_)), "{:?}", s.health);
    let dup = rt
        .inject(
            &actor(),
            ENV,
            ScenarioKind::ErrorInjection,
            FaultParams::default(),
        )
        .await;
    assert!(matches!(dup, Err(RuntimeError::Refused(_))), "{dup:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fault_records(&journal).is_empty() {
        assert!(Instant::now() < deadline, "the fault was never removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&addr, "/hello").await.unwrap().0, 200);
    wait_healthy(rt).await;

    // Latency, removed early with undo.
    let params = FaultParams {
        duration_secs: 60,
        latency_ms: 400,
        ..FaultParams::default()
    };
    let exp = rt
        .inject(&actor(), ENV, ScenarioKind::NetworkLatency, params)
        .await
        .unwrap();
    let t = Instant::now();
    assert_eq!(get(&addr, "/hello").await.unwrap().0, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(380),
        "took {:?}",
        t.elapsed()
    );
    rt.undo(&actor(), &exp.id).await.unwrap();
    assert!(fault_records(&journal).is_empty());
    let t = Instant::now();
    assert_eq!(get(&addr, "/hello").await.unwrap().0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(350),
        "took {:?}",
        t.elapsed()
    );
    let again = rt.undo(&actor(), &exp.id).await;
    assert!(matches!(again, Err(RuntimeError::Refused(_))), "{again:?}");
    let unknown = rt.undo(&actor(), "no-such-experiment").await;
    assert!(
        matches!(unknown, Err(RuntimeError::NotFound(_))),
        "{unknown:?}"
    );

    // CPU stress: worker pids are journalled and killed on undo.
    let params = FaultParams {
        duration_secs: 60,
        cpu_workers: 1,
        ..FaultParams::default()
    };
    let mut events = rt.subscribe().await.unwrap();
    let exp = rt
        .inject(&actor(), ENV, ScenarioKind::CpuStress, params)
        .await
        .unwrap();
    let j = fault_records(&journal);
    let processes = SandboxUndo::processes(&j[0].undo);
    let workers: Vec<u32> = processes.iter().map(|p| p.pid).collect();
    assert_eq!(workers.len(), 1);
    assert!(processes[0].is_alive());
    // The burner's CPU shows up in the environment's metrics.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "stress CPU never showed up in v1's metrics"
        );
        if let Ok(Some(RuntimeEvent::Metrics { version, point, .. })) =
            tokio::time::timeout(Duration::from_millis(500), events.recv()).await
        {
            if version == "v1" && point.cpu_pct > 50.0 {
                break;
            }
        }
    }
    rt.undo(&actor(), &exp.id).await.unwrap();
    wait_gone(&workers).await;
    assert!(fault_records(&journal).is_empty());

    // Memory pressure: the holder's memory is measured in v1's metrics, and
    // is given back on undo.
    let baseline = mem_of_v1(&mut events, |_| true).await;
    let params = FaultParams {
        duration_secs: 60,
        memory_mib: 160,
        ..FaultParams::default()
    };
    let exp = rt
        .inject(&actor(), ENV, ScenarioKind::MemoryPressure, params)
        .await
        .unwrap();
    let holders: Vec<u32> = SandboxUndo::processes(&fault_records(&journal)[0].undo)
        .iter()
        .map(|p| p.pid)
        .collect();
    assert_eq!(holders.len(), 1);
    let held = mem_of_v1(&mut events, |m| m >= baseline + 150.0).await;
    assert!(
        held < baseline + 200.0,
        "baseline {baseline} MiB, held {held} MiB"
    );
    rt.undo(&actor(), &exp.id).await.unwrap();
    wait_gone(&holders).await;
    assert!(fault_records(&journal).is_empty());
    let after = mem_of_v1(&mut events, |m| m < baseline + 50.0).await;
    assert!(after < held, "{after} MiB after undo");

    rt.shutdown().await;
    let audit = outcomes(&sb.state);
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.starts_with("chaos "))
            .count(),
        5,
        "{audit:#?}"
    );
    assert_eq!(
        audit.iter().filter(|a| a.action == "undo").count(),
        5,
        "{audit:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_fault_of_a_crashed_sandbox_is_undone_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = StatePaths::at(dir.path().join("state"));
    // A "crashed" owner: a process that has exited.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let mut stress = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let record = FaultRecord {
        id: "cpu-stress-7".into(),
        backend: "sandbox".into(),
        scope: ENV.into(),
        scenario: ScenarioKind::CpuStress,
        params: FaultParams::default(),
        started_at: 0,
        ends_at: 30_000,
        owner: ProcessRef {
            pid: dead_pid,
            start_time: None,
            cmdline: vec![],
        },
        targets: vec![ENV.into()],
        undo: vec![SandboxUndo::KillProcesses {
            processes: vec![ProcessRef::of_pid(stress.id())],
        }],
    };
    Journal::at(state.fault_journal()).insert(&record).unwrap();

    let sb = start_in(config(1, &[(100, 1)]), false, dir).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = stress.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the leftover stress process was not killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(fault_records(&sb.state.fault_journal()).is_empty());
    let logs = sb.rt.recent_logs(Some("sandbox"), 100).await.unwrap();
    assert!(
        logs.iter().any(|l| l.text.contains("cpu-stress-7")),
        "{logs:#?}"
    );
    sb.rt.shutdown().await;
}

/// The first memory reading of v1 (MiB) that `wanted` accepts, within 20 s.
async fn mem_of_v1(
    events: &mut tokio::sync::mpsc::Receiver<RuntimeEvent>,
    wanted: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(RuntimeEvent::Metrics { version, point, .. })) =
            tokio::time::timeout(Duration::from_millis(500), events.recv()).await
        {
            if version == "v1" {
                last = Some(point.mem_mib);
                if wanted(point.mem_mib) {
                    return point.mem_mib;
                }
            }
        }
    }
    panic!("v1's memory never reached the wanted value (last reading: {last:?} MiB)");
}
