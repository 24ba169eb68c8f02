//! One delivery suite for both backends: every test runs against the
//! sandbox and against Docker (`sandbox_*` and `docker_*` in the test
//! names), through the `Runtime` port only. The Docker half is skipped,
//! with a printed reason, when no engine is reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::any::Any;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::config::{AnalysisSource, Config, EnvironmentConfig, PrometheusConfig};
use blissful_infra::docker::{cli, DockerRuntime, DockerRuntimeOptions, ENV_NAME};
use blissful_infra::domain::analysis::Metric;
use blissful_infra::domain::environment::{EnvironmentStatus, Health, Version};
use blissful_infra::domain::pipeline::{PipelineRun, StageStatus};
use blissful_infra::domain::rollout::{CanaryPlan, CanaryStep};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{
    Actor, Intent, RolloutOutcome, RuntimeError, RuntimeEvent, SharedRuntime,
};
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};
use docker_common::{app_db_compose, TestProject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sandbox,
    Docker,
}

/// A running backend under test.
struct Under {
    backend: Backend,
    rt: SharedRuntime,
    env: String,
    _keep: Vec<Box<dyn Any + Send>>,
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

/// Short steps so the suite stays fast; `steps` are (weight, pause secs).
fn config(steps: &[(u8, u64)]) -> Config {
    let mut c = Config::default();
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
    c.rollout.analysis.latency_slack_ms = 200.0;
    c.rollout.max_extensions = 6;
    c.rollout.post_promotion_window_secs = 1;
    c.docker.app_service = "app".into();
    c.environments = vec![EnvironmentConfig {
        name: "staging".into(),
        replicas: 1,
        router_port: 0,
        metrics_port: 0,
        initial_version: "v1".into(),
        protected: false,
    }];
    c
}

/// Start `backend` with `cfg`; `None` (after saying why) when Docker is not here.
async fn start(backend: Backend, cfg: Config) -> Option<Under> {
    match backend {
        Backend::Sandbox => {
            let dir = tempfile::tempdir().unwrap();
            let rt = SandboxRuntime::start(SandboxOptions {
                config: Arc::new(cfg),
                config_dir: dir.path().to_path_buf(),
                service_program: PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
                state: StatePaths::at(dir.path().join("state")),
            })
            .await
            .unwrap();
            let under = Under {
                backend,
                rt,
                env: "staging".into(),
                _keep: vec![Box::new(dir)],
            };
            Some(under.ready().await)
        }
        Backend::Docker => {
            if let Some(reason) = docker_common::skip_reason().await {
                eprintln!("skipping the docker half: {reason}");
                return None;
            }
            docker_common::ensure_images();
            let p = TestProject::new("suite", &app_db_compose(false));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = cli::up(&p.project, Duration::from_secs(90), &mut out, &mut err).await;
            assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
            let rt = DockerRuntime::connect(DockerRuntimeOptions {
                config: Arc::new(cfg),
                project: p.name().into(),
                state: StatePaths::at(p.state_dir()),
                docker_host: None,
            })
            .await
            .unwrap();
            let under = Under {
                backend,
                rt,
                env: ENV_NAME.into(),
                _keep: vec![Box::new(p)],
            };
            Some(under.ready().await)
        }
    }
}

impl Under {
    fn name(&self) -> &'static str {
        match self.backend {
            Backend::Sandbox => "sandbox",
            Backend::Docker => "docker",
        }
    }

    async fn ready(self) -> Under {
        self.wait("a healthy environment serving v1", 60, |s| {
            s.health == Health::Healthy && s.traffic.stable == Some(Version::new("v1"))
        })
        .await;
        let addr = self.status().await.router_addr;
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&addr, "/hello").await.map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "[{}] router never answered",
                self.name()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self
    }

    async fn status(&self) -> EnvironmentStatus {
        self.rt
            .status()
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.name == self.env)
            .unwrap()
    }

    async fn wait(
        &self,
        what: &str,
        secs: u64,
        pred: impl Fn(&EnvironmentStatus) -> bool,
    ) -> EnvironmentStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status().await;
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] timed out waiting for {what}; last status: {s:#?}",
                self.name()
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn intent(&self, intent: Intent) -> Result<u64, RuntimeError> {
        self.rt
            .intent(&actor(), &self.env, intent)
            .await
            .map(|a| a.pipeline_id)
    }

    async fn deploy(&self, v: &str) -> u64 {
        let version = Version::new(v);
        let r = self.intent(Intent::Deploy { version }).await;
        r.unwrap_or_else(|e| panic!("[{}] deploy {v}: {e}", self.name()))
    }

    async fn pipeline(&self, id: u64, secs: u64) -> PipelineRun {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let h = self.rt.history().await.unwrap();
            let run = h.pipelines.iter().find(|p| p.id == id).cloned();
            if let Some(run) = run.filter(|r| r.finished_at.is_some()) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] pipeline #{id} did not finish: {:#?}",
                self.name(),
                h.pipelines.iter().find(|p| p.id == id)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn served(&self, n: usize) -> Vec<String> {
        let addr = self.status().await.router_addr;
        let mut out = Vec::new();
        for _ in 0..n {
            if let Some((200, v)) = get(&addr, "/hello").await {
                out.push(v.unwrap_or_default());
            }
        }
        out
    }

    async fn promote_good(&self, v: &str) {
        let id = self.deploy(v).await;
        let run = self.pipeline(id, 90).await;
        assert_eq!(
            run.status,
            StageStatus::Succeeded,
            "[{}] {run:#?}",
            self.name()
        );
        self.wait(&format!("{v} stable"), 30, |s| {
            s.traffic.stable == Some(Version::new(v))
                && s.traffic.canary.is_none()
                && s.health == Health::Healthy
        })
        .await;
    }
}

/// `GET path`: the status and the `x-served-by-version` header.
async fn get(addr: &str, path: &str) -> Option<(u16, Option<String>)> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.take(1 << 20).read_to_end(&mut buf).await.ok()?;
        Some(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let version = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("x-served-by-version")
            .then(|| v.trim().to_string())
    });
    Some((status, version))
}

/// The outcome of pipeline `id`, from the event stream.
async fn outcome_of(rx: &mut mpsc::Receiver<RuntimeEvent>, id: u64, secs: u64) -> RolloutOutcome {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::RolloutFinished {
                pipeline_id,
                outcome,
                ..
            })) if pipeline_id == id => return outcome,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no outcome for pipeline #{id}"),
        }
    }
}

#[path = "delivery_suite/analysis.rs"]
mod analysis;
#[path = "delivery_suite/rollouts.rs"]
mod rollouts;
use analysis::*;
use rollouts::*;

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sandbox {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Sandbox).await;
                }
            )*
        }
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Docker).await;
                }
            )*
        }
    };
}

on_both!(
    good_version_is_promoted,
    bad_version_is_rolled_back_naming_metric_value_and_threshold,
    pause_resume_abort_and_retry,
    undo_to_a_revision,
    blue_green_smoke_check_fails_and_traffic_stays,
    prometheus_is_the_analysis_source,
    restart_replaces_instances_keeping_capacity,
    promote_full_while_starting_applies_once_ready,
);
