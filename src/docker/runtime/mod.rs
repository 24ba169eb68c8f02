//! `DockerRuntime`: the `runtime::Runtime` over a Compose project on a Docker
//! Engine, read with bollard (never the docker CLI).
//!
//! One source task keeps a connection to the engine: it lists the project's
//! containers, follows the events stream (start, die, oom, kill,
//! health_status, ...), and runs a log follower and a stats follower per
//! running container. When the engine goes away the source reports
//! `Degraded(reason)` and reconnects with backoff by itself; followers pick up
//! where they stopped (logs `since` the last line seen).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{ContainerStatsResponse, EventMessage};
use bollard::query_parameters::{EventsOptions, LogsOptions, StatsOptions};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::lifecycle::ContainerView;
use super::{chaos, delivery, engine, DockerError, ENV_NAME, MANAGED_LABEL, PROJECT_LABEL};
use crate::clock::now_ms;
use crate::config::Config;
use crate::delivery::ids::PipelineIds;
use crate::delivery::journal::RolloutJournal;
use crate::delivery::{Analyzer, DeliveryController, Settings};
use crate::domain::analysis::Verdict;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{
    ActiveFault, EnvironmentStatus, Health, InstanceDetail, InstancePhase, InstanceStatus,
    TrafficSplit, Version,
};
use crate::domain::logs::{Level, LogLine};
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::domain::EpochMillis;
use crate::logparse::parse_log_line;
use crate::paths::StatePaths;
use crate::runtime::{
    ActionAccepted, Actor, Capabilities, DeliveryMode, History, Intent, IntentKind,
    RecordedVerdict, Runtime, RuntimeError, RuntimeEvent, SourceState,
};

mod event_note;
mod follow;
mod port;
mod source;
mod status;

pub use event_note::{event_note, event_subject, EventNote};
pub(crate) use follow::body_line;
pub use follow::stats_point;
pub(crate) use source::refresh_container;
use source::run_source;

/// Events buffered for subscribers before the slowest one starts lagging.
const EVENT_CAPACITY: usize = 8192;
const SUBSCRIBER_BUFFER: usize = 1024;
/// Log lines kept for `recent_logs`; older ones are dropped and counted.
const LOG_CAPACITY: usize = 10_000;
/// Lines read from a container's history when its logs are first followed.
const INITIAL_TAIL: usize = 200;
/// Longest log line kept; the rest is cut.
const MAX_LINE_BYTES: usize = 16 * 1024;
const PIPELINE_HISTORY: usize = 200;
const EXPERIMENT_HISTORY: usize = 100;
const VERDICT_HISTORY: usize = 100;
/// Full re-list of the project's containers (events do the rest).
const RESYNC_EVERY: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long `connect` waits for the first picture of the project.
const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// Name of the source in `RuntimeEvent::Source`.
pub const SOURCE_NAME: &str = "docker";

/// Everything the Docker runtime needs.
#[derive(Clone, Debug)]
pub struct DockerRuntimeOptions {
    pub config: Arc<Config>,
    /// Compose project name (the `com.docker.compose.project` label).
    pub project: String,
    pub state: StatePaths,
    /// Engine address; `None` means `$DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
}

impl DockerRuntimeOptions {
    /// Options for the project described by `blissful-infra.yaml`.
    pub fn from_config(
        config: Arc<Config>,
        config_dir: &Path,
        state: StatePaths,
    ) -> Result<Self, DockerError> {
        let project = super::project_from_config(&config, config_dir)?.name;
        Ok(DockerRuntimeOptions {
            config,
            project,
            state,
            docker_host: None,
        })
    }
}

/// What the runtime knows; short critical sections only (no `.await` inside).
#[derive(Default)]
pub(crate) struct State {
    source: Option<SourceState>,
    pub(crate) containers: BTreeMap<String, ContainerView>,
    logs: VecDeque<LogLine>,
    logs_dropped: u64,
    pipelines: VecDeque<PipelineRun>,
    experiments: VecDeque<Experiment>,
    verdicts: VecDeque<RecordedVerdict>,
    stats: HashMap<String, MetricPoint>,
    pub(crate) faults: Vec<ActiveFault>,
    last_change: EpochMillis,
    synced: bool,
    /// When each container (by display name) last died, wall ms: a kill
    /// and a fast restart can fall between two readiness samples.
    pub(crate) last_died: BTreeMap<String, EpochMillis>,
}

#[derive(Default)]
struct Followers {
    logs: Option<JoinHandle<()>>,
    stats: Option<JoinHandle<()>>,
    /// Timestamp (ns) of the last log line seen, to resume without duplicates.
    last_log_ns: i64,
}

pub(crate) struct Inner {
    pub(crate) opts: DockerRuntimeOptions,
    events: broadcast::Sender<RuntimeEvent>,
    state: Mutex<State>,
    client: watch::Sender<Option<Docker>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    followers: Mutex<HashMap<String, Followers>>,
    ids: PipelineIds,
    pub(crate) chaos: tokio::sync::Mutex<chaos::Chaos>,
    pub(crate) delivery: delivery::Delivery,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

impl Inner {
    pub(crate) fn emit(&self, ev: RuntimeEvent) {
        // No subscriber is fine; a lagging one is told by `Lagged`.
        let _ = self.events.send(ev);
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn next_id(&self) -> u64 {
        let id = self.ids.next();
        if let Some(problem) = self.ids.take_problem() {
            self.log(Level::Error, problem);
        }
        id
    }

    pub(crate) fn push_log(&self, line: LogLine) {
        {
            let mut st = self.state();
            if st.logs.len() >= LOG_CAPACITY {
                st.logs.pop_front();
                st.logs_dropped += 1;
            }
            st.logs.push_back(line.clone());
        }
        self.emit(RuntimeEvent::Log { line });
    }

    /// A line from blissful-infra itself about the project.
    pub(crate) fn log(&self, level: Level, text: impl AsRef<str>) {
        self.push_log(LogLine::new(
            now_ms(),
            Arc::from(ENV_NAME),
            Arc::from("-"),
            Arc::from("docker"),
            level,
            sanitize_str(text.as_ref()),
        ));
    }

    fn set_source(&self, s: SourceState) {
        let changed = {
            let mut st = self.state();
            if st.source.as_ref() == Some(&s) {
                false
            } else {
                st.source = Some(s.clone());
                st.last_change = now_ms();
                true
            }
        };
        if changed {
            if let SourceState::Degraded(r) = &s {
                self.log(Level::Warn, format!("Docker Engine: {r}"));
            }
            self.emit(RuntimeEvent::Source {
                name: SOURCE_NAME.into(),
                state: s,
            });
            self.emit_status();
        }
    }

    pub(crate) fn source(&self) -> SourceState {
        self.state()
            .source
            .clone()
            .unwrap_or(SourceState::Connecting)
    }

    pub(crate) fn upsert_pipeline(&self, run: PipelineRun) {
        {
            let mut st = self.state();
            if let Some(p) = st.pipelines.iter_mut().find(|p| p.id == run.id) {
                *p = run.clone();
            } else {
                push_bounded(&mut st.pipelines, run.clone(), PIPELINE_HISTORY);
            }
        }
        self.emit(RuntimeEvent::Pipeline { run });
    }

    pub(crate) fn upsert_experiment(&self, e: Experiment) {
        {
            let mut st = self.state();
            if let Some(x) = st.experiments.iter_mut().find(|x| x.id == e.id) {
                *x = e.clone();
            } else {
                push_bounded(&mut st.experiments, e.clone(), EXPERIMENT_HISTORY);
            }
        }
        self.emit(RuntimeEvent::Experiment { experiment: e });
    }

    pub(crate) fn add_verdict(&self, step: usize, verdict: Verdict) {
        push_bounded(
            &mut self.state().verdicts,
            RecordedVerdict {
                env: ENV_NAME.to_string(),
                step,
                verdict: verdict.clone(),
            },
            VERDICT_HISTORY,
        );
        self.emit(RuntimeEvent::Verdict {
            env: ENV_NAME.into(),
            step,
            verdict,
        });
    }

    pub(crate) fn set_faults(&self, faults: Vec<ActiveFault>) {
        {
            let mut st = self.state();
            st.faults = faults;
            st.last_change = now_ms();
        }
        self.emit_status();
    }

    /// The current engine connection, or why there is none.
    pub(crate) fn docker(&self) -> Result<Docker, RuntimeError> {
        match self.client.borrow().clone() {
            Some(d) => Ok(d),
            None => Err(RuntimeError::Unavailable(match self.source() {
                SourceState::Degraded(r) => format!("Docker Engine unreachable: {r}"),
                _ => "not connected to the Docker Engine yet".into(),
            })),
        }
    }

    /// Containers of the project as last seen, by id.
    pub(crate) fn containers(&self) -> Vec<ContainerView> {
        self.state().containers.values().cloned().collect()
    }

    pub(crate) fn emit_status(&self) {
        let status = self.env_status();
        self.emit(RuntimeEvent::Environment { status });
    }

    fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// The Docker runtime. Dropping it stops its tasks; `shutdown` also undoes
/// active faults and removes the containers it created.
pub struct DockerRuntime {
    inner: Arc<Inner>,
    /// The delivery controller of the one environment.
    controller: DeliveryController,
}

impl DockerRuntime {
    /// Start the runtime: find leftover faults (kept
    /// for `leftover_faults`/`undo_leftovers`), connect to the engine and
    /// wait (bounded) for the first picture of the project. An unreachable
    /// engine is not an error: the source reports it and keeps retrying.
    pub async fn connect(opts: DockerRuntimeOptions) -> Result<Arc<DockerRuntime>, DockerError> {
        super::validate_project_name(&opts.project)?;
        std::fs::create_dir_all(&opts.state.dir).map_err(|e| {
            DockerError::io(
                format!("creating state directory {}", opts.state.dir.display()),
                e,
            )
        })?;
        // Before anything starts, so a bad setting leaves nothing behind.
        let analyzer =
            Analyzer::from_config(&opts.config).map_err(|message| DockerError::Invalid {
                what: "rollout.analysis_source".into(),
                message,
            })?;
        let opts_dir = opts.state.dir.clone();
        let project_name = opts.project.clone();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let chaos = chaos::Chaos::open(&opts)?;
        let (client, _) = watch::channel(None);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            delivery: delivery::Delivery::new(&opts),
            opts,
            events,
            state: Mutex::new(State::default()),
            client,
            stop,
            tasks: Mutex::new(Vec::new()),
            followers: Mutex::new(HashMap::new()),
            ids: PipelineIds::open(opts_dir.join(format!("pipeline-ids-docker-{}", project_name))),
            chaos: tokio::sync::Mutex::new(chaos),
        });
        let mut synced = inner.client.subscribe();
        let source = tokio::spawn(run_source(inner.clone()));
        lock(&inner.tasks).push(source);
        let ticker = tokio::spawn(chaos::run_expiry(inner.clone()));
        lock(&inner.tasks).push(ticker);
        // Wait for the first connection attempt to settle (connected and
        // listed, or failed), so `status` right after `connect` is meaningful.
        let first = async {
            loop {
                {
                    let st = inner.state();
                    if matches!(st.source, Some(SourceState::Ok | SourceState::Degraded(_))) {
                        return;
                    }
                }
                if synced.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(FIRST_SYNC_TIMEOUT, first).await;
        delivery::start(&inner).await;
        chaos::reconcile_at_start(&inner).await;
        let (stable, previous) = inner.delivery.drive();
        let state = &inner.opts.state;
        let journal = RolloutJournal::new(
            state.rollout_journal(&format!("docker-{}", inner.opts.project)),
            state.audit_journal(),
        );
        let settings = Settings {
            env: ENV_NAME.into(),
            rollout: inner.opts.config.rollout.clone(),
            smoke_paths: inner.opts.config.traffic.paths.clone(),
            analyzer,
            journal: Some(journal),
        };
        let backend = Arc::new(delivery::DockerBackend {
            inner: inner.clone(),
        });
        let controller = DeliveryController::spawn(backend, settings, stable, previous);
        Ok(Arc::new(DockerRuntime { inner, controller }))
    }

    /// The state of the engine connection.
    pub fn source_state(&self) -> SourceState {
        self.inner.source()
    }

    /// Latest CPU/memory point per container display name (`app-1`).
    pub fn container_stats(&self) -> BTreeMap<String, MetricPoint> {
        let st = self.inner.state();
        st.stats
            .iter()
            .filter_map(|(id, p)| {
                st.containers
                    .get(id)
                    .map(|c| (c.display.clone(), p.clone()))
            })
            .collect()
    }

    /// Log lines dropped from the bounded buffer so far.
    pub fn logs_dropped(&self) -> u64 {
        self.inner.state().logs_dropped
    }

    /// Faults a previous run journalled and never undid (after a crash).
    pub async fn leftover_faults(&self) -> Vec<chaos::FaultRecord> {
        self.inner.chaos.lock().await.leftovers()
    }

    /// What the start-up reconcile did with faults a dead run left applied.
    pub async fn reconciled_faults(&self) -> Vec<String> {
        self.inner.chaos.lock().await.reconciled().to_vec()
    }

    /// Undo every leftover fault with one call; returns one line per fault.
    pub async fn undo_leftovers(&self, actor: &Actor) -> Result<Vec<String>, RuntimeError> {
        chaos::undo_leftovers(&self.inner, actor).await
    }

    /// Undo every fault this runtime applied (Ctrl-C path); one line per fault.
    pub async fn undo_all(&self, actor: &Actor) -> Vec<String> {
        chaos::undo_all(&self.inner, actor).await
    }

    /// Where the host edge router in front of the app service listens.
    pub fn router_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.delivery.router_addr()
    }
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        self.inner.stop.send_replace(true);
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        stop_followers(&self.inner);
        // Tasks that hold the runtime's state must end for it to be freed.
        delivery::abort_tasks(&self.inner);
    }
}

fn stop_followers(inner: &Inner) {
    for (_, f) in lock(&inner.followers).drain() {
        if let Some(t) = f.logs {
            t.abort();
        }
        if let Some(t) = f.stats {
            t.abort();
        }
    }
}

/// Stop the followers but remember where each container's logs were, so
/// they resume without repeating lines after a reconnect.
fn pause_followers(inner: &Inner) {
    for f in lock(&inner.followers).values_mut() {
        if let Some(t) = f.logs.take() {
            t.abort();
        }
        if let Some(t) = f.stats.take() {
            t.abort();
        }
    }
}

fn check_env(env: &str) -> Result<(), RuntimeError> {
    if env == ENV_NAME {
        Ok(())
    } else {
        Err(RuntimeError::UnknownEnvironment(format!(
            "{env} (the docker runtime has one environment: {ENV_NAME})"
        )))
    }
}
