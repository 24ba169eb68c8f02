//! The engine task: owns environments, instances, pipelines, experiments and
//! the journals, and is the only writer of all of them.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::backend::{Ctl, SandboxBackend};
use super::chaos::{self as chaos_faults, SandboxFaults};
use super::metrics;
use super::state::EnvState;
use super::validate::validate_config;
use super::Command;
use crate::clock::now_ms;
use crate::config::Config;
use crate::delivery::ids::PipelineIds;
use crate::domain::chaos::Experiment;
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::logs::{Level, LogLine, LogStore};
use crate::domain::pipeline::{PipelineRun, StageStatus};
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::router::traffic::TrafficGenerator;
use crate::router::{RouterConfig, RouterHandle, WindowStats};
use crate::runtime::{History, Published, RecordedVerdict, RuntimeError, RuntimeEvent};
use crate::sandbox::dependencies::Dependencies;
use crate::sandbox::supervisor::InstanceUpdate;
use crate::sandbox::{SandboxError, SandboxOptions};

/// Log lines kept for `recent_logs`.
const LOG_RING: usize = 10_000;
const PIPELINE_RING: usize = 100;
const EXPERIMENT_RING: usize = 100;
pub(super) const VERDICT_RING: usize = 200;
/// Environment events are coalesced to at most one per env per tick.
const STATUS_TICK: Duration = Duration::from_millis(250);
/// Time allowed for instances and traffic to stop at shutdown.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Messages from the engine's own helper tasks.
pub(super) enum Internal {
    /// One second of router statistics for an environment.
    Window {
        env: Arc<str>,
        windows: BTreeMap<String, WindowStats>,
    },
    /// A request or report from an environment's delivery controller.
    Ctl { env: Arc<str>, ctl: Ctl },
}

pub(super) struct Inbox {
    pub cmd: mpsc::Receiver<Command>,
    pub updates: mpsc::Receiver<InstanceUpdate>,
    pub internal: mpsc::Receiver<Internal>,
    pub logs: mpsc::Receiver<LogLine>,
}

pub(super) struct Engine {
    pub opts: SandboxOptions,
    pub cfg: Arc<Config>,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub envs: Vec<EnvState>,
    pub logs: LogStore,
    pub pipelines: VecDeque<PipelineRun>,
    pub experiments: VecDeque<Experiment>,
    pub verdicts: VecDeque<RecordedVerdict>,
    /// Experiments and their faults, with the fault journal (the fault engine).
    pub faults: SandboxFaults,
    /// Pipeline ids, shared with the delivery backends.
    pub ids: Arc<PipelineIds>,
    pub next_token: u64,
    pub update_tx: mpsc::Sender<InstanceUpdate>,
    pub internal_tx: mpsc::Sender<Internal>,
    pub log_tx: mpsc::Sender<LogLine>,
    /// Supervisors and reapers of stopped processes, awaited at shutdown.
    pub stopping: Vec<JoinHandle<()>>,
    pub metrics_tasks: Vec<JoinHandle<()>>,
    pub traffic_stop: watch::Sender<bool>,
    pub traffic_tasks: Vec<JoinHandle<()>>,
}

/// What the runtime needs to put a delivery controller on an environment.
pub(super) struct EnvDelivery {
    pub backend: SandboxBackend,
    pub stable: Version,
}

impl Engine {
    pub(super) async fn start(
        opts: SandboxOptions,
        events: broadcast::Sender<RuntimeEvent>,
        cmd: mpsc::Receiver<Command>,
    ) -> Result<(JoinHandle<()>, Vec<EnvDelivery>), SandboxError> {
        let cfg = opts.config.clone();
        validate_config(&cfg)?;
        let leftovers = chaos_faults::reconcile_at_start(&opts.state).await?;
        let faults = chaos_faults::open_faults(&opts.state);

        let mut routers: Vec<RouterHandle> = Vec::with_capacity(cfg.environments.len());
        for ec in &cfg.environments {
            let rc = RouterConfig {
                env: ec.name.clone(),
                listen: SocketAddr::from(([127, 0, 0, 1], ec.router_port)),
                metrics_listen: SocketAddr::from(([127, 0, 0, 1], ec.metrics_port)),
            };
            match RouterHandle::start(rc).await {
                Ok(r) => routers.push(r),
                Err(source) => {
                    for r in &routers {
                        r.shutdown().await;
                    }
                    return Err(SandboxError::Router {
                        env: ec.name.clone(),
                        source,
                    });
                }
            }
        }

        let (update_tx, updates) = mpsc::channel(1024);
        let (internal_tx, internal) = mpsc::channel(1024);
        let (log_tx, logs) = mpsc::channel(4096);
        let (traffic_stop, traffic_rx) = watch::channel(false);
        let now = now_ms();
        let mut envs = Vec::with_capacity(routers.len());
        let mut pid_watches = Vec::with_capacity(routers.len());
        let mut dep_lines = Vec::new();
        for (ec, router) in cfg.environments.iter().zip(routers) {
            let deps = match Dependencies::start(&cfg.service).await {
                Ok(d) => d,
                Err(e) => {
                    router.shutdown().await;
                    return Err(SandboxError::io("cannot start a dependency fault proxy", e));
                }
            };
            for line in deps.describe() {
                dep_lines.push((ec.name.clone(), format!("dependency {line}")));
            }
            for line in &deps.skipped {
                dep_lines.push((ec.name.clone(), line.clone()));
            }
            let instance_env = deps.instance_env(&cfg.service);
            let (env, pids_rx) =
                EnvState::new(ec.clone(), router, (Arc::new(deps), instance_env), now);
            envs.push(env);
            pid_watches.push(pids_rx);
        }
        let mut engine = Engine {
            ids: Arc::new(PipelineIds::open(opts.state.dir.join("pipeline-ids"))),
            opts,
            cfg: cfg.clone(),
            events,
            envs,
            logs: LogStore::new(LOG_RING),
            pipelines: VecDeque::new(),
            experiments: VecDeque::new(),
            verdicts: VecDeque::new(),
            faults,
            next_token: 1,
            update_tx,
            internal_tx,
            log_tx,
            stopping: Vec::new(),
            metrics_tasks: Vec::new(),
            traffic_stop,
            traffic_tasks: Vec::new(),
        };
        for line in leftovers {
            engine.log(Level::Info, "sandbox", line);
        }
        for (env, line) in dep_lines {
            engine.log(Level::Info, &env, line);
        }
        for (i, pids_rx) in pid_watches.into_iter().enumerate() {
            let v = Version::new(engine.envs[i].cfg.initial_version.clone());
            engine.envs[i].stable = Some(v.clone());
            engine.start_version(i, &v);
            engine.apply_split(i);
            let env = &engine.envs[i];
            engine.metrics_tasks.push(metrics::spawn(
                env.name.clone(),
                env.router.clone(),
                pids_rx,
                engine.events.clone(),
                engine.internal_tx.clone(),
            ));
            if cfg.traffic.rate_per_sec > 0.0 {
                engine.traffic_tasks.push(TrafficGenerator::spawn(
                    env.router.addr(),
                    cfg.traffic.rate_per_sec,
                    cfg.traffic.paths.clone(),
                    traffic_rx.clone(),
                ));
            }
            let text = format!(
                "environment {} starting {v} x{} behind {}",
                env.name,
                env.cfg.replicas,
                env.router.addr()
            );
            let name = env.name.clone();
            engine.log(Level::Info, &name, text);
        }
        let deliveries = engine
            .envs
            .iter()
            .map(|e| EnvDelivery {
                backend: SandboxBackend {
                    env: e.name.clone(),
                    tx: engine.internal_tx.clone(),
                    router: e.router.clone(),
                    ids: engine.ids.clone(),
                },
                stable: Version::new(e.cfg.initial_version.clone()),
            })
            .collect();
        let inbox = Inbox {
            cmd,
            updates,
            internal,
            logs,
        };
        Ok((tokio::spawn(engine.run(inbox)), deliveries))
    }

    async fn run(mut self, mut inbox: Inbox) {
        let mut status_tick = tokio::time::interval(STATUS_TICK);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Commands first so a flood of log lines cannot starve the user.
            tokio::select! {
                biased;
                cmd = inbox.cmd.recv() => match cmd {
                    Some(Command::Shutdown(reply)) => {
                        self.shutdown(&mut inbox).await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(c) => self.handle(c).await,
                    None => {
                        self.shutdown(&mut inbox).await;
                        return;
                    }
                },
                Some(u) = inbox.updates.recv() => self.on_instance_update(u),
                Some(m) = inbox.internal.recv() => self.on_internal(m).await,
                _ = status_tick.tick() => self.flush_status(),
                _ = second.tick() => self.on_second().await,
                Some(l) = inbox.logs.recv() => self.on_log(l),
            }
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(self.statuses());
            }
            Command::Inject {
                actor,
                env,
                scenario,
                params,
                reply,
            } => {
                let r = self.inject(&actor, &env, scenario, params).await;
                let _ = reply.send(r);
            }
            Command::Undo { actor, id, reply } => {
                let r = self.undo(&actor, &id).await;
                let _ = reply.send(r);
            }
            Command::RecentLogs { env, limit, reply } => {
                let _ = reply.send(self.recent_logs(env.as_deref(), limit));
            }
            Command::Publish { item, reply } => {
                let _ = reply.send(self.publish(item));
            }
            Command::History(reply) => {
                let _ = reply.send(History {
                    pipelines: self.pipelines.iter().cloned().collect(),
                    experiments: self.experiments.iter().cloned().collect(),
                    verdicts: self.verdicts.iter().cloned().collect(),
                });
            }
            // Handled by the loop itself.
            Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
        }
    }

    // ------------------------------------------------------------------
    // Small helpers

    pub(super) fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| &*e.name == name)
    }

    pub(super) fn emit(&self, ev: RuntimeEvent) {
        // No subscriber is not an error: the ring buffers keep history.
        let _ = self.events.send(ev);
    }

    pub(super) fn touch(&mut self, i: usize) {
        if let Some(e) = self.envs.get_mut(i) {
            e.dirty = true;
            e.last_change = now_ms();
        }
    }

    pub(super) fn log(&mut self, level: Level, env: &str, text: String) {
        let line = LogLine::new(
            now_ms(),
            Arc::from(env),
            Arc::from("-"),
            Arc::from("sandbox"),
            level,
            sanitize_str(&text),
        );
        self.on_log(line);
    }

    pub(super) fn on_log(&mut self, line: LogLine) {
        self.logs.push(line.clone());
        self.emit(RuntimeEvent::Log { line });
    }

    fn recent_logs(&self, env: Option<&str>, limit: usize) -> Vec<LogLine> {
        self.logs.newest(env, limit)
    }

    pub(super) fn statuses(&self) -> Vec<EnvironmentStatus> {
        (0..self.envs.len()).map(|i| self.env_status(i)).collect()
    }

    fn env_status(&self, i: usize) -> EnvironmentStatus {
        let faults = self.active_faults(i);
        self.envs[i].status(faults)
    }

    pub(super) fn flush_status(&mut self) {
        for i in 0..self.envs.len() {
            if self.envs[i].dirty {
                self.envs[i].dirty = false;
                let status = self.env_status(i);
                self.emit(RuntimeEvent::Environment { status });
            }
        }
    }

    /// Relay a report of external work (perf, compare) to subscribers.
    fn publish(&mut self, item: Published) -> Result<u64, RuntimeError> {
        match item {
            Published::Run { mut run } => {
                if !run.kind.is_external() {
                    return Err(RuntimeError::Refused(
                        "only perf and comparison runs can be published".into(),
                    ));
                }
                if run.id == 0 {
                    run.id = self.next_pipeline_id();
                } else if !self
                    .pipelines
                    .iter()
                    .any(|r| r.id == run.id && r.kind.is_external())
                {
                    return Err(RuntimeError::NotFound(format!(
                        "published run {} (ids come from a first publish with id 0)",
                        run.id
                    )));
                }
                tidy_published_run(&mut run);
                let id = run.id;
                self.upsert_pipeline(run);
                Ok(id)
            }
            Published::Metrics { env, series, point } => {
                if self.env_index(&env).is_none() {
                    return Err(RuntimeError::UnknownEnvironment(strip_all(&env)));
                }
                let series: String = strip_all(&series)
                    .chars()
                    .take(MAX_PUBLISHED_TEXT)
                    .collect();
                self.emit(RuntimeEvent::Metrics {
                    env,
                    version: series,
                    point,
                });
                Ok(0)
            }
        }
    }

    fn next_pipeline_id(&mut self) -> u64 {
        self.ids.next()
    }

    pub(super) fn upsert_pipeline(&mut self, run: PipelineRun) {
        if let Some(slot) = self.pipelines.iter_mut().find(|r| r.id == run.id) {
            *slot = run.clone();
        } else {
            if self.pipelines.len() >= PIPELINE_RING {
                self.pipelines.pop_front();
            }
            self.pipelines.push_back(run.clone());
        }
        self.emit(RuntimeEvent::Pipeline { run });
    }

    pub(super) fn upsert_experiment(&mut self, exp: Experiment) {
        if let Some(slot) = self.experiments.iter_mut().find(|x| x.id == exp.id) {
            *slot = exp.clone();
        } else {
            if self.experiments.len() >= EXPERIMENT_RING {
                self.experiments.pop_front();
            }
            self.experiments.push_back(exp.clone());
        }
        self.emit(RuntimeEvent::Experiment { experiment: exp });
    }

    pub(super) async fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Window { env, windows } => self.on_window(&env, &windows),
            Internal::Ctl { env, ctl } => self.on_ctl(&env, ctl).await,
        }
    }

    async fn on_second(&mut self) {
        self.stopping.retain(|h| !h.is_finished());
        if let Some(problem) = self.ids.take_problem() {
            self.log(Level::Error, "sandbox", problem);
        }
        self.expire_faults().await;
    }
}

const MAX_PUBLISHED_TEXT: usize = 200;
/// Most stages kept from a published run.
const MAX_PUBLISHED_STAGES: usize = 16;

/// Published runs come over the control socket: clean and bound their text.
fn tidy_published_run(run: &mut PipelineRun) {
    let tidy = |s: &str| -> String { strip_all(s).chars().take(MAX_PUBLISHED_TEXT).collect() };
    run.env = tidy(&run.env);
    run.title = tidy(&run.title);
    run.stages.truncate(MAX_PUBLISHED_STAGES);
    for stage in &mut run.stages {
        stage.name = tidy(&stage.name);
        stage.detail = tidy(&stage.detail);
        if let StageStatus::Failed(why) = &stage.status {
            stage.status = StageStatus::Failed(tidy(why));
        }
    }
    if let StageStatus::Failed(why) = &run.status {
        run.status = StageStatus::Failed(tidy(why));
    }
}
