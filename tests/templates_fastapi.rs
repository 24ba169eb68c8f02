//! The fastapi template, exercised for real: its requirements installed from
//! PyPI into a venv (cached in target/templates-venv while the requirements
//! do not change), its own pytest suite run, then the service run natively
//! through the sandbox runtime with the generated blissful-infra.yaml, and
//! every standard endpoint hit, WebSocket included, with Kafka (and the
//! databases) pointing at a closed port: /ready must say 503 naming them,
//! everything else must work. A second run without Kafka configured must
//! become ready and serve through the environment's router.
//!
//! Skipped, saying why, only when no python3 >= 3.10 is installed; a failed
//! `pip install` fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, EnvironmentConfig};
use blissful_infra::domain::environment::{EnvironmentStatus, InstancePhase};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::Runtime;
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};
use blissful_infra::scaffold::{self, Choices, Database, EmbeddedTemplates, Target};
use futures::{SinkExt, StreamExt};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PROJECT: &str = "orders";

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A python3 that is at least 3.10 (the pinned pytest and FastAPI need it).
fn python() -> Option<PathBuf> {
    for name in [
        "python3.11",
        "python3.12",
        "python3.13",
        "python3.10",
        "python3",
    ] {
        let Some(p) = which(name) else { continue };
        let ok = Command::new(&p)
            .args([
                "-c",
                "import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)",
            ])
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(p);
        }
    }
    None
}

fn render(dir: &Path, database: Database) -> PathBuf {
    let choices = Choices {
        name: PROJECT.into(),
        template: "fastapi".into(),
        backend: None,
        database,
        target: Target::Kubernetes,
    };
    let plan = scaffold::plan(&EmbeddedTemplates, &choices).expect("the fastapi template renders");
    let project = dir.join(format!("fastapi-{database}"));
    scaffold::write::write_files(&project, &plan.files).expect("the project is written");
    project
}

/// The venv with the requirements of the largest variant (PostgreSQL and
/// Redis), shared by every test here; `None` when no suitable python exists.
fn venv() -> Option<PathBuf> {
    static VENV: OnceLock<Option<PathBuf>> = OnceLock::new();
    VENV.get_or_init(|| {
        let Some(py) = python() else {
            eprintln!("SKIPPED fastapi template run: no python3 >= 3.10 with venv is installed");
            return None;
        };
        let scratch = tempfile::tempdir().unwrap();
        let project = render(scratch.path(), Database::PostgresRedis);
        let stamp_text = format!(
            "{}\n{}\n{}",
            py.display(),
            std::fs::read_to_string(project.join("requirements.txt")).unwrap(),
            std::fs::read_to_string(project.join("requirements-dev.txt")).unwrap()
        );
        let venv = Path::new(ROOT).join("target/templates-venv/fastapi");
        let stamp = venv.join("requirements.stamp");
        if venv.join("bin/python").is_file()
            && std::fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_text.as_str())
        {
            return Some(venv);
        }
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
        let o = Command::new(&py)
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "python -m venv failed:\n{}",
            output_text(&o)
        );
        let started = Instant::now();
        let o = Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                "requirements-dev.txt",
            ])
            .current_dir(&project)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pip install -r requirements-dev.txt failed (PyPI must be reachable):\n{}",
            output_text(&o)
        );
        eprintln!(
            "installed the fastapi requirements in {:.0?}",
            started.elapsed()
        );
        std::fs::write(&stamp, stamp_text).unwrap();
        Some(venv)
    })
    .clone()
}

fn link_venv(project: &Path, venv: &Path) {
    std::os::unix::fs::symlink(venv, project.join(".venv")).unwrap();
}

// ------------------------------------------------------------------ pytest

#[test]
fn the_generated_project_passes_its_own_tests() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let passed_re = regex::Regex::new(r"(\d+) passed").unwrap();
    for db in [Database::None, Database::PostgresRedis] {
        let project = render(tmp.path(), db);
        link_venv(&project, &venv);
        let o = Command::new(project.join(".venv/bin/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .current_dir(&project)
            // Never the machine's own settings.
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let out = output_text(&o);
        assert!(o.status.success(), "pytest failed for {db}:\n{out}");
        let passed: u32 = passed_re
            .captures(&out)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or(0);
        let want = if db == Database::None { 18 } else { 20 };
        assert!(
            passed >= want,
            "only {passed} tests passed for {db}:\n{out}"
        );
        assert!(!out.contains(" failed") && !out.contains(" error"), "{out}");
    }
}

// ------------------------------------------------------------------ the sandbox

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Running {
    rt: Arc<SandboxRuntime>,
    _state: tempfile::TempDir,
}

async fn start(project: &Path, env_prefix: &str) -> Running {
    let mut cfg = Config::load(&project.join("blissful-infra.yaml"))
        .expect("the generated blissful-infra.yaml loads");
    assert!(!cfg.service.command.is_empty());
    cfg.environments = vec![EnvironmentConfig {
        name: "staging".into(),
        replicas: 1,
        router_port: 0,
        metrics_port: 0,
        initial_version: "v1".into(),
        protected: false,
    }];
    cfg.traffic.rate_per_sec = 0.0;
    cfg.service.command = format!("{env_prefix} {}", cfg.service.command);
    let state = tempfile::tempdir().unwrap();
    let rt = SandboxRuntime::start(SandboxOptions {
        config: Arc::new(cfg),
        config_dir: project.to_path_buf(),
        service_program: PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
        state: StatePaths::at(state.path().join("state")),
    })
    .await
    .expect("the sandbox starts");
    Running { rt, _state: state }
}

async fn staging(rt: &SandboxRuntime) -> EnvironmentStatus {
    rt.status()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == "staging")
        .unwrap()
}

async fn logs(rt: &SandboxRuntime) -> String {
    rt.recent_logs(None, 2000)
        .await
        .map(|ls| ls.iter().map(|l| format!("{}\n", l.text)).collect())
        .unwrap_or_default()
}

/// The instance's own port once it answers /live.
async fn wait_live(rt: &SandboxRuntime, http: &reqwest::Client) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let env = staging(rt).await;
        if let Some((_, port)) = env
            .instances
            .iter()
            .find_map(|i| Some((i.pid()?, i.port()?)))
        {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/live"))
                .send()
                .await
            {
                if r.status() == 200 {
                    return port;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the service never answered /live; status: {env:#?}\nlogs:\n{}",
            logs(rt).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_in_the_sandbox_and_degrades_without_its_dependencies() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let project = render(tmp.path(), Database::PostgresRedis);
    link_venv(&project, &venv);
    let closed = closed_port();
    let prefix = format!(
        "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{closed} DATABASE_URL=postgresql://app:app@127.0.0.1:{closed}/orders REDIS_URL=redis://127.0.0.1:{closed}/0 DEPENDENCY_TIMEOUT_SECONDS=0.5;"
    );
    let running = start(&project, &prefix).await;
    let rt = running.rt.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let port = wait_live(&rt, &http).await;
    let base = format!("http://127.0.0.1:{port}");

    let (s, body) = get_json(&http, &format!("{base}/health")).await;
    assert_eq!((s, body), (200, serde_json::json!({"status": "ok"})));
    let (s, body) = get_json(&http, &format!("{base}/live")).await;
    assert_eq!((s, body), (200, serde_json::json!({"status": "ok"})));
    let (s, body) = get_json(&http, &format!("{base}/ready")).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        body["failed"],
        serde_json::json!(["kafka", "postgres", "redis"]),
        "{body}"
    );
    assert!(
        body["checks"]["kafka"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&closed.to_string()),
        "{body}"
    );
    let (s, body) = get_json(&http, &format!("{base}/hello")).await;
    assert_eq!(
        (s, body),
        (200, serde_json::json!({"message": "Hello, World!"}))
    );

    // The WebSocket stays usable and still gets the event while Kafka is down.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/events"))
        .await
        .expect("the WebSocket connects");
    let r = http
        .get(format!("{base}/hello/Sandbox"))
        .header("X-Request-Id", "sandbox-check-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("sandbox-check-1")
    );
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Hello, Sandbox!"})
    );
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an event frame within 10s")
        .expect("the socket stays open")
        .expect("a frame");
    let event: Value = match frame {
        tokio_tungstenite::tungstenite::Message::Text(t) => {
            serde_json::from_str(t.as_str()).unwrap()
        }
        other => panic!("expected a text frame, got {other:?}"),
    };
    assert_eq!(event["eventType"], "greeting.created");
    assert_eq!(event["payload"]["name"], "Sandbox");
    assert_eq!(event["payload"]["message"], "Hello, Sandbox!");
    for key in ["eventId", "aggregateId", "occurredAt"] {
        assert!(event[key].is_string(), "{key} in {event}");
    }

    let r = http
        .post(format!("{base}/echo"))
        .json(&serde_json::json!({"n": 7, "list": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"n": 7, "list": ["a", "b"]})
    );

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "http_requests_total{method=\"GET\",path=\"/hello/{name}\",status=\"200\"}",
        "http_request_duration_seconds_bucket",
        "websocket_connections 1.0",
        "kafka_consumer_lag",
        "circuit_breaker_state{dependency=\"kafka\"}",
        "domain_events_total{outcome=\"queued\"} 1.0",
    ] {
        assert!(metrics.contains(name), "{name} not in /metrics:\n{metrics}");
    }
    let _ = ws
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;

    // The sandbox holds the instance out of rotation (not ready), and it
    // neither crashed nor restarted.
    let env = staging(&rt).await;
    let inst = &env.instances[0];
    assert_eq!(inst.phase, InstancePhase::Starting, "{env:#?}");
    assert_eq!(inst.restarts, 0, "{env:#?}");
    // Structured logs reached the sandbox: JSON lines naming the service.
    let lines = logs(&rt).await;
    let json_lines: Vec<Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    assert!(
        json_lines
            .iter()
            .any(|l| l["service"] == PROJECT && l["msg"] == "kafka unreachable, retrying"),
        "logs:\n{lines}"
    );
    assert!(
        json_lines
            .iter()
            .any(|l| l["request_id"] == "sandbox-check-1" && l["msg"] == "request"),
        "logs:\n{lines}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kafka_configured_the_service_is_ready_behind_the_router() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let project = render(tmp.path(), Database::None);
    link_venv(&project, &venv);
    let running = start(&project, "unset KAFKA_BOOTSTRAP_SERVERS;").await;
    let rt = running.rt.clone();
    let deadline = Instant::now() + Duration::from_secs(40);
    let env = loop {
        let env = staging(&rt).await;
        if env
            .instances
            .iter()
            .any(|i| i.phase == InstancePhase::Ready)
        {
            break env;
        }
        assert!(
            Instant::now() < deadline,
            "never ready: {env:#?}\nlogs:\n{}",
            logs(&rt).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (s, body) = get_json(&http, &format!("http://{}/hello/router", env.router_addr)).await;
    assert_eq!(
        (s, body),
        (200, serde_json::json!({"message": "Hello, router!"}))
    );
    let (s, body) = get_json(&http, &format!("http://{}/ready", env.router_addr)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ready");
    rt.shutdown().await;
}
