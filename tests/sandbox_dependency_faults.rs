//! Dependency faults on the sandbox, end to end: a service whose
//! DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS point at stand-in dependencies
//! this test owns (echo listeners on 127.0.0.1). The sandbox puts a fault
//! proxy in front of each and hands the instances the proxy's address (read
//! back from the instance's own environment); each scenario is injected
//! through the runtime, its effect measured by talking to the dependency the
//! way the service does, then undone and seen gone. `network` covers
//! network-partition and dns-failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "sandbox_dependency_faults/network.rs"]
mod network;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, EnvironmentConfig};
use blissful_infra::domain::chaos::{FaultParams, ScenarioKind};
use blissful_infra::domain::environment::InstancePhase;
use blissful_infra::faults::{FaultRecord, Journal};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, Support};
use blissful_infra::sandbox::fault_steps::SandboxUndo;
use blissful_infra::sandbox::SandboxRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ENV: &str = "staging";

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

/// A stand-in dependency: echoes what it reads.
async fn stand_in() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 256];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    if s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn config(env: &[(&str, String)]) -> Config {
    let mut c = Config {
        environments: vec![EnvironmentConfig {
            name: ENV.into(),
            replicas: 1,
            router_port: 0,
            metrics_port: 0,
            initial_version: "v1".into(),
            protected: false,
        }],
        ..Config::default()
    };
    c.traffic.rate_per_sec = 0.0;
    // Set (empty is unset), so the test's own environment adds nothing.
    for var in ["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"] {
        c.service.env.insert(var.into(), String::new());
    }
    for (k, v) in env {
        c.service.env.insert(k.to_string(), v.clone());
    }
    c
}

struct Sandbox {
    rt: Arc<SandboxRuntime>,
    state: StatePaths,
    _dir: tempfile::TempDir,
}

async fn start(cfg: Config) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let (rt, state) = support::sandbox::start_raw(cfg, dir.path()).await;
    Sandbox {
        rt,
        state,
        _dir: dir,
    }
}

/// The pid of the first ready instance.
async fn ready_pid(rt: &dyn Runtime) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = rt.status().await.unwrap().remove(0);
        let pid = s
            .instances
            .iter()
            .find(|i| i.phase == InstancePhase::Ready)
            .and_then(|i| i.pid());
        if let Some(pid) = pid {
            return pid;
        }
        assert!(Instant::now() < deadline, "no instance got ready: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The environment of the first ready instance's process.
async fn instance_env(rt: &dyn Runtime) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{}/environ", ready_pid(rt).await)).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The database proxy the instance was handed in DATABASE_URL.
fn db_proxy_of(env: &[(String, String)]) -> SocketAddr {
    let db_url = var(env, "DATABASE_URL");
    db_url
        .trim_start_matches("postgres://app:pw@")
        .trim_end_matches("/app")
        .parse()
        .unwrap_or_else(|_| panic!("not rewritten to a proxy: {db_url}"))
}

fn var(env: &[(String, String)], name: &str) -> String {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{name} not in the instance's environment"))
}

/// One exchange with a dependency: send, read the echo; how long it took.
async fn exchange(c: &mut TcpStream) -> std::io::Result<Duration> {
    let t = Instant::now();
    c.write_all(b"SELECT 1").await?;
    let mut b = [0u8; 8];
    c.read_exact(&mut b).await?;
    assert_eq!(&b, b"SELECT 1");
    Ok(t.elapsed())
}

/// Connect and do one exchange, as the service would.
async fn fresh_exchange(addr: SocketAddr) -> std::io::Result<Duration> {
    let mut c = TcpStream::connect(addr).await?;
    exchange(&mut c).await
}

/// The peer reset `c`: the write or the read after it fails with a reset
/// (the kernel reports a received RST once, to whichever comes first).
async fn was_reset(c: &mut TcpStream) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    if let Err(e) = c.write_all(b"SELECT 1").await {
        return matches!(e.kind(), ConnectionReset | BrokenPipe);
    }
    let mut b = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(2), c.read(&mut b)).await;
    matches!(r, Ok(Err(e)) if e.kind() == ConnectionReset)
}

/// A new connection is reset (a dependency that went down).
async fn reset(addr: SocketAddr) -> bool {
    match TcpStream::connect(addr).await {
        Ok(mut c) => was_reset(&mut c).await,
        // The RST can come before the connect is seen to complete.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn long(latency_ms: u64) -> FaultParams {
    FaultParams {
        duration_secs: 120,
        latency_ms,
        ..FaultParams::default()
    }
}

fn journal(state: &StatePaths) -> Vec<FaultRecord<SandboxUndo>> {
    Journal::at(state.fault_journal()).read().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_faults_act_through_the_proxy_and_are_undone() {
    let db = stand_in().await;
    let kafka = stand_in().await;
    let sb = start(config(&[
        ("DATABASE_URL", format!("postgres://app:pw@{db}/app")),
        ("KAFKA_BOOTSTRAP_SERVERS", kafka.to_string()),
    ]))
    .await;
    let rt: &dyn Runtime = &*sb.rt;
    let caps = rt.capabilities();
    for k in ["db-latency", "db-down", "kafka-down", "dependency-timeout"] {
        assert_eq!(caps.scenarios.get(k), Some(&Support::Yes), "{k}");
    }

    // The service was handed the proxies' addresses, not the dependencies'.
    let env = instance_env(rt).await;
    let db_proxy = db_proxy_of(&env);
    let kafka_proxy: SocketAddr = var(&env, "KAFKA_BOOTSTRAP_SERVERS").parse().unwrap();
    assert_ne!(db_proxy, db);
    assert_ne!(kafka_proxy, kafka);
    assert!(db_proxy.ip().is_loopback());
    let baseline = fresh_exchange(db_proxy).await.unwrap();
    println!("db exchange through the proxy, no fault: {baseline:?}");
    let logs = rt.recent_logs(Some(ENV), 100).await.unwrap();
    assert!(
        logs.iter().any(|l| l
            .text
            .contains(&format!("DATABASE_URL ({db}) via {db_proxy}"))),
        "{logs:#?}"
    );

    // db-latency: every exchange with the database slowed, Kafka not.
    let mut open = TcpStream::connect(db_proxy).await.unwrap();
    exchange(&mut open).await.unwrap();
    let x = rt
        .inject(&actor(), ENV, ScenarioKind::DbLatency, long(400))
        .await
        .unwrap();
    let j = journal(&sb.state);
    assert_eq!(j.len(), 1, "journalled while applied");
    assert_eq!(
        j[0].undo,
        vec![SandboxUndo::ClearProxyFault {
            vars: vec!["DATABASE_URL".into()]
        }]
    );
    assert_eq!(j[0].targets, vec![format!("DATABASE_URL ({db})")]);
    let slow = fresh_exchange(db_proxy).await.unwrap();
    let slow_open = exchange(&mut open).await.unwrap();
    println!("db-latency 400ms: new connection {slow:?}, open connection {slow_open:?}");
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    assert!(slow_open >= Duration::from_millis(400), "{slow_open:?}");
    let k = fresh_exchange(kafka_proxy).await.unwrap();
    assert!(k < Duration::from_millis(300), "kafka is not slowed: {k:?}");
    rt.undo(&actor(), &x.id).await.unwrap();
    assert!(journal(&sb.state).is_empty());
    let fast = exchange(&mut open).await.unwrap();
    assert!(fast < Duration::from_millis(300), "latency gone: {fast:?}");

    // db-down: new and open connections to the database are reset.
    let x = rt
        .inject(&actor(), ENV, ScenarioKind::DbDown, long(0))
        .await
        .unwrap();
    assert!(reset(db_proxy).await, "new connection reset");
    assert!(was_reset(&mut open).await, "open connection reset");
    fresh_exchange(kafka_proxy).await.unwrap();
    rt.undo(&actor(), &x.id).await.unwrap();
    fresh_exchange(db_proxy).await.unwrap();

    // kafka-down: the bootstrap address refuses, the database does not.
    let x = rt
        .inject(&actor(), ENV, ScenarioKind::KafkaDown, long(0))
        .await
        .unwrap();
    assert!(reset(kafka_proxy).await, "kafka connection reset");
    fresh_exchange(db_proxy).await.unwrap();
    rt.undo(&actor(), &x.id).await.unwrap();
    fresh_exchange(kafka_proxy).await.unwrap();

    // dependency-timeout: every dependency accepts and never answers; the
    // client's own timeout fires. Undone, the hung exchange completes.
    let x = rt
        .inject(&actor(), ENV, ScenarioKind::DependencyTimeout, long(0))
        .await
        .unwrap();
    assert_eq!(x.scenario, ScenarioKind::DependencyTimeout);
    let mut hung = Vec::new();
    for addr in [db_proxy, kafka_proxy] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let t = tokio::time::timeout(Duration::from_millis(500), exchange(&mut c)).await;
        assert!(t.is_err(), "{addr}: the client's timeout fired");
        hung.push(c);
    }
    rt.undo(&actor(), &x.id).await.unwrap();
    for c in &mut hung {
        let mut b = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&b, b"SELECT 1");
    }
    assert!(journal(&sb.state).is_empty());
    assert!(rt.status().await.unwrap()[0].faults.is_empty());

    // Two faults on one database combine, and undoing one leaves the other.
    let slow = rt
        .inject(&actor(), ENV, ScenarioKind::DbLatency, long(300))
        .await
        .unwrap();
    let down = rt
        .inject(&actor(), ENV, ScenarioKind::DbDown, long(0))
        .await
        .unwrap();
    assert!(reset(db_proxy).await);
    rt.undo(&actor(), &down.id).await.unwrap();
    let still = fresh_exchange(db_proxy).await.unwrap();
    assert!(still >= Duration::from_millis(300), "{still:?}");
    rt.undo(&actor(), &slow.id).await.unwrap();

    // A target that names no dependency is refused with what was found.
    let r = rt
        .inject(
            &actor(),
            ENV,
            ScenarioKind::DependencyTimeout,
            FaultParams {
                target: "redis".into(),
                ..long(0)
            },
        )
        .await;
    assert!(
        matches!(&r, Err(RuntimeError::Refused(m)) if m.contains("REDIS_URL") && m.contains("DATABASE_URL")),
        "{r:?}"
    );
    sb.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dependency_the_scenarios_are_refused_naming_what_was_looked_for() {
    let sb = start(config(&[])).await;
    let rt: &dyn Runtime = &*sb.rt;
    let cases = [
        (ScenarioKind::DbLatency, "DATABASE_URL"),
        (ScenarioKind::DbDown, "DATABASE_URL"),
        (ScenarioKind::KafkaDown, "KAFKA_BOOTSTRAP_SERVERS"),
        (ScenarioKind::DependencyTimeout, "REDIS_URL"),
    ];
    for (k, looked_for) in cases {
        let r = rt.inject(&actor(), ENV, k, long(100)).await;
        assert!(
            matches!(&r, Err(RuntimeError::Refused(m)) if m.contains(looked_for) && m.contains("none was found")),
            "{k}: {r:?}"
        );
    }
    assert!(journal(&sb.state).is_empty(), "nothing was journalled");
    sb.rt.shutdown().await;
}
