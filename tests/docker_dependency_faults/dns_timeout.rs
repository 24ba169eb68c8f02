//! dns-failure and dependency-timeout on the real engine, measured from
//! inside the app container (busybox `nslookup` and `wget`) and from the
//! host: lookups fail SERVFAIL and connections to the database hang while
//! the fault holds, and both work again after undo, or after a SIGKILL of
//! the process that applied them and the reconcile of the next start.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::docker::chaos::JOURNAL_FILE;
use blissful_infra::docker::{cli, DockerRuntime, DockerRuntimeOptions, ENV_NAME};
use blissful_infra::domain::chaos::{FaultParams, ScenarioKind};
use blissful_infra::domain::environment::Health;
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, Support};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{config, docker_common, journal_has, port_of};
use crate::require_docker;
use docker_common::{app_db_compose, eventually, TestProject};

const HELPER_ENV: &str = "BLISSFUL_DNS_TIMEOUT_CRASH_HELPER";

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

fn long() -> FaultParams {
    FaultParams {
        duration_secs: 600,
        ..FaultParams::default()
    }
}

/// The id of the running container of `service`.
fn container(p: &TestProject, service: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=com.docker.compose.project={}", p.name()))
        .arg("--filter")
        .arg(format!("label=com.docker.compose.service={service}"))
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!id.is_empty(), "no running {service} container");
    id
}

/// `sh -c script` in a container: (success, output, time taken).
fn exec(id: &str, script: &str) -> (bool, String, Duration) {
    let t = Instant::now();
    let out = Command::new("docker")
        .args(["exec", id, "sh", "-c", script])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, t.elapsed())
}

/// `nslookup db` in the app container: Ok(output) when it resolved.
fn lookup(app: &str) -> Result<String, String> {
    match exec(app, "nslookup db") {
        (true, out, _) if out.contains("Address") => Ok(out),
        (_, out, _) => Err(out),
    }
}

/// The database's page fetched from the app container, 2 s allowed
/// (`timeout`: this busybox's `wget -T` crashes).
fn fetch_db(app: &str) -> (bool, String, Duration) {
    exec(app, "timeout 2 wget -q -O - http://db:5432/")
}

/// Connect to the database's published port from the host and send a
/// request: Some(bytes answered within 2 s), None when nothing came.
async fn answered_on_host(port: u16) -> Option<usize> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.ok()?;
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(n),
        _ => None,
    }
}

/// `iptables -t <table> -S` in the namespace of a container's main process.
fn rules(id: &str, table: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", id])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", "iptables", "-w", "-t", table, "-S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn up_and_connect(p: &TestProject) -> (Arc<DockerRuntime>, u16) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await;
    assert_eq!(code, 0, "up: {}", String::from_utf8_lossy(&err));
    let rt = connect(p).await;
    let s = eventually(Duration::from_secs(30), "healthy", || async {
        let s = rt.status().await.unwrap().remove(0);
        (s.health == Health::Healthy).then_some(s)
    })
    .await;
    (rt, port_of(&s, "db-1"))
}

async fn connect(p: &TestProject) -> Arc<DockerRuntime> {
    DockerRuntime::connect(DockerRuntimeOptions {
        config: Arc::new(config()),
        project: p.name().to_string(),
        state: StatePaths::at(p.state_dir()),
        docker_host: None,
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_answers_servfail_until_undone() {
    require_docker!();
    let p = TestProject::new("dns", &app_db_compose(false));
    let (rt, _) = up_and_connect(&p).await;
    assert_eq!(
        rt.capabilities().scenarios.get("dns-failure"),
        Some(&Support::Yes)
    );
    let app = container(&p, "app");
    let before = lookup(&app).unwrap_or_else(|e| panic!("no lookup before the fault: {e}"));
    println!("before the fault:\n{before}");

    let x = rt
        .inject(&actor(), ENV_NAME, ScenarioKind::DnsFailure, long())
        .await
        .unwrap();
    assert!(journal_has(&p, &x.id), "journaled while it holds");
    let during = lookup(&app).expect_err("a lookup succeeded during dns-failure");
    println!("during the fault:\n{during}");
    assert!(during.contains("SERVFAIL"), "{during}");
    assert!(rules(&app, "nat").contains(&x.id));
    // The service itself stays up: only names fail.
    assert!(exec(&app, "timeout 2 wget -q -O - http://127.0.0.1:8080/ready").0);

    rt.undo(&actor(), &x.id).await.unwrap();
    assert!(!journal_has(&p, &x.id), "out of the journal after undo");
    assert!(!rules(&app, "nat").contains(&x.id), "rules left after undo");
    let after = lookup(&app).unwrap_or_else(|e| panic!("no lookup after undo: {e}"));
    println!("after undo:\n{after}");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_timeout_accepts_and_never_answers_until_undone() {
    require_docker!();
    let p = TestProject::new("deptimeout", &app_db_compose(false));
    let (rt, db_port) = up_and_connect(&p).await;
    let app = container(&p, "app");
    let db = container(&p, "db");
    let (ok, out, _) = fetch_db(&app);
    assert!(ok && out.contains("stand-in"), "db before the fault: {out}");
    assert!(answered_on_host(db_port).await.is_some());
    // A target that is not there is refused, and nothing is journalled.
    let named = FaultParams {
        target: "nope".into(),
        ..long()
    };
    let refused = rt
        .inject(&actor(), ENV_NAME, ScenarioKind::DependencyTimeout, named)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, RuntimeError::Refused(r) if r.contains("no running container of service `nope`")),
        "{refused:?}"
    );

    let x = rt
        .inject(&actor(), ENV_NAME, ScenarioKind::DependencyTimeout, long())
        .await
        .unwrap();
    assert!(journal_has(&p, &x.id), "journaled while it holds");
    let (ok, out, took) = fetch_db(&app);
    println!("app -> db during the fault: ok={ok} in {took:?}: {out}");
    assert!(
        !ok,
        "the database answered during dependency-timeout: {out}"
    );
    assert!(
        took >= Duration::from_millis(1_800),
        "failed fast ({took:?}): {out}"
    );
    assert!(
        answered_on_host(db_port).await.is_none(),
        "answered on the published port"
    );
    // The database itself is fine (its loopback healthcheck passes).
    assert!(exec(&db, "timeout 2 wget -q -O - http://127.0.0.1:5432/").0);

    rt.undo(&actor(), &x.id).await.unwrap();
    assert!(!journal_has(&p, &x.id), "out of the journal after undo");
    assert!(!rules(&db, "nat").contains(&x.id), "nat rules left");
    assert!(!rules(&db, "filter").contains(&x.id), "filter rules left");
    let (ok, out, took) = fetch_db(&app);
    assert!(
        ok && out.contains("stand-in"),
        "db after undo ({took:?}): {out}"
    );
    assert!(answered_on_host(db_port).await.is_some());
    rt.shutdown().await;
}

/// Runs in the child: applies both faults, says so, waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of the dns/dependency-timeout crash test"]
async fn crash_helper() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let Some((project, state)) = spec.split_once('|') else {
        panic!("bad helper spec {spec}");
    };
    let rt = DockerRuntime::connect(DockerRuntimeOptions {
        config: Arc::new(config()),
        project: project.into(),
        state: StatePaths::at(state),
        docker_host: None,
    })
    .await
    .unwrap();
    for s in [ScenarioKind::DnsFailure, ScenarioKind::DependencyTimeout] {
        let x = rt.inject(&actor(), ENV_NAME, s, long()).await.unwrap();
        println!("APPLIED {s} {}", x.id);
    }
    println!("INJECTED");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_and_dependency_faults_are_undone_after_a_sigkill() {
    use tokio::io::AsyncBufReadExt;
    require_docker!();
    let p = TestProject::new("dnscrash", &app_db_compose(false));
    let (rt, db_port) = up_and_connect(&p).await;
    rt.shutdown().await;
    let (app, db) = (container(&p, "app"), container(&p, "db"));

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "dns_timeout::crash_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            HELPER_ENV,
            format!("{}|{}", p.name(), p.state_dir().display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ids = Vec::new();
    let injected = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(l)) = lines.next_line().await {
            // The harness may print the test's name on the same line.
            if let Some((_, rest)) = l.split_once("APPLIED ") {
                ids.push(rest.split_whitespace().nth(1).unwrap_or("").to_string());
            }
            if l.contains("INJECTED") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(injected, Ok(true), "the helper applied its faults");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (dns, timeout) = (ids[0].clone(), ids[1].clone());

    // The rules outlive the process; its responders died with it, so
    // lookups and new connections fail (refused) until the next start.
    assert!(journal_has(&p, &dns) && journal_has(&p, &timeout));
    assert!(
        rules(&app, "nat").contains(&dns),
        "dns rules after the crash"
    );
    assert!(rules(&db, "filter").contains(&timeout));
    assert!(
        lookup(&app).is_err(),
        "lookups fail while the rules are left"
    );

    let mut cfg = config();
    cfg.docker.project_name = p.name().to_string();
    let mut err = Vec::new();
    let rt = cli::open_runtime(
        Arc::new(cfg),
        p.dir.path(),
        StatePaths::at(p.state_dir()),
        &mut err,
    )
    .await
    .unwrap_or_else(|code| panic!("open_runtime: {code}"));
    let err = String::from_utf8_lossy(&err).into_owned();
    println!("next start:\n{err}");
    assert!(err.contains("undid 2 fault(s)"), "{err}");
    let text = std::fs::read_to_string(p.state_dir().join(JOURNAL_FILE)).unwrap_or_default();
    assert!(!text.contains(&dns) && !text.contains(&timeout), "{text}");
    assert!(!rules(&app, "nat").contains(&dns), "dns rules left");
    assert!(!rules(&db, "nat").contains(&timeout), "nat rules left");
    assert!(
        !rules(&db, "filter").contains(&timeout),
        "filter rules left"
    );
    lookup(&app).unwrap_or_else(|e| panic!("no lookup after the reconcile: {e}"));
    let (ok, out, _) = fetch_db(&app);
    assert!(
        ok && out.contains("stand-in"),
        "db after the reconcile: {out}"
    );
    assert!(answered_on_host(db_port).await.is_some());
    rt.shutdown().await;
}
