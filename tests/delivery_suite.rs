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

// ---------------------------------------------------------------------------
// The cases, each run on both backends.

async fn good_version_is_promoted(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 1), (100, 1)])).await else {
        return;
    };
    u.promote_good("v2").await;
    let s = u.status().await;
    assert_eq!(s.previous, Some(Version::new("v1")), "[{}]", u.name());
    let revs: Vec<(u32, &str)> = s
        .revisions
        .iter()
        .map(|r| (r.number, r.version.as_str()))
        .collect();
    assert_eq!(revs, vec![(1, "v1"), (2, "v2")], "[{}]", u.name());
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v2"),
        "[{}] {seen:?}",
        u.name()
    );
    u.rt.shutdown().await;
}

async fn bad_version_is_rolled_back_naming_metric_value_and_threshold(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 1), (100, 1)])).await else {
        return;
    };
    let mut rx = u.rt.subscribe().await.unwrap();
    let id = u.deploy("v4-buggy").await;
    let outcome = outcome_of(&mut rx, id, 90).await;
    let RolloutOutcome::RolledBack {
        reason, verdict, ..
    } = outcome
    else {
        panic!("[{}] v4-buggy was not rolled back: {outcome:?}", u.name());
    };
    // "failed: error rate 25.00% > 1.00%": the metric, its value, the threshold.
    assert!(
        reason.contains(Metric::ErrorRate.label()),
        "[{}] {reason}",
        u.name()
    );
    assert!(
        reason.contains('>') && reason.contains('%'),
        "[{}] {reason}",
        u.name()
    );
    let verdict = verdict.expect("the rollback carries its verdict");
    let check = verdict
        .failed_checks()
        .find(|c| c.metric == Metric::ErrorRate);
    let check = check.unwrap_or_else(|| panic!("[{}] {verdict:#?}", u.name()));
    assert!(check.value > check.threshold, "[{}] {check:?}", u.name());
    let run = u.pipeline(id, 10).await;
    assert!(
        matches!(run.status, StageStatus::Failed(_)),
        "[{}] {run:#?}",
        u.name()
    );
    let s = u
        .wait("v1 alone again", 30, |s| s.health == Health::Healthy)
        .await;
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{}]", u.name());
    assert_eq!(s.traffic.canary, None, "[{}]", u.name());
    u.rt.shutdown().await;
}

async fn pause_resume_abort_and_retry(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 2), (100, 2)])).await else {
        return;
    };
    let n = u.name();
    let first = u.deploy("v2").await;
    u.wait("the first step", 60, |s| s.step == Some((0, 2)))
        .await;
    u.intent(Intent::Pause).await.unwrap();
    let s = u
        .wait("paused", 5, |s| matches!(s.health, Health::Paused(_)))
        .await;
    assert_eq!(s.traffic.canary_weight, 50, "[{n}]");
    // Longer than the step's pause: a paused rollout does not move on.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = u.status().await;
    assert_eq!(s.step, Some((0, 2)), "[{n}] {s:#?}");
    assert!(
        matches!(s.health, Health::Paused(_)),
        "[{n}] {:?}",
        s.health
    );
    assert!(matches!(
        u.intent(Intent::Pause).await,
        Err(RuntimeError::Refused(_))
    ));
    u.intent(Intent::Resume).await.unwrap();
    u.wait("the second step", 30, |s| s.step == Some((1, 2)))
        .await;

    u.intent(Intent::Abort {
        reason: "p99 too high".into(),
    })
    .await
    .unwrap();
    let s = u
        .wait("aborted", 10, |s| matches!(s.health, Health::Aborted(_)))
        .await;
    assert_eq!(s.health, Health::Aborted("p99 too high".into()), "[{n}]");
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{n}]");
    assert_eq!(s.traffic.canary, None, "[{n}]");
    let run = u.pipeline(first, 10).await;
    assert_eq!(run.status, StageStatus::Cancelled, "[{n}] {run:#?}");
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    // Still aborted a while later: only a deploy or a retry clears it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        matches!(u.status().await.health, Health::Aborted(_)),
        "[{n}]"
    );

    let retried = u.intent(Intent::Retry).await.unwrap();
    assert_ne!(retried, first, "[{n}] a retry is a new pipeline");
    let run = u.pipeline(retried, 90).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    let s = u
        .wait("v2 stable after the retry", 30, |s| {
            s.health == Health::Healthy
        })
        .await;
    assert_eq!(s.traffic.stable, Some(Version::new("v2")), "[{n}]");
    assert!(matches!(
        u.intent(Intent::Retry).await,
        Err(RuntimeError::Refused(_))
    ));
    u.rt.shutdown().await;
}

async fn undo_to_a_revision(backend: Backend) {
    let Some(u) = start(backend, config(&[(100, 1)])).await else {
        return;
    };
    let n = u.name();
    u.promote_good("v2").await;
    u.promote_good("v3").await;
    let unknown = u
        .intent(Intent::Undo {
            to_revision: Some(42),
        })
        .await;
    assert!(
        matches!(unknown, Err(RuntimeError::NotFound(_))),
        "[{n}] {unknown:?}"
    );
    let id = u
        .intent(Intent::Undo {
            to_revision: Some(1),
        })
        .await
        .unwrap();
    let run = u.pipeline(id, 60).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    let s = u
        .wait("v1 again", 30, |s| {
            s.traffic.stable == Some(Version::new("v1")) && s.health == Health::Healthy
        })
        .await;
    assert_eq!(s.previous, Some(Version::new("v3")), "[{n}]");
    let revs: Vec<(u32, &str)> = s
        .revisions
        .iter()
        .map(|r| (r.number, r.version.as_str()))
        .collect();
    assert_eq!(
        revs,
        vec![(1, "v1"), (2, "v2"), (3, "v3"), (4, "v1")],
        "[{n}]"
    );
    assert!(
        !s.instances
            .iter()
            .any(|i| matches!(i.version.as_str(), "v2" | "v3")),
        "[{n}] retired versions still run: {s:#?}"
    );
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    u.rt.shutdown().await;
}

async fn blue_green_smoke_check_fails_and_traffic_stays(backend: Backend) {
    // A long first step holds the canary while we switch by hand.
    let Some(u) = start(backend, config(&[(10, 120), (100, 1)])).await else {
        return;
    };
    let n = u.name();
    let rollout = u.deploy("v4-buggy").await;
    u.wait("the canary step", 60, |s| s.traffic.canary_weight == 10)
        .await;
    let r = u.intent(Intent::Switch { to_canary: true }).await;
    let Err(RuntimeError::Refused(why)) = r else {
        panic!("[{n}] the switch to a failing version went ahead: {r:?}");
    };
    assert!(why.contains("smoke check"), "[{n}] {why}");
    assert!(why.contains("threshold"), "[{n}] {why}");
    let s = u.status().await;
    assert_eq!(s.traffic.canary_weight, 0, "[{n}] {s:#?}");
    assert_eq!(s.traffic.stable, Some(Version::new("v1")), "[{n}]");
    let seen = u.served(10).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    let run = u.pipeline(rollout, 10).await;
    assert_eq!(run.status, StageStatus::Cancelled, "[{n}] {run:#?}");
    let h = u.rt.history().await.unwrap();
    let smoke = h
        .pipelines
        .iter()
        .rev()
        .find(|p| p.title.starts_with("blue/green"));
    let smoke = smoke.unwrap_or_else(|| panic!("[{n}] no switch pipeline"));
    assert!(
        matches!(&smoke.stages[0].status, StageStatus::Failed(w) if w.contains("smoke check")),
        "[{n}] {smoke:#?}"
    );
    // The held canary can still be taken out.
    u.intent(Intent::Undo { to_revision: None }).await.unwrap();
    u.wait("v1 alone", 30, |s| {
        s.traffic.canary.is_none() && s.health == Health::Healthy
    })
    .await;
    u.rt.shutdown().await;
}

async fn restart_replaces_instances_keeping_capacity(backend: Backend) {
    let Some(u) = start(backend, config(&[(100, 1)])).await else {
        return;
    };
    let n = u.name();
    let v1_ids = |s: &EnvironmentStatus| -> Vec<String> {
        s.instances
            .iter()
            .filter(|i| i.version.as_str() == "v1")
            .map(|i| i.id.clone())
            .collect()
    };
    let before = v1_ids(&u.status().await);
    assert!(!before.is_empty(), "[{n}]");
    let id = u.intent(Intent::Restart).await.unwrap();
    let run = u.pipeline(id, 10).await;
    assert_eq!(run.status, StageStatus::Succeeded, "[{n}] {run:#?}");
    assert_eq!(
        run.stages.len(),
        before.len(),
        "[{n}] one stage per instance"
    );
    let s = u
        .wait("the replacements ready", 30, |s| {
            s.health == Health::Healthy
        })
        .await;
    let after = v1_ids(&s);
    assert_eq!(after.len(), before.len(), "[{n}] capacity kept: {s:#?}");
    assert!(
        after.iter().all(|a| !before.contains(a)),
        "[{n}] {before:?} -> {after:?}"
    );
    let seen = u.served(5).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|v| v == "v1"),
        "[{n}] {seen:?}"
    );
    u.rt.shutdown().await;
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Prometheus child scraping `target` every second, killed on drop.
struct Prometheus {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

async fn start_prometheus(port: u16, target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: router\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("the `prometheus` binary (apt-get install -y prometheus)");
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let http = reqwest::Client::new();
    // Generous: on a busy 2-core machine its storage takes a while to open.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        let ready = http
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "prometheus exited ({status}) before it was ready:\n{}",
                log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready after 60 s:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Prometheus {
        _child: child,
        _dir: dir,
    }
}

async fn prometheus_is_the_analysis_source(backend: Backend) {
    let prom_port = free_port();
    let mut cfg = config(&[(50, 4), (100, 1)]);
    cfg.rollout.analysis_source = AnalysisSource::Prometheus;
    cfg.prometheus = PrometheusConfig {
        url: format!("http://127.0.0.1:{prom_port}"),
        timeout_ms: 2000,
        ..Default::default()
    };
    let Some(u) = start(backend, cfg).await else {
        return;
    };
    let n = u.name();
    let metrics = u.status().await.metrics_addr;
    let _prom = start_prometheus(prom_port, &metrics).await;
    // Let Prometheus see the stable version's traffic for a few scrapes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut rx = u.rt.subscribe().await.unwrap();
    let id = u.deploy("v4-buggy").await;
    let outcome = outcome_of(&mut rx, id, 120).await;
    let RolloutOutcome::RolledBack {
        verdict, reason, ..
    } = outcome
    else {
        panic!("[{n}] v4-buggy was not rolled back: {outcome:?}");
    };
    let verdict = verdict.expect("the rollback carries its verdict");
    assert_eq!(
        verdict.source.as_deref(),
        Some("prometheus"),
        "[{n}] {reason}: {verdict:#?}"
    );
    assert!(
        verdict
            .failed_checks()
            .any(|c| c.metric == Metric::ErrorRate),
        "[{n}] {verdict:#?}"
    );
    u.rt.shutdown().await;
}

/// `promote --full` right after a deploy, before the canary's instances are
/// ready, is accepted and applied once they are (as Argo Rollouts does):
/// the steps are skipped, naming who skipped them.
async fn promote_full_while_starting_applies_once_ready(backend: Backend) {
    let Some(u) = start(backend, config(&[(50, 120), (100, 120)])).await else {
        return;
    };
    let id = u.deploy("v2").await;
    let promoted = u.intent(Intent::Promote { full: true }).await;
    let promoted = promoted.unwrap_or_else(|e| panic!("[{}] promote --full: {e}", u.name()));
    assert_eq!(promoted, id, "[{}]", u.name());
    // Without the promotion the two steps would hold for four minutes.
    let s = u
        .wait("v2 stable", 45, |s| {
            s.traffic.stable == Some(Version::new("v2")) && s.traffic.canary.is_none()
        })
        .await;
    assert_eq!(s.health, Health::Healthy, "[{}]", u.name());
    let run = u.pipeline(id, 10).await;
    assert_eq!(
        run.status,
        StageStatus::Succeeded,
        "[{}] {run:#?}",
        u.name()
    );
    assert!(
        run.stages
            .iter()
            .any(|st| st.status == StageStatus::Skipped && st.detail.contains("promoted by")),
        "[{}] {run:#?}",
        u.name()
    );
    u.rt.shutdown().await;
}

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
