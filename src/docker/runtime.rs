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
use std::sync::atomic::{AtomicU64, Ordering};
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
use crate::config::Config;
use crate::domain::analysis::Verdict;
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{
    ActiveFault, EnvironmentStatus, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use crate::domain::logs::{Level, LogLine};
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::domain::EpochMillis;
use crate::paths::StatePaths;
use crate::runtime::{
    ActionAccepted, Actor, Capabilities, DeliveryMode, History, Intent, IntentKind, Runtime,
    RuntimeError, RuntimeEvent, SourceState,
};
use crate::sandbox::journal::AuditLog;
use crate::sandbox::supervisor::{now_ms, parse_log_line};

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
    /// Refuse every destructive action (they are still audited).
    pub read_only: bool,
    /// Engine address; `None` means `$DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
}

impl DockerRuntimeOptions {
    /// Options for the project described by `blissful-infra.yaml`.
    pub fn from_config(
        config: Arc<Config>,
        config_dir: &Path,
        state: StatePaths,
        read_only: bool,
    ) -> Result<Self, DockerError> {
        let project = super::project_from_config(&config, config_dir)?.name;
        Ok(DockerRuntimeOptions {
            config,
            project,
            state,
            read_only,
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
    verdicts: VecDeque<(String, Verdict)>,
    stats: HashMap<String, MetricPoint>,
    pub(crate) faults: Vec<ActiveFault>,
    last_change: EpochMillis,
    synced: bool,
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
    pub(crate) audit: AuditLog,
    next_id: AtomicU64,
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
        self.next_id.fetch_add(1, Ordering::Relaxed)
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

    pub(crate) fn pipeline(&self, id: u64) -> Option<PipelineRun> {
        self.state().pipelines.iter().find(|p| p.id == id).cloned()
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
            (ENV_NAME.to_string(), verdict.clone()),
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

    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        versions: (Option<&Version>, Option<&Version>),
        outcome: String,
        detail: String,
    ) {
        let entry = AuditEntry {
            ts: now_ms(),
            user: actor.user.clone(),
            env: ENV_NAME.into(),
            action: action.into(),
            from_version: versions.0.map(|v| v.0.clone()),
            to_version: versions.1.map(|v| v.0.clone()),
            outcome,
            detail,
        };
        if let Err(e) = self.audit.append(entry).await {
            self.log(Level::Error, e.to_string());
        }
    }

    pub(crate) fn env_status(&self) -> EnvironmentStatus {
        let d = self.delivery.snapshot();
        let st = self.state();
        let app = &self.opts.config.docker.app_service;
        let now = now_ms();
        let mut instances: Vec<InstanceStatus> = st
            .containers
            .values()
            .map(|c| InstanceStatus {
                id: c.display.clone(),
                version: Version::new(c.version.clone()),
                pid: c.pid,
                port: c.host_port(None).unwrap_or(0),
                phase: phase_of(c, now),
                restarts: c.restart_count,
            })
            .collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        let app_containers: Vec<&ContainerView> = st
            .containers
            .values()
            .filter(|c| c.service == *app && !c.labels.contains_key(MANAGED_LABEL))
            .collect();
        let stable = d.stable.clone().or_else(|| {
            app_containers
                .iter()
                .find(|c| c.running)
                .or(app_containers.first())
                .map(|c| Version::new(c.version.clone()))
        });
        let health = match &st.source {
            Some(SourceState::Degraded(r)) => {
                Health::Degraded(format!("Docker Engine unreachable (last known state): {r}"))
            }
            None | Some(SourceState::Connecting) if !st.synced => Health::Unknown,
            _ => health_of(st.containers.values(), &st.faults),
        };
        let router_addr = match &d.router_addr {
            Some(a) => a.clone(),
            None => app_containers
                .iter()
                .find_map(|c| c.host_port(None))
                .map(|p| format!("127.0.0.1:{p}"))
                .unwrap_or_default(),
        };
        EnvironmentStatus {
            name: ENV_NAME.into(),
            traffic: TrafficSplit {
                stable,
                canary: d.canary.clone(),
                canary_weight: d.weight,
            },
            previous: d.previous.clone(),
            step: d.step,
            health,
            instances,
            replicas: app_containers.len().max(1) as u32,
            last_change: st.last_change.max(d.last_change),
            router_addr,
            metrics_addr: d.metrics_addr.clone().unwrap_or_default(),
            faults: st.faults.clone(),
        }
    }

    pub(crate) fn emit_status(&self) {
        let status = self.env_status();
        self.emit(RuntimeEvent::Environment { status });
    }

    fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

fn phase_of(c: &ContainerView, now: EpochMillis) -> InstancePhase {
    if c.restarting {
        InstancePhase::BackingOff {
            exit_code: c.exit_code.and_then(|e| i32::try_from(e).ok()),
            restart_at: now,
        }
    } else if c.running && !c.paused {
        match c.health.as_str() {
            "starting" | "unhealthy" => InstancePhase::Starting,
            _ => InstancePhase::Ready,
        }
    } else {
        InstancePhase::Stopped
    }
}

fn health_of<'a>(
    containers: impl Iterator<Item = &'a ContainerView>,
    faults: &[ActiveFault],
) -> Health {
    let mut total = 0;
    let mut ready = 0;
    let mut problems = Vec::new();
    let mut starting = Vec::new();
    for c in containers {
        total += 1;
        if c.is_ready() && !c.paused {
            ready += 1;
            continue;
        }
        if c.health == "starting" && c.running {
            starting.push(format!("{} starting", c.display));
        } else if c.restarting {
            problems.push(format!(
                "{} restarting ({} restarts)",
                c.display, c.restart_count
            ));
        } else if c.health == "unhealthy" {
            problems.push(format!("{} unhealthy", c.display));
        } else if c.paused {
            problems.push(format!("{} paused", c.display));
        } else {
            let oom = if c.oom_killed { ", OOM killed" } else { "" };
            problems.push(format!("{} {}{oom}", c.display, c.status));
        }
    }
    if total == 0 {
        return Health::Down("no containers (is the project up?)".into());
    }
    if ready == 0 && starting.is_empty() {
        return Health::Down(problems.join(", "));
    }
    if !problems.is_empty() {
        return Health::Degraded(problems.join(", "));
    }
    if !faults.is_empty() {
        let names: Vec<&str> = faults.iter().map(|f| f.scenario.as_str()).collect();
        return Health::Degraded(format!("chaos: {}", names.join(", ")));
    }
    if !starting.is_empty() {
        return Health::Progressing(starting.join(", "));
    }
    Health::Healthy
}

/// The Docker runtime. Dropping it stops its tasks; `shutdown` also undoes
/// active faults and removes the containers it created.
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

impl DockerRuntime {
    /// Start the runtime: open the audit journal, find leftover faults (kept
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
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (audit, audit_task) = AuditLog::start(opts.state.audit_journal(), events.clone());
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
            tasks: Mutex::new(vec![audit_task]),
            followers: Mutex::new(HashMap::new()),
            audit,
            next_id: AtomicU64::new(1),
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
        Ok(Arc::new(DockerRuntime { inner }))
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

#[async_trait]
impl Runtime for DockerRuntime {
    fn name(&self) -> &str {
        "docker"
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        let synced = self.inner.state().synced;
        if !synced {
            // Never connected: there is no last known state to show.
            self.inner.docker()?;
        }
        Ok(vec![self.inner.env_status()])
    }

    fn capabilities(&self) -> Capabilities {
        docker_capabilities()
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        check_env(env)?;
        match intent {
            Intent::Deploy { version } => delivery::deploy(&self.inner, actor, &version).await,
            Intent::Promote { full: true } => delivery::promote_now(&self.inner, actor).await,
            Intent::Undo { to_revision: None } => delivery::rollback(&self.inner, actor).await,
            Intent::Switch { to_canary } => {
                delivery::switch_traffic(&self.inner, actor, to_canary).await
            }
            other => {
                let reason = docker_capabilities()
                    .check(other.kind())
                    .err()
                    .unwrap_or_else(|| format!("`{}` is not supported", other.describe()));
                Err(RuntimeError::Refused(reason))
            }
        }
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        check_env(from)?;
        check_env(to)?;
        delivery::promote_now(&self.inner, actor).await
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        check_env(env)?;
        chaos::inject(&self.inner, actor, scenario, params).await
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        chaos::undo(&self.inner, actor, experiment_id).await
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        if let Some(e) = env {
            check_env(e)?;
        }
        let st = self.inner.state();
        let skip = st.logs.len().saturating_sub(limit);
        Ok(st.logs.iter().skip(skip).cloned().collect())
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        // Faults a crashed run left behind are listed as still applied.
        let leftovers: Vec<Experiment> = self
            .leftover_faults()
            .await
            .iter()
            .map(chaos::leftover_experiment)
            .collect();
        let st = self.inner.state();
        let mut experiments: Vec<Experiment> = st.experiments.iter().cloned().collect();
        experiments.extend(leftovers);
        Ok(History {
            pipelines: st.pipelines.iter().cloned().collect(),
            experiments,
            verdicts: st.verdicts.iter().cloned().collect(),
        })
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let rx = self.inner.events.subscribe();
        let (tx, out) = mpsc::channel(SUBSCRIBER_BUFFER);
        // A late subscriber first learns where the source stands.
        let _ = tx.try_send(RuntimeEvent::Source {
            name: SOURCE_NAME.into(),
            state: self.inner.source(),
        });
        let _ = tx.try_send(RuntimeEvent::Environment {
            status: self.inner.env_status(),
        });
        tokio::spawn(crate::runtime::forward_events(rx, tx));
        Ok(out)
    }

    async fn shutdown(&self) {
        let actor = Actor::current("shutdown");
        for line in chaos::undo_all(&self.inner, &actor).await {
            self.inner.log(Level::Info, line);
        }
        delivery::shutdown(&self.inner).await;
        self.inner.audit.flush().await;
        self.inner.stop.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = lock(&self.inner.tasks).drain(..).collect();
        for t in tasks {
            t.abort();
        }
        stop_followers(&self.inner);
    }
}

// ---------------------------------------------------------------------------
// The source: connection, listing, events

/// Resolves when the stop flag turns true (or its sender is gone).
/// What the Docker runtime's delivery offers today.
fn docker_capabilities() -> Capabilities {
    Capabilities::with(
        DeliveryMode::Driven,
        &[
            IntentKind::Deploy,
            IntentKind::PromoteFull,
            IntentKind::Undo,
            IntentKind::Switch,
        ],
        |k| format!("the Docker runtime's delivery has no {} yet", k.name()),
    )
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

enum Ended {
    Stopped,
    Lost(String),
}

async fn run_source(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut backoff = BACKOFF_MIN;
    loop {
        if inner.is_stopping() {
            return;
        }
        if inner.state().source.is_none() {
            inner.set_source(SourceState::Connecting);
        }
        match engine::connect_to(inner.opts.docker_host.as_deref()).await {
            Ok(docker) => {
                backoff = BACKOFF_MIN;
                let ended = run_connected(&inner, docker, &mut stop).await;
                inner.client.send_replace(None);
                pause_followers(&inner);
                match ended {
                    Ended::Stopped => return,
                    Ended::Lost(reason) => inner.set_source(SourceState::Degraded(format!(
                        "connection lost: {reason}; reconnecting"
                    ))),
                }
            }
            Err(e) => {
                inner.set_source(SourceState::Degraded(format!("{e}; retrying")));
                // Wake `connect`, which waits for the first attempt to settle.
                inner.client.send_replace(None);
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn run_connected(
    inner: &Arc<Inner>,
    docker: Docker,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut filters = engine::label_filters(&[(PROJECT_LABEL, &inner.opts.project)]);
    filters.insert("type".into(), vec!["container".into()]);
    // Subscribe before listing so nothing between the two is missed.
    let mut events = docker
        .events(Some(EventsOptions {
            // The request goes out when first polled, after the listing
            // below; `since` replays what happened in between.
            since: Some((chrono::Utc::now().timestamp() - 1).to_string()),
            filters: Some(filters),
            ..Default::default()
        }))
        .boxed();
    if let Err(e) = resync(inner, &docker).await {
        return Ended::Lost(e.to_string());
    }
    inner.set_source(SourceState::Ok);
    inner.client.send_replace(Some(docker.clone()));
    inner.emit_status();
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stopped(stop) => return Ended::Stopped,
            ev = events.next() => match ev {
                Some(Ok(msg)) => handle_event(inner, &docker, msg).await,
                Some(Err(e)) => return Ended::Lost(strip_all(&e.to_string())),
                None => return Ended::Lost("the events stream ended".into()),
            },
            _ = tick.tick() => {
                if let Err(e) = resync(inner, &docker).await {
                    return Ended::Lost(e.to_string());
                }
            }
        }
    }
}

/// List the project's containers, inspect each, start followers for the
/// running ones, forget the removed ones.
async fn resync(inner: &Arc<Inner>, docker: &Docker) -> Result<(), DockerError> {
    let list = engine::project_containers(docker, &inner.opts.project, None).await?;
    let mut views = BTreeMap::new();
    for c in &list {
        let Some(id) = c.id.as_deref() else { continue };
        match engine::inspect(docker, id).await {
            Ok(i) => {
                views.insert(id.to_string(), ContainerView::from_inspect(&i));
            }
            // Removed between list and inspect.
            Err(DockerError::Api { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let changed = {
        let mut st = inner.state();
        let changed = !st.synced || st.containers != views;
        st.containers = views.clone();
        st.stats.retain(|id, _| views.contains_key(id));
        st.synced = true;
        if changed {
            st.last_change = now_ms();
        }
        changed
    };
    {
        let mut f = lock(&inner.followers);
        f.retain(|id, fl| {
            let keep = views.contains_key(id);
            if !keep {
                if let Some(t) = fl.logs.take() {
                    t.abort();
                }
                if let Some(t) = fl.stats.take() {
                    t.abort();
                }
            }
            keep
        });
    }
    for v in views.values().filter(|v| v.running) {
        ensure_followers(inner, docker, v);
    }
    delivery::containers_changed(inner);
    if changed {
        inner.emit_status();
    }
    Ok(())
}

pub(crate) async fn refresh_container(
    inner: &Arc<Inner>,
    docker: &Docker,
    id: &str,
) -> Option<ContainerView> {
    match docker.inspect_container(id, None).await {
        Ok(i) => {
            let v = ContainerView::from_inspect(&i);
            {
                let mut st = inner.state();
                st.containers.insert(id.to_string(), v.clone());
                st.last_change = now_ms();
            }
            if v.running {
                ensure_followers(inner, docker, &v);
            }
            delivery::containers_changed(inner);
            inner.emit_status();
            Some(v)
        }
        Err(_) => {
            {
                let mut st = inner.state();
                st.containers.remove(id);
                st.stats.remove(id);
                st.last_change = now_ms();
            }
            if let Some(f) = lock(&inner.followers).remove(id) {
                if let Some(t) = f.logs {
                    t.abort();
                }
                if let Some(t) = f.stats {
                    t.abort();
                }
            }
            delivery::containers_changed(inner);
            inner.emit_status();
            None
        }
    }
}

/// One timeline entry (a finished one-stage pipeline run) for a container event.
fn timeline(inner: &Inner, title: String, stage: &str, failed: Option<String>, detail: String) {
    let now = now_ms();
    let mut run = PipelineRun::new(
        inner.next_id(),
        PipelineKind::Container,
        ENV_NAME,
        &title,
        &[stage],
        now,
    );
    let status = match failed {
        Some(r) => StageStatus::Failed(r),
        None => StageStatus::Succeeded,
    };
    run.finish_stage(0, status.clone(), detail, now);
    run.finish(status, now);
    inner.upsert_pipeline(run);
}

async fn handle_event(inner: &Arc<Inner>, docker: &Docker, msg: EventMessage) {
    let Some(action) = msg.action.clone() else {
        return;
    };
    // Healthchecks and chaos run execs every second; they change no state.
    if action.starts_with("exec_") || action.starts_with("top") || action == "attach" {
        return;
    }
    let Some(actor) = msg.actor.as_ref() else {
        return;
    };
    let Some(id) = actor.id.clone() else { return };
    let attrs = actor.attributes.clone().unwrap_or_default();
    let known = inner.state().containers.get(&id).map(|c| c.display.clone());
    let view = refresh_container(inner, docker, &id).await;
    let name = view
        .as_ref()
        .map(|v| v.display.clone())
        .or(known)
        .or_else(|| attrs.get("name").cloned())
        .unwrap_or_else(|| engine::short_id(&id).to_string());
    let name = strip_all(&name);
    let action = strip_all(&action);
    let exit = attrs.get("exitCode").map(|c| strip_all(c));
    let signal = attrs.get("signal").map(|c| strip_all(c));
    match action.as_str() {
        "start" => {
            let restarts = view.as_ref().map(|v| v.restart_count).unwrap_or(0);
            let detail = if restarts > 0 {
                format!("running again (restart #{restarts})")
            } else {
                "running".into()
            };
            inner.log(Level::Info, format!("{name} started ({detail})"));
            timeline(inner, format!("{name} started"), "start", None, detail);
        }
        "die" => {
            let code = exit.unwrap_or_else(|| "?".into());
            let oom = view.as_ref().is_some_and(|v| v.oom_killed);
            let text = if oom {
                format!("{name} died: OOM killed (exit code {code})")
            } else {
                format!("{name} died (exit code {code})")
            };
            let failed = (code != "0").then(|| text.clone());
            inner.log(
                if code == "0" {
                    Level::Info
                } else {
                    Level::Error
                },
                &text,
            );
            timeline(
                inner,
                text.clone(),
                "die",
                failed,
                format!("exit code {code}"),
            );
        }
        "oom" => {
            let text = format!("{name} ran out of memory (OOM kill)");
            inner.log(Level::Error, &text);
            timeline(
                inner,
                text.clone(),
                "oom",
                Some(text),
                "out of memory".into(),
            );
        }
        "kill" => {
            let sig = signal.unwrap_or_else(|| "?".into());
            let text = format!("{name} was sent signal {sig}");
            inner.log(Level::Warn, &text);
            timeline(inner, text, "kill", None, format!("signal {sig}"));
        }
        a if a.starts_with("health_status") => {
            let h = a
                .split_once(':')
                .map(|(_, h)| h.trim().to_string())
                .unwrap_or_default();
            let text = format!("{name} is {h}");
            let failed = (h == "unhealthy").then(|| text.clone());
            let level = if failed.is_some() {
                Level::Warn
            } else {
                Level::Info
            };
            inner.log(level, &text);
            timeline(inner, text, "health", failed, format!("health: {h}"));
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Followers: logs and stats per running container

fn ensure_followers(inner: &Arc<Inner>, docker: &Docker, v: &ContainerView) {
    let mut all = lock(&inner.followers);
    let f = all.entry(v.id.clone()).or_default();
    if f.logs.as_ref().is_none_or(|t| t.is_finished()) {
        let since = f.last_log_ns;
        f.logs = Some(tokio::spawn(follow_logs(
            inner.clone(),
            docker.clone(),
            v.clone(),
            since,
        )));
    }
    if f.stats.as_ref().is_none_or(|t| t.is_finished()) {
        f.stats = Some(tokio::spawn(follow_stats(
            inner.clone(),
            docker.clone(),
            v.id.clone(),
        )));
    }
}

/// Split `2024-05-01T12:00:00.123456789Z rest` into (ns since epoch, rest).
fn split_timestamp(line: &[u8]) -> (Option<i64>, &[u8]) {
    let Some(space) = line.iter().position(|b| *b == b' ') else {
        return (None, line);
    };
    let head = std::str::from_utf8(&line[..space]).ok();
    match head.and_then(|h| chrono::DateTime::parse_from_rfc3339(h).ok()) {
        Some(t) => (t.timestamp_nanos_opt(), &line[space + 1..]),
        None => (None, line),
    }
}

async fn follow_logs(inner: Arc<Inner>, docker: Docker, v: ContainerView, since_ns: i64) {
    let (since, tail) = if since_ns > 0 {
        ((since_ns / 1_000_000_000) as i32, "all".to_string())
    } else {
        (0, INITIAL_TAIL.to_string())
    };
    let mut stream = docker.logs(
        &v.id,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            since,
            tail,
            ..Default::default()
        }),
    );
    let env: Arc<str> = Arc::from(ENV_NAME);
    let version: Arc<str> = Arc::from(v.version.as_str());
    let instance: Arc<str> = Arc::from(v.display.as_str());
    let mut last_ns = since_ns;
    while let Some(item) = stream.next().await {
        let Ok(out) = item else { break };
        let bytes = out.into_bytes();
        for raw in bytes.split(|b| *b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let (ts_ns, body) = split_timestamp(raw);
            if let Some(ns) = ts_ns {
                // Shared with any other follower of this container (one may
                // still be draining an old connection): each line once.
                let mut all = lock(&inner.followers);
                let seen = all
                    .get(&v.id)
                    .map_or(last_ns, |f| f.last_log_ns.max(last_ns));
                if ns <= seen {
                    continue; // already seen before a reconnect
                }
                last_ns = ns;
                if let Some(f) = all.get_mut(&v.id) {
                    f.last_log_ns = ns;
                }
            }
            if body.is_empty() {
                continue;
            }
            let cut = body.len() > MAX_LINE_BYTES;
            let body = &body[..body.len().min(MAX_LINE_BYTES)];
            let now = ts_ns.map(|n| n / 1_000_000).unwrap_or_else(now_ms);
            let mut line = parse_log_line(body, &env, &version, &instance, now);
            if cut {
                line = line.with_suffix(" …[truncated]");
            }
            inner.push_log(line);
        }
    }
}

/// CPU in percent of one core and memory in MiB from one stats sample.
pub fn stats_point(s: &ContainerStatsResponse, ts: EpochMillis) -> Option<MetricPoint> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref();
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre
        .and_then(|p| p.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let system = cpu.system_cpu_usage.unwrap_or(0);
    let pre_system = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
    let online = cpu
        .online_cpus
        .map(u64::from)
        .or_else(|| {
            cpu.cpu_usage
                .as_ref()
                .and_then(|u| u.percpu_usage.as_ref())
                .map(|p| p.len() as u64)
        })
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let cpu_pct = if pre_total > 0 && system > pre_system && total >= pre_total {
        (total - pre_total) as f64 / (system - pre_system) as f64 * online as f64 * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let cache = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("total_inactive_file")
                .or_else(|| st.get("inactive_file"))
                .or_else(|| st.get("cache"))
                .copied()
        })
        .unwrap_or(0);
    let mem_mib = usage.saturating_sub(cache) as f64 / (1024.0 * 1024.0);
    Some(MetricPoint {
        ts,
        cpu_pct,
        mem_mib,
        ..Default::default()
    })
}

async fn follow_stats(inner: Arc<Inner>, docker: Docker, id: String) {
    let mut stream = docker.stats(
        &id,
        Some(StatsOptions {
            stream: true,
            one_shot: false,
        }),
    );
    while let Some(item) = stream.next().await {
        let Ok(s) = item else { break };
        let Some(point) = stats_point(&s, now_ms()) else {
            continue;
        };
        let display = {
            let mut st = inner.state();
            let Some(c) = st.containers.get(&id) else {
                return;
            };
            if !c.running {
                return;
            }
            let d = c.display.clone();
            st.stats.insert(id.clone(), point.clone());
            d
        };
        inner.emit(RuntimeEvent::Metrics {
            env: ENV_NAME.into(),
            version: display,
            point,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_off_log_lines() {
        let (ts, rest) = split_timestamp(b"2024-05-01T12:00:00.000000250Z hello world");
        assert_eq!(ts, Some(1_714_564_800_000_000_250));
        assert_eq!(rest, b"hello world");
        let (ts, rest) = split_timestamp(b"no timestamp here");
        assert_eq!(ts, None);
        assert_eq!(rest, b"no timestamp here");
    }

    #[test]
    fn cpu_and_memory_from_a_stats_sample() {
        let json = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64},
                          "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64},
                             "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 300 * 1024 * 1024, "stats": {"cache": 100 * 1024 * 1024}}
        });
        let s: ContainerStatsResponse = serde_json::from_value(json).unwrap();
        let p = stats_point(&s, 5).unwrap();
        // 1 s of CPU over 2 s of two CPUs' system time = one full core.
        assert!((p.cpu_pct - 100.0).abs() < 1e-9, "{}", p.cpu_pct);
        assert!((p.mem_mib - 200.0).abs() < 1e-9, "{}", p.mem_mib);
        assert_eq!(p.ts, 5);
    }

    fn view(display: &str, status: &str, health: &str) -> ContainerView {
        ContainerView {
            id: display.into(),
            name: display.into(),
            display: display.into(),
            service: display.into(),
            image: "i".into(),
            version: "v1".into(),
            status: status.into(),
            running: status == "running",
            restarting: status == "restarting",
            paused: false,
            health: health.into(),
            health_output: String::new(),
            restart_count: 0,
            pid: None,
            exit_code: Some(137),
            oom_killed: false,
            restart_policy: "always".into(),
            published: vec![],
            labels: BTreeMap::new(),
            networks: vec![],
        }
    }

    #[test]
    fn health_of_the_project() {
        let ok = [
            view("app-1", "running", "healthy"),
            view("db-1", "running", "none"),
        ];
        assert_eq!(health_of(ok.iter(), &[]), Health::Healthy);
        let fault = ActiveFault {
            id: "x".into(),
            scenario: "db-down".into(),
            ends_at: 0,
        };
        assert!(
            matches!(health_of(ok.iter(), &[fault]), Health::Degraded(r) if r.contains("db-down"))
        );
        let bad = [
            view("app-1", "running", "healthy"),
            view("db-1", "exited", "none"),
        ];
        assert!(
            matches!(health_of(bad.iter(), &[]), Health::Degraded(r) if r.contains("db-1 exited"))
        );
        let starting = [view("app-1", "running", "starting")];
        assert!(matches!(
            health_of(starting.iter(), &[]),
            Health::Progressing(_)
        ));
        let down = [view("app-1", "restarting", "none")];
        assert!(matches!(health_of(down.iter(), &[]), Health::Down(r) if r.contains("restarting")));
        assert!(matches!(health_of([].iter(), &[]), Health::Down(_)));
    }
}
