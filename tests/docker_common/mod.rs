//! Shared helpers of the Docker integration tests (`tests/docker_*.rs`).
//! Each test skips, with a printed reason, when no Docker Engine or Compose
//! tool is reachable; otherwise it builds the local test images once and
//! works in a Compose project with a unique name, removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blissful_infra::docker::{engine, ComposeProject, ComposeTool, PROJECT_LABEL};

pub const SAMPLE_IMAGE: &str = "blissful-infra-sample:latest";
pub const DEP_IMAGE: &str = "blissful-infra-dep:latest";

static IMAGES: Mutex<Option<Result<(), String>>> = Mutex::new(None);
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `Some(reason)` when the Docker tests cannot run here.
pub async fn skip_reason() -> Option<String> {
    if !engine::reachable().await {
        return Some(format!(
            "no Docker Engine reachable at {}",
            engine::docker_host()
        ));
    }
    if let Err(e) = ComposeTool::discover().await {
        return Some(e.to_string());
    }
    None
}

/// Skip the calling test (return early) when Docker is not available.
#[macro_export]
macro_rules! require_docker {
    () => {
        if let Some(reason) = docker_common::skip_reason().await {
            let test = std::thread::current()
                .name()
                .unwrap_or(module_path!())
                .to_string();
            eprintln!("skipping {test}: {reason}");
            return;
        }
        docker_common::ensure_images();
    };
}

/// Build the test images once per test binary (the script itself is
/// idempotent and takes a lock against other test binaries).
pub fn ensure_images() {
    let mut done = IMAGES.lock().unwrap_or_else(|p| p.into_inner());
    if done.is_none() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/build-test-images.sh"))
            .arg(env!("CARGO_BIN_EXE_blissful-infra"))
            .current_dir(root)
            .output()
            .expect("running scripts/build-test-images.sh");
        *done = Some(if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "build-test-images.sh failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        });
    }
    if let Some(Err(e)) = done.as_ref() {
        panic!("{e}");
    }
}

/// A Compose project in a temporary directory; `down -v` (and a forced
/// removal of anything left with its label) when dropped.
pub struct TestProject {
    pub project: ComposeProject,
    pub dir: tempfile::TempDir,
}

impl TestProject {
    pub fn new(tag: &str, compose_yaml: &str) -> TestProject {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "bitest-{tag}-{}-{n}-{}",
            std::process::id(),
            fastrand::u32(1000..10000)
        );
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(&file, compose_yaml).expect("writing the compose file");
        TestProject {
            project: ComposeProject::new(dir.path().to_path_buf(), file, name),
            dir,
        }
    }

    pub fn name(&self) -> &str {
        &self.project.name
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let p = &self.project;
        let _ = std::process::Command::new("docker-compose")
            .arg("-p")
            .arg(&p.name)
            .arg("-f")
            .arg(&p.file)
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        // Anything created outside Compose (canary copies) goes as well.
        let filter = format!("label={PROJECT_LABEL}={}", p.name);
        if let Ok(out) = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", "-v"])
                    .args(&ids)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        if let Ok(out) = std::process::Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &filter])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["network", "rm", id])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

/// The standard two-service project (app + db) plus a `kafka` stand-in when
/// `with_kafka`. Every port is published on 127.0.0.1 with an engine-picked port.
pub fn app_db_compose(with_kafka: bool) -> String {
    let mut s = format!(
        r#"services:
  app:
    image: {SAMPLE_IMAGE}
    environment:
      VERSION: v1
    ports:
      - "127.0.0.1::8080"
    labels:
      dev.blissful-infra.ready-path: /ready
    restart: always
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
  db:
    image: {DEP_IMAGE}
    ports:
      - "127.0.0.1::5432"
    labels:
      dev.blissful-infra.role: db
    restart: always
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/"]
      interval: 1s
      timeout: 2s
      retries: 30
"#
    );
    if with_kafka {
        s.push_str(&format!(
            r#"  kafka:
    image: {DEP_IMAGE}
    environment:
      PORT: "9092"
    labels:
      dev.blissful-infra.role: kafka
    restart: always
"#
        ));
    }
    s
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET path` on 127.0.0.1:port: (status, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.get(9..12)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .ok()
        .flatten()
}

/// Forwards a Unix socket to the real engine until dropped (connections too).
pub struct Relay {
    task: tokio::task::JoinHandle<()>,
    path: std::path::PathBuf,
}

impl Relay {
    pub fn start(path: &std::path::Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut a, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    if let Ok(mut b) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
            }
        });
        Relay {
            task,
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the task drops the JoinSet, which aborts every connection.
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}
