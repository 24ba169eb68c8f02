//! End-to-end tests of the sandbox runtime: real child processes of the
//! built `blissful-infra sample-service`, real routers on 127.0.0.1 (ephemeral
//! ports), real journals in a temporary state directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, EnvironmentConfig};
use blissful_infra::domain::analysis::{Metric, Outcome};
use blissful_infra::domain::chaos::{ExperimentState, FaultParams, ScenarioKind};
use blissful_infra::domain::environment::{EnvironmentStatus, Health, InstancePhase, Version};
use blissful_infra::domain::pipeline::{PipelineRun, StageStatus};
use blissful_infra::domain::rollout::{CanaryPlan, CanaryStep};
use blissful_infra::faults::{FaultRecord, Journal, ProcessRef};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::read_audit_journal;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, RuntimeEvent, SharedRuntime};
use blissful_infra::sandbox::fault_steps::SandboxUndo;
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENV: &str = "staging";

/// The records of the sandbox's fault journal.
fn fault_records(path: &std::path::Path) -> Vec<FaultRecord<SandboxUndo>> {
    Journal::at(path).read().unwrap()
}

/// The audit journal's outcome entries (without the `requested` ones
/// written before each change).
fn outcomes(state: &StatePaths) -> Vec<blissful_infra::domain::audit::AuditEntry> {
    read_audit_journal(&state.audit_journal())
        .unwrap()
        .into_iter()
        .filter(|e| e.outcome != blissful_infra::runtime::audited::REQUESTED)
        .collect()
}

fn config(replicas: u32, steps: &[(u8, u64)]) -> Config {
    let mut c = Config {
        environments: vec![EnvironmentConfig {
            name: ENV.into(),
            replicas,
            router_port: 0,
            metrics_port: 0,
            initial_version: "v1".into(),
            protected: false,
        }],
        ..Config::default()
    };
    c.traffic.rate_per_sec = 40.0;
    c.traffic.paths = vec!["/hello".into()];
    c.rollout.steps = CanaryPlan {
        steps: steps
            .iter()
            .map(|&(weight, pause_secs)| CanaryStep { weight, pause_secs })
            .collect(),
    };
    c.rollout.analysis.min_samples = 5;
    // A busy 2-core test machine must not fail a healthy canary on jitter.
    c.rollout.analysis.latency_slack_ms = 100.0;
    c.rollout.max_extensions = 6;
    c.chaos.slo.max_recovery_secs = 20;
    c
}

struct Sandbox {
    /// Wrapped as the owning process wraps it: read-only (when asked), audited.
    rt: SharedRuntime,
    state: StatePaths,
    _dir: tempfile::TempDir,
}

async fn start(cfg: Config, read_only: bool) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    start_in(cfg, read_only, dir).await
}

async fn start_in(cfg: Config, read_only: bool, dir: tempfile::TempDir) -> Sandbox {
    let state = StatePaths::at(dir.path().join("state"));
    let rt = SandboxRuntime::start(SandboxOptions {
        config: Arc::new(cfg),
        config_dir: dir.path().to_path_buf(),
        service_program: PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
        state: state.clone(),
    })
    .await
    .unwrap();
    let rt = blissful_infra::runtime::decorate(rt, read_only, state.audit_journal()).await;
    Sandbox {
        rt,
        state,
        _dir: dir,
    }
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

async fn env_status(rt: &dyn Runtime) -> EnvironmentStatus {
    rt.status()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == ENV)
        .unwrap()
}

async fn wait_status(
    rt: &dyn Runtime,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&EnvironmentStatus) -> bool,
) -> EnvironmentStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let s = env_status(rt).await;
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_healthy(rt: &dyn Runtime) -> EnvironmentStatus {
    wait_status(rt, "a healthy environment", Duration::from_secs(20), |s| {
        s.health == Health::Healthy
    })
    .await
}

async fn wait_pipeline(rt: &dyn Runtime, id: u64, timeout: Duration) -> PipelineRun {
    let deadline = Instant::now() + timeout;
    loop {
        let h = rt.history().await.unwrap();
        let run = h.pipelines.iter().find(|p| p.id == id).cloned();
        if let Some(run) = run.filter(|r| r.finished_at.is_some()) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "pipeline #{id} did not finish; history: {h:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tiny HTTP/1.1 client: status and the `x-served-by-version` header.
async fn get(addr: &str, path: &str) -> Result<(u16, Option<String>), String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(1 << 20)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let version = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("x-served-by-version")
            .then(|| v.trim().to_string())
    });
    Ok((status, version))
}

/// Versions that served `n` requests.
async fn served_by(addr: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, v) = get(addr, "/hello").await.unwrap();
        assert_eq!(status, 200, "served by {v:?}");
        out.push(v.unwrap_or_default());
    }
    out
}

fn count(v: &[String], version: &str) -> usize {
    v.iter().filter(|x| *x == version).count()
}

fn pid_alive(pid: u32) -> bool {
    ProcessRef {
        pid,
        start_time: None,
        cmdline: vec![],
    }
    .is_alive()
}

async fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| pid_alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} outlived the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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

    rt.shutdown().await;
    let audit = outcomes(&sb.state);
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.starts_with("chaos "))
            .count(),
        4,
        "{audit:#?}"
    );
    assert_eq!(
        audit.iter().filter(|a| a.action == "undo").count(),
        4,
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
