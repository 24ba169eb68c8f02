//! The Docker runtime against the real engine: a two-service project from
//! the locally built images, its containers in `status`, logs and stats
//! streamed with bollard, a killed container restarted by its restart policy
//! and seen in the timeline, every chaos scenario applied and removed,
//! leftovers of a dead blissful-infra listed and undone on request, and
//! `down` leaving nothing behind. Skipped with a printed reason when no
//! engine is reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blissful_infra::config::Config;
use blissful_infra::docker::chaos::{find_leftovers, JOURNAL_FILE};
use blissful_infra::docker::{cli, engine, DockerRuntime, DockerRuntimeOptions, ENV_NAME};
use blissful_infra::domain::chaos::{
    ExperimentResult, ExperimentState, FaultParams, ScenarioKind, SloMetric,
};
use blissful_infra::domain::environment::{EnvironmentStatus, Health, InstancePhase};
use blissful_infra::domain::pipeline::PipelineKind;
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError, RuntimeEvent, SourceState};
use docker_common::{app_db_compose, eventually, http_get, Relay, TestProject};

fn config() -> Config {
    let mut c = Config::default();
    c.docker.app_service = "app".into();
    c.traffic.rate_per_sec = 10.0;
    c.traffic.paths = vec!["/hello".into()];
    c.chaos.slo.max_recovery_secs = 60;
    c
}

fn actor() -> Actor {
    Actor {
        user: "tester".into(),
        via: "test".into(),
    }
}

async fn up(p: &TestProject) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await;
    assert_eq!(
        code,
        0,
        "up failed:\n{}\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
}

fn options(p: &TestProject, cfg: Config) -> DockerRuntimeOptions {
    DockerRuntimeOptions {
        config: Arc::new(cfg),
        project: p.name().to_string(),
        state: StatePaths::at(p.state_dir()),
        docker_host: None,
    }
}

async fn connect(p: &TestProject) -> Arc<DockerRuntime> {
    DockerRuntime::connect(options(p, config())).await.unwrap()
}

async fn env(rt: &DockerRuntime) -> EnvironmentStatus {
    let mut all = rt.status().await.unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// Every event the runtime sends, kept for assertions.
struct Recorder(Arc<Mutex<Vec<RuntimeEvent>>>);

impl Recorder {
    async fn start(rt: &DockerRuntime) -> Recorder {
        let mut rx = rt.subscribe().await.unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                e.lock().unwrap().push(ev);
            }
        });
        Recorder(events)
    }

    fn any(&self, f: impl Fn(&RuntimeEvent) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(f)
    }

    /// The console fed with every event so far, as text (160x45).
    fn console_screen(&self) -> String {
        use blissful_infra::app::{keymap::Keymap, msg::Msg, state::App};
        let keymap = Keymap::build(&Default::default()).unwrap();
        let mut app = App::new(Arc::new(config()), "docker", false, keymap, 0);
        for ev in self.0.lock().unwrap().iter() {
            app.update(Msg::Runtime(Box::new(ev.clone())));
        }
        let theme = blissful_infra::ui::theme::Theme::monochrome();
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 45)).unwrap();
        term.draw(|f| blissful_infra::ui::draw(f, &app, &theme))
            .unwrap();
        let buf = term.backend().buffer().clone();
        buf.content()
            .chunks(160)
            .map(|r| r.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect()
    }
}

fn instance<'a>(
    s: &'a EnvironmentStatus,
    id: &str,
) -> &'a blissful_infra::domain::environment::InstanceStatus {
    s.instances
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no instance {id} in {:?}", s.instances))
}

fn app_port(s: &EnvironmentStatus) -> u16 {
    instance(s, "app-1").port().unwrap_or(0)
}

#[path = "docker_runtime/chaos.rs"]
mod chaos;
#[path = "docker_runtime/observe.rs"]
mod observe;
