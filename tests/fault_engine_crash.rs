//! One crash test for the fault engine, run on every backend: a child
//! process applies faults and is SIGKILLed mid-fault; the journal (and, on
//! Docker, the containers) still hold the faults; the next start finds each
//! one and undoes it. Every line of output names the backend under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, EnvironmentConfig};
use blissful_infra::docker::chaos::{UndoStep, JOURNAL_FILE};
use blissful_infra::docker::{
    cli, engine, lifecycle, DockerRuntime, DockerRuntimeOptions, ENV_NAME,
};
use blissful_infra::domain::chaos::{FaultParams, ScenarioKind};
use blissful_infra::domain::environment::{EnvironmentStatus, InstancePhase};
use blissful_infra::faults::{marked_pids, FaultRecord, Journal};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime};
use blissful_infra::sandbox::fault_steps::SandboxUndo;
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};
use docker_common::{app_db_compose, eventually, http_get, TestProject};

const HELPER_ENV: &str = "BLISSFUL_FAULT_CRASH_HELPER";
const SANDBOX_ENV: &str = "staging";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sandbox,
    Docker,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sandbox => "sandbox",
            Backend::Docker => "docker",
        }
    }

    /// The faults the child applies, in order.
    fn faults(self) -> Vec<ScenarioKind> {
        match self {
            Backend::Sandbox => {
                let mut v = vec![
                    ScenarioKind::CpuStress,
                    ScenarioKind::NetworkLatency,
                    ScenarioKind::DbLatency,
                ];
                // Its memory cgroup needs root, which CI has.
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } == 0 {
                    v.push(ScenarioKind::MemoryPressure);
                }
                v
            }
            Backend::Docker => vec![
                ScenarioKind::DbDown,
                ScenarioKind::CpuStress,
                ScenarioKind::NetworkPartition,
                ScenarioKind::NetworkLatency,
            ],
        }
    }
}

fn say(b: Backend, what: impl std::fmt::Display) {
    println!("[fault engine crash test, backend {}] {what}", b.name());
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

fn long_fault() -> FaultParams {
    FaultParams {
        duration_secs: 600,
        latency_ms: 400,
        ..FaultParams::default()
    }
}

fn sandbox_config() -> Config {
    let mut c = Config {
        environments: vec![EnvironmentConfig {
            name: SANDBOX_ENV.into(),
            replicas: 1,
            router_port: 0,
            metrics_port: 0,
            initial_version: "v1".into(),
            protected: false,
        }],
        ..Config::default()
    };
    c.traffic.rate_per_sec = 0.0;
    // A database for db-latency's proxy (nothing need listen there).
    c.service
        .env
        .insert("DATABASE_URL".into(), "postgres://127.0.0.1:9/app".into());
    c
}

async fn start_sandbox(state: &Path) -> Arc<SandboxRuntime> {
    SandboxRuntime::start(SandboxOptions {
        config: Arc::new(sandbox_config()),
        config_dir: state.to_path_buf(),
        service_program: PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
        state: StatePaths::at(state),
    })
    .await
    .unwrap()
}

fn docker_config() -> Config {
    let mut c = Config::default();
    c.docker.app_service = "app".into();
    c.traffic.rate_per_sec = 0.0;
    c.traffic.paths = vec!["/hello".into()];
    c
}

/// Runs inside the child: applies the backend's faults, says so, and waits
/// to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of the fault engine crash tests"]
async fn crash_helper_process() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let a = actor();
    match parts[..] {
        ["sandbox", state] => {
            let rt = start_sandbox(Path::new(state)).await;
            for s in Backend::Sandbox.faults() {
                rt.inject(&a, SANDBOX_ENV, s, long_fault()).await.unwrap();
            }
        }
        ["docker", project, state] => {
            let rt = DockerRuntime::connect(DockerRuntimeOptions {
                config: Arc::new(docker_config()),
                project: project.into(),
                state: StatePaths::at(state),
                docker_host: None,
            })
            .await
            .unwrap();
            for s in Backend::Docker.faults() {
                rt.inject(&a, ENV_NAME, s, long_fault()).await.unwrap();
            }
        }
        _ => panic!("bad helper spec {spec}"),
    }
    println!("INJECTED");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Start the helper for `spec`, wait until its faults are applied, SIGKILL it.
async fn crash_mid_fault(b: Backend, spec: String) -> u32 {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_helper_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let injected = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains("INJECTED") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        injected,
        Ok(true),
        "[{}] the helper applied its faults",
        b.name()
    );
    // SIGKILL: no chance to clean up.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    say(b, format!("helper {pid} killed with SIGKILL mid-fault"));
    pid
}

/// The journal after the crash: every fault, owned by the dead helper.
fn check_journal_after_crash<U>(
    b: Backend,
    journal: &Journal<U>,
    helper: u32,
) -> Vec<FaultRecord<U>>
where
    U: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq,
{
    let records = journal.read().unwrap();
    let mut kinds: Vec<ScenarioKind> = records.iter().map(|r| r.scenario).collect();
    let mut want = b.faults();
    kinds.sort_by_key(|k| k.name());
    want.sort_by_key(|k| k.name());
    assert_eq!(kinds, want, "[{}] journal after the crash", b.name());
    for r in &records {
        assert_eq!(r.owner.pid, helper, "[{}] {}", b.name(), r.id);
        assert!(r.is_orphaned(), "[{}] {}", b.name(), r.id);
        assert_eq!(r.backend, b.name());
    }
    say(
        b,
        format!("{} fault(s) found in the journal", records.len()),
    );
    records
}

async fn crash_test(b: Backend) {
    match b {
        Backend::Sandbox => sandbox_crash().await,
        Backend::Docker => docker_crash().await,
    }
    say(b, "every fault was found and undone at the next start");
}

async fn sandbox_crash() {
    let b = Backend::Sandbox;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let helper = crash_mid_fault(b, format!("sandbox|{}", state.display())).await;
    let journal: Journal<SandboxUndo> = Journal::at(StatePaths::at(&state).fault_journal());
    let records = check_journal_after_crash(b, &journal, helper);
    let stress = records
        .iter()
        .find(|r| r.scenario == ScenarioKind::CpuStress)
        .unwrap();
    let burners = SandboxUndo::processes(&stress.undo);
    assert_eq!(burners.len(), 1, "[sandbox] the burner was journalled");
    let marker = stress
        .undo
        .iter()
        .find_map(|s| match s {
            SandboxUndo::KillMarked { marker } => Some(marker.clone()),
            _ => None,
        })
        .unwrap();

    let cgroups: Vec<_> = records
        .iter()
        .flat_map(|r| r.undo.iter().filter_map(SandboxUndo::cgroup))
        .collect();
    for c in &cgroups {
        assert!(
            c.dir.exists(),
            "[sandbox] {} left by the crash",
            c.dir.display()
        );
    }

    let rt = start_sandbox(&state).await;
    assert!(
        journal.read().unwrap().is_empty(),
        "[sandbox] journal after the restart"
    );
    for c in &cgroups {
        assert!(
            !c.dir.exists(),
            "[sandbox] {} outlived the restart",
            c.dir.display()
        );
    }
    assert!(
        burners.iter().all(|p| !p.is_alive()),
        "[sandbox] the CPU burner is gone"
    );
    assert!(
        marked_pids(&marker).is_empty(),
        "[sandbox] no process carries the marker"
    );
    let logs = rt.recent_logs(Some("sandbox"), 200).await.unwrap();
    for r in &records {
        assert!(
            logs.iter()
                .any(|l| l.text.contains("leftover") && l.text.contains(&r.id)),
            "[sandbox] {} not reported: {logs:#?}",
            r.id
        );
    }
    // The router fault is cleared: the restarted router answers at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let s = rt.status().await.unwrap().remove(0);
        if s.instances.iter().any(|i| i.phase == InstancePhase::Ready) {
            break s;
        }
        assert!(Instant::now() < deadline, "[sandbox] never healthy: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.faults.is_empty(), "[sandbox] {:?}", status.faults);
    let t = Instant::now();
    let port = status
        .router_addr
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(http_get(port, "/hello").await.map(|r| r.0), Some(200));
    assert!(
        t.elapsed() < Duration::from_millis(350),
        "[sandbox] the 400ms latency survived the restart: {:?}",
        t.elapsed()
    );
    rt.shutdown().await;
}

fn in_netns(pid: u32, args: &[&str]) -> String {
    let mut a = vec!["-t".to_string(), pid.to_string(), "-n".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    let out = std::process::Command::new("nsenter")
        .args(a)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn instance<'a>(
    s: &'a EnvironmentStatus,
    id: &str,
) -> &'a blissful_infra::domain::environment::InstanceStatus {
    s.instances
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("[docker] no instance {id} in {:?}", s.instances))
}

async fn docker_env(rt: &DockerRuntime) -> EnvironmentStatus {
    rt.status().await.unwrap().remove(0)
}

async fn docker_crash() {
    let b = Backend::Docker;
    let p = TestProject::new("crash", &app_db_compose(false));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await;
    assert_eq!(code, 0, "[docker] up: {}", String::from_utf8_lossy(&err));
    let spec = format!("docker|{}|{}", p.name(), p.state_dir().display());
    let helper = crash_mid_fault(b, spec).await;
    let journal: Journal<UndoStep> = Journal::at(p.state_dir().join(JOURNAL_FILE));
    let records = check_journal_after_crash(b, &journal, helper);
    let id_of = |k: ScenarioKind| records.iter().find(|r| r.scenario == k).unwrap().id.clone();
    let (partition, latency) = (
        id_of(ScenarioKind::NetworkPartition),
        id_of(ScenarioKind::NetworkLatency),
    );

    // The faults outlive the process that applied them.
    let docker = engine::connect().await.unwrap();
    let db = engine::project_containers(&docker, p.name(), Some("db"))
        .await
        .unwrap();
    assert_eq!(
        db[0].state.map(|s| s.to_string()),
        Some("exited".to_string()),
        "[docker] db stopped"
    );

    // The next start undoes them all.
    let mut cfg = docker_config();
    cfg.docker.project_name = p.name().to_string();
    let mut err = Vec::new();
    let rt = cli::open_runtime(
        Arc::new(cfg),
        p.dir.path(),
        StatePaths::at(p.state_dir()),
        &mut err,
    )
    .await
    .unwrap_or_else(|code| panic!("[docker] open_runtime: {code}"));
    let err = String::from_utf8_lossy(&err).into_owned();
    assert!(
        err.contains("undid 4 fault(s) left by a blissful-infra"),
        "[docker] {err}"
    );
    assert!(err.contains("db-down on db-1"), "[docker] {err}");
    assert!(
        journal.read().unwrap().is_empty(),
        "[docker] journal after the restart"
    );
    assert!(rt.leftover_faults().await.is_empty());
    let pid = instance(&docker_env(&rt).await, "app-1").pid().unwrap();
    assert!(
        !in_netns(pid, &["iptables", "-S"]).contains(&partition),
        "[docker] partition rule left"
    );
    assert!(!in_netns(pid, &["iptables", "-t", "nat", "-S"]).contains(&latency));
    assert!(
        !in_netns(pid, &["tc", "qdisc", "show"]).contains("netem"),
        "[docker] netem left"
    );
    eventually(
        Duration::from_secs(30),
        "[docker] db back and CPU down",
        || async {
            let s = docker_env(&rt).await;
            let cpu_low = rt
                .container_stats()
                .get("app-1")
                .is_some_and(|p| p.cpu_pct < 30.0);
            (instance(&s, "db-1").phase == InstancePhase::Ready && cpu_low).then_some(())
        },
    )
    .await;
    let port = instance(&docker_env(&rt).await, "app-1").port().unwrap();
    assert_eq!(http_get(port, "/hello").await.map(|r| r.0), Some(200));
    rt.shutdown().await;

    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(cli::down(&p.project, true, &mut out, &mut err).await, 0);
    assert!(engine::project_containers(&docker, p.name(), None)
        .await
        .unwrap()
        .is_empty());
    assert!(lifecycle::project_networks(&docker, p.name())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_engine_crash_sandbox() {
    crash_test(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_engine_crash_docker() {
    require_docker!();
    crash_test(Backend::Docker).await;
}
