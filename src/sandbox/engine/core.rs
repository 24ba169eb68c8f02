//! The engine task: owns environments, instances, pipelines, experiments and
//! the journals, and is the only writer of all of them.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::chaos::LiveFault;
use super::controller::{self, Conclusion, OpCtx};
use super::metrics;
use super::state::{EnvState, Instance, Op, OpKind};
use super::Command;
use crate::config::Config;
use crate::domain::analysis::Verdict;
use crate::domain::audit::AuditEntry;
use crate::domain::chaos::Experiment;
use crate::domain::environment::{EnvironmentStatus, InstancePhase, InstanceStatus, Version};
use crate::domain::logs::{Level, LogLine, LogStore};
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::runtime::{
    ActionAccepted, Actor, History, Published, RolloutOutcome, RuntimeError, RuntimeEvent,
};
use crate::sandbox::journal::{
    reconcile_leftover_faults, write_fault_journal, AuditLog, FaultJournal, ProcessRef,
};
use crate::sandbox::router::{RouterConfig, RouterHandle, WindowStats};
use crate::sandbox::supervisor::{now_ms, spawn_instance, InstanceSpec, InstanceUpdate, Launch};
use crate::sandbox::traffic::TrafficGenerator;
use crate::sandbox::{SandboxError, SandboxOptions};

/// Log lines kept for `recent_logs`.
const LOG_RING: usize = 10_000;
const PIPELINE_RING: usize = 100;
const EXPERIMENT_RING: usize = 100;
const VERDICT_RING: usize = 200;
/// Environment events are coalesced to at most one per env per tick.
const STATUS_TICK: Duration = Duration::from_millis(250);
/// Time allowed for instances and traffic to stop at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
const MAX_REPLICAS: u32 = 16;

/// Messages from the engine's own helper tasks.
pub(super) enum Internal {
    /// One second of router statistics for an environment.
    Window {
        env: Arc<str>,
        windows: BTreeMap<String, WindowStats>,
    },
    Ctl(Ctl),
}

/// Requests from rollout/rollback tasks. Each names its operation; the engine
/// ignores requests from an operation that is no longer current (aborted).
pub(super) enum Ctl {
    EnsureVersion {
        env: Arc<str>,
        op_id: u64,
        version: Version,
        reply: oneshot::Sender<bool>,
    },
    ReadyCount {
        env: Arc<str>,
        version: Version,
        reply: oneshot::Sender<(u32, u32)>,
    },
    SetWeight {
        env: Arc<str>,
        op_id: u64,
        weight: u8,
        step: Option<(usize, usize)>,
        reply: oneshot::Sender<bool>,
    },
    Pipeline {
        env: Arc<str>,
        run: PipelineRun,
    },
    Verdict {
        env: Arc<str>,
        op_id: u64,
        step: usize,
        /// Boxed: a verdict is large, the other messages are small.
        verdict: Box<Verdict>,
    },
    Conclude {
        env: Arc<str>,
        op_id: u64,
        conclusion: Conclusion,
    },
}

pub(super) struct Inbox {
    cmd: mpsc::Receiver<Command>,
    updates: mpsc::Receiver<InstanceUpdate>,
    internal: mpsc::Receiver<Internal>,
    logs: mpsc::Receiver<LogLine>,
}

pub(super) struct Engine {
    pub opts: SandboxOptions,
    pub cfg: Arc<Config>,
    /// Set when `rollout.analysis_source` is `prometheus`.
    pub prometheus_analysis: Option<controller::PrometheusAnalysis>,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub envs: Vec<EnvState>,
    pub logs: LogStore,
    pub pipelines: VecDeque<PipelineRun>,
    pub experiments: VecDeque<Experiment>,
    pub verdicts: VecDeque<(String, Verdict)>,
    /// Experiments still running or recovering, by id.
    pub live: BTreeMap<String, LiveFault>,
    /// In-memory copy of the fault journal; written through on every change.
    pub journal: FaultJournal,
    pub audit: AuditLog,
    pub audit_task: Option<JoinHandle<()>>,
    pub me: ProcessRef,
    pub next_pipeline: u64,
    pub next_token: u64,
    pub next_experiment: u64,
    pub update_tx: mpsc::Sender<InstanceUpdate>,
    pub internal_tx: mpsc::Sender<Internal>,
    pub log_tx: mpsc::Sender<LogLine>,
    /// Supervisors and reapers of stopped processes, awaited at shutdown.
    pub stopping: Vec<JoinHandle<()>>,
    pub metrics_tasks: Vec<JoinHandle<()>>,
    pub traffic_stop: watch::Sender<bool>,
    pub traffic_tasks: Vec<JoinHandle<()>>,
}

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Versions become instance ids, log labels and arguments: keep them tame.
pub(super) fn validate_version(v: &Version) -> Result<(), RuntimeError> {
    if valid_name(v.as_str(), 64) {
        Ok(())
    } else {
        Err(RuntimeError::Refused(format!(
            "`{}` is not a valid version (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
            sanitize_str(v.as_str())
        )))
    }
}

fn validate_config(cfg: &Config) -> Result<(), SandboxError> {
    let bad = |m: String| Err(SandboxError::Config(m));
    if cfg.environments.is_empty() {
        return bad("no environments are configured".into());
    }
    for (i, e) in cfg.environments.iter().enumerate() {
        if !valid_name(&e.name, 32) {
            return bad(format!(
                "environment name `{}` must be 1-32 of A-Z a-z 0-9 . _ -",
                e.name
            ));
        }
        if cfg.environments[..i].iter().any(|o| o.name == e.name) {
            return bad(format!("environment `{}` is configured twice", e.name));
        }
        if !(1..=MAX_REPLICAS).contains(&e.replicas) {
            return bad(format!(
                "environment `{}`: replicas must be 1..={MAX_REPLICAS}",
                e.name
            ));
        }
        if validate_version(&Version::new(e.initial_version.clone())).is_err() {
            return bad(format!(
                "environment `{}`: invalid initial_version `{}`",
                e.name, e.initial_version
            ));
        }
    }
    cfg.rollout
        .steps
        .validate()
        .map_err(|e| SandboxError::Config(format!("rollout.steps: {e}")))?;
    let rate = cfg.traffic.rate_per_sec;
    if !rate.is_finite() || !(0.0..=10_000.0).contains(&rate) {
        return bad(format!(
            "traffic.rate_per_sec {rate} must be within 0..=10000"
        ));
    }
    let rp = &cfg.service.ready_path;
    if !rp.starts_with('/') || rp.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad(format!(
            "service.ready_path `{rp}` must start with / and contain no spaces"
        ));
    }
    Ok(())
}

fn outcome_of<T>(r: &Result<T, RuntimeError>) -> String {
    match r {
        Ok(_) => "accepted".to_string(),
        Err(e) => format!("refused: {e}"),
    }
}

impl Engine {
    pub(super) async fn start(
        opts: SandboxOptions,
        events: broadcast::Sender<RuntimeEvent>,
        cmd: mpsc::Receiver<Command>,
    ) -> Result<JoinHandle<()>, SandboxError> {
        let cfg = opts.config.clone();
        validate_config(&cfg)?;
        // Before anything starts, so a bad setting leaves nothing behind.
        let prometheus_analysis = match cfg.rollout.analysis_source {
            crate::config::AnalysisSource::Router => None,
            crate::config::AnalysisSource::Prometheus => {
                let client = crate::sources::prometheus::PrometheusClient::new(&cfg.prometheus)
                    .map_err(|e| SandboxError::Config(format!("prometheus: {e}")))?;
                Some(controller::PrometheusAnalysis {
                    client,
                    queries: cfg.prometheus.queries.clone(),
                })
            }
        };
        let state = opts.state.clone();
        let leftovers = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&state.dir).map_err(|e| {
                SandboxError::io(
                    format!("cannot create state directory {}", state.dir.display()),
                    e,
                )
            })?;
            reconcile_leftover_faults(&state)
        })
        .await
        .map_err(|e| {
            SandboxError::io("leftover fault check", std::io::Error::other(e.to_string()))
        })??;

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

        let (audit, audit_task) = AuditLog::start(opts.state.audit_journal(), events.clone());
        let (update_tx, updates) = mpsc::channel(1024);
        let (internal_tx, internal) = mpsc::channel(1024);
        let (log_tx, logs) = mpsc::channel(4096);
        let (traffic_stop, traffic_rx) = watch::channel(false);
        let now = now_ms();
        let mut envs = Vec::with_capacity(routers.len());
        let mut pid_watches = Vec::with_capacity(routers.len());
        for (ec, router) in cfg.environments.iter().zip(routers) {
            let (env, pids_rx) = EnvState::new(ec.clone(), router, now);
            envs.push(env);
            pid_watches.push(pids_rx);
        }
        let mut engine = Engine {
            opts,
            cfg: cfg.clone(),
            prometheus_analysis,
            events,
            envs,
            logs: LogStore::new(LOG_RING),
            pipelines: VecDeque::new(),
            experiments: VecDeque::new(),
            verdicts: VecDeque::new(),
            live: BTreeMap::new(),
            journal: FaultJournal::default(),
            audit,
            audit_task: Some(audit_task),
            me: ProcessRef::current(),
            next_pipeline: 1,
            next_token: 1,
            next_experiment: 1,
            update_tx,
            internal_tx,
            log_tx,
            stopping: Vec::new(),
            metrics_tasks: Vec::new(),
            traffic_stop,
            traffic_tasks: Vec::new(),
        };
        for l in &leftovers {
            engine.log(Level::Info, "sandbox", l.describe());
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
        let inbox = Inbox {
            cmd,
            updates,
            internal,
            logs,
        };
        Ok(tokio::spawn(engine.run(inbox)))
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
            Command::Deploy {
                actor,
                env,
                version,
                reply,
            } => {
                let r = self.deploy(&actor, &env, version).await;
                let _ = reply.send(r);
            }
            Command::Promote {
                actor,
                from,
                to,
                reply,
            } => {
                let r = self.promote(&actor, &from, &to).await;
                let _ = reply.send(r);
            }
            Command::Rollback { actor, env, reply } => {
                let r = self.rollback(&actor, &env).await;
                let _ = reply.send(r);
            }
            Command::SwitchTraffic {
                actor,
                env,
                to_canary,
                reply,
            } => {
                let r = self.switch_traffic(&actor, &env, to_canary).await;
                let _ = reply.send(r);
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

    fn on_log(&mut self, line: LogLine) {
        self.logs.push(line.clone());
        self.emit(RuntimeEvent::Log { line });
    }

    fn recent_logs(&self, env: Option<&str>, limit: usize) -> Vec<LogLine> {
        let mut out: Vec<LogLine> = self
            .logs
            .iter()
            .rev()
            .filter(|l| env.is_none_or(|e| &*l.env == e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    pub(super) fn statuses(&self) -> Vec<EnvironmentStatus> {
        (0..self.envs.len()).map(|i| self.env_status(i)).collect()
    }

    fn env_status(&self, i: usize) -> EnvironmentStatus {
        let faults = self.active_faults(i);
        self.envs[i].status(faults)
    }

    fn flush_status(&mut self) {
        for i in 0..self.envs.len() {
            if self.envs[i].dirty {
                self.envs[i].dirty = false;
                let status = self.env_status(i);
                self.emit(RuntimeEvent::Environment { status });
            }
        }
    }

    pub(super) async fn write_audit(
        &mut self,
        user: &str,
        env: &str,
        action: &str,
        versions: (Option<&Version>, Option<&Version>),
        outcome: String,
        detail: String,
    ) {
        let entry = AuditEntry {
            ts: now_ms(),
            user: user.to_string(),
            env: env.to_string(),
            action: action.to_string(),
            from_version: versions.0.map(|v| v.0.clone()),
            to_version: versions.1.map(|v| v.0.clone()),
            outcome,
            detail,
        };
        if let Err(e) = self.audit.append(entry).await {
            self.log(Level::Error, "sandbox", e.to_string());
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
        let id = self.next_pipeline;
        self.next_pipeline += 1;
        id
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

    fn pipeline(&self, id: u64) -> Option<PipelineRun> {
        self.pipelines.iter().find(|r| r.id == id).cloned()
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

    fn launch_for(&self, v: &Version) -> Launch {
        let svc = &self.cfg.service;
        if svc.command.trim().is_empty() {
            Launch::Sample {
                program: self.opts.service_program.clone(),
                behaviour: svc.versions.get(v.as_str()).cloned().unwrap_or_default(),
            }
        } else {
            let workdir = svc
                .versions
                .get(v.as_str())
                .map(|b| b.workdir.as_str())
                .filter(|w| !w.is_empty())
                .unwrap_or(&svc.workdir);
            Launch::Shell {
                command: svc.command.clone(),
                cwd: self.opts.config_dir.join(workdir),
            }
        }
    }

    // ------------------------------------------------------------------
    // Instances and routing

    /// Start `replicas` instances of `v` unless it already runs.
    pub(super) fn start_version(&mut self, i: usize, v: &Version) {
        if self.envs[i].has_version(v) {
            return;
        }
        let launch = self.launch_for(v);
        let replicas = self.envs[i].cfg.replicas;
        let version: Arc<str> = Arc::from(v.as_str());
        for n in 1..=replicas {
            let token = self.next_token;
            self.next_token += 1;
            let env = &mut self.envs[i];
            let id = format!("{}-{v}-{n}", env.name);
            let spec = InstanceSpec {
                env: env.name.clone(),
                version: version.clone(),
                id: Arc::from(id.as_str()),
                token,
                launch: launch.clone(),
                ready_path: self.cfg.service.ready_path.clone(),
            };
            let handle = spawn_instance(spec, self.update_tx.clone(), self.log_tx.clone());
            env.instances.insert(
                token,
                Instance {
                    status: InstanceStatus {
                        id,
                        version: v.clone(),
                        pid: None,
                        port: 0,
                        phase: InstancePhase::Starting,
                        restarts: 0,
                    },
                    handle,
                },
            );
        }
        self.touch(i);
    }

    /// Stop every instance of `v` and take it out of the router.
    pub(super) fn stop_version(&mut self, i: usize, v: &Version) {
        let env = &mut self.envs[i];
        let tokens: Vec<u64> = env
            .instances
            .iter()
            .filter(|(_, inst)| &inst.status.version == v)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            if let Some(inst) = env.instances.remove(&t) {
                self.stopping.push(inst.handle.stop());
            }
        }
        env.router.remove_version(v.as_str());
        self.refresh_pids(i);
        self.touch(i);
    }

    pub(super) fn push_backends(&self, i: usize, v: &Version) {
        let env = &self.envs[i];
        env.router.set_backends(v.as_str(), env.ready_addrs(v));
    }

    pub(super) fn apply_split(&mut self, i: usize) {
        let env = &self.envs[i];
        env.router.set_split(
            env.stable.as_ref().map(Version::as_str),
            env.canary.as_ref().map(Version::as_str),
            env.weight,
        );
        self.touch(i);
    }

    pub(super) fn refresh_pids(&self, i: usize) {
        let env = &self.envs[i];
        let mut map = env.instance_pids();
        // Stress workers burn CPU "next to" the service: count them under stable.
        let stress: Vec<u32> = self.stress_pids(i);
        if !stress.is_empty() {
            let key = env
                .stable
                .as_ref()
                .map(|v| v.0.clone())
                .unwrap_or_else(|| "chaos".to_string());
            map.entry(key).or_default().extend(stress);
        }
        env.pids.send_replace(map);
    }

    fn on_instance_update(&mut self, u: InstanceUpdate) {
        let Some(i) = self.env_index(&u.env) else {
            return;
        };
        let Some(inst) = self.envs[i].instances.get_mut(&u.token) else {
            // An instance we already stopped; its last words do not matter.
            return;
        };
        let was_ready = inst.status.phase == InstancePhase::Ready;
        let old_port = inst.status.port;
        inst.status.pid = u.pid;
        inst.status.port = u.port;
        inst.status.phase = u.phase;
        inst.status.restarts = u.restarts;
        let is_ready = inst.status.phase == InstancePhase::Ready;
        let version = inst.status.version.clone();
        if was_ready != is_ready || (is_ready && old_port != u.port) {
            self.push_backends(i, &version);
        }
        self.refresh_pids(i);
        self.touch(i);
    }

    async fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Window { env, windows } => self.on_window(&env, &windows),
            Internal::Ctl(c) => self.on_ctl(c).await,
        }
    }

    async fn on_second(&mut self) {
        self.stopping.retain(|h| !h.is_finished());
        self.expire_faults().await;
    }

    fn op_is(&self, env: &str, op_id: u64) -> Option<usize> {
        let i = self.env_index(env)?;
        (self.envs[i].op.as_ref().map(|o| o.id) == Some(op_id)).then_some(i)
    }

    async fn on_ctl(&mut self, c: Ctl) {
        match c {
            Ctl::EnsureVersion {
                env,
                op_id,
                version,
                reply,
            } => {
                let ok = match self.op_is(&env, op_id) {
                    Some(i) => {
                        self.start_version(i, &version);
                        true
                    }
                    None => false,
                };
                let _ = reply.send(ok);
            }
            Ctl::ReadyCount {
                env,
                version,
                reply,
            } => {
                let counts = self
                    .env_index(&env)
                    .map(|i| {
                        (
                            self.envs[i].ready_count(&version),
                            self.envs[i].cfg.replicas,
                        )
                    })
                    .unwrap_or((0, 0));
                let _ = reply.send(counts);
            }
            Ctl::SetWeight {
                env,
                op_id,
                weight,
                step,
                reply,
            } => {
                let ok = match self.op_is(&env, op_id) {
                    Some(i) => {
                        self.envs[i].weight = weight;
                        self.envs[i].step = step;
                        self.apply_split(i);
                        true
                    }
                    None => false,
                };
                let _ = reply.send(ok);
            }
            Ctl::Pipeline { env, run } => {
                if self.op_is(&env, run.id).is_some() {
                    self.upsert_pipeline(run);
                }
            }
            Ctl::Verdict {
                env,
                op_id,
                step,
                verdict,
            } => {
                if self.op_is(&env, op_id).is_some() {
                    if self.verdicts.len() >= VERDICT_RING {
                        self.verdicts.pop_front();
                    }
                    let verdict = *verdict;
                    self.verdicts.push_back((env.to_string(), verdict.clone()));
                    let text = format!("canary analysis step {}: {}", step + 1, verdict.summary());
                    self.log(Level::Info, &env, text);
                    self.emit(RuntimeEvent::Verdict {
                        env: env.to_string(),
                        step,
                        verdict,
                    });
                }
            }
            Ctl::Conclude {
                env,
                op_id,
                conclusion,
            } => {
                if let Some(i) = self.op_is(&env, op_id) {
                    self.conclude(i, conclusion).await;
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Delivery: deploy, promote, rollback, switch traffic

    async fn deploy(
        &mut self,
        actor: &Actor,
        env: &str,
        version: Version,
    ) -> Result<ActionAccepted, RuntimeError> {
        let from = self
            .env_index(env)
            .and_then(|i| self.envs[i].stable.clone());
        let r = self.try_deploy(actor, env, &version, None);
        let detail = format!("via {}", actor.via);
        self.write_audit(
            &actor.user,
            env,
            "deploy",
            (from.as_ref(), Some(&version)),
            outcome_of(&r),
            detail,
        )
        .await;
        r
    }

    async fn promote(
        &mut self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        let source = self
            .env_index(from)
            .and_then(|i| self.envs[i].stable.clone());
        let current = self.env_index(to).and_then(|i| self.envs[i].stable.clone());
        let r = match (self.opts.read_only, self.env_index(from), &source) {
            (true, _, _) => Err(RuntimeError::ReadOnly("promote".into())),
            (false, None, _) => Err(RuntimeError::UnknownEnvironment(from.to_string())),
            (false, Some(_), None) => Err(RuntimeError::Refused(format!(
                "{from} has no stable version to promote"
            ))),
            (false, Some(_), Some(_)) if from == to => Err(RuntimeError::Refused(
                "cannot promote an environment to itself".into(),
            )),
            (false, Some(_), Some(v)) => self.try_deploy(actor, to, v, Some(from)),
        };
        let detail = format!("from {from} via {}", actor.via);
        self.write_audit(
            &actor.user,
            to,
            "promote",
            (current.as_ref(), source.as_ref()),
            outcome_of(&r),
            detail,
        )
        .await;
        r
    }

    fn try_deploy(
        &mut self,
        actor: &Actor,
        env: &str,
        version: &Version,
        promoted_from: Option<&str>,
    ) -> Result<ActionAccepted, RuntimeError> {
        if self.opts.read_only {
            return Err(RuntimeError::ReadOnly(
                if promoted_from.is_some() {
                    "promote"
                } else {
                    "deploy"
                }
                .into(),
            ));
        }
        let i = self
            .env_index(env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))?;
        validate_version(version)?;
        let e = &self.envs[i];
        crate::domain::rollout::check_deploy(
            env,
            e.op.as_ref().map(|op| op.id),
            e.stable.as_ref(),
            e.canary.as_ref(),
            version,
        )
        .map_err(RuntimeError::Refused)?;
        let stable = e.stable.clone();
        let replicas = e.cfg.replicas;
        let router = e.router.clone();
        let name = e.name.clone();
        let id = self.next_pipeline_id();
        let stages = crate::domain::rollout::rollout_stages(
            &self.cfg.rollout.steps,
            version,
            stable.is_some(),
        );
        let stage_refs: Vec<&str> = stages.iter().map(String::as_str).collect();
        let (kind, title) = match promoted_from {
            Some(from) => (
                PipelineKind::Promotion,
                format!("promote {version} from {from} to {env}"),
            ),
            None => (PipelineKind::Rollout, format!("deploy {version} to {env}")),
        };
        let run = PipelineRun::new(id, kind, env, &title, &stage_refs, now_ms());
        self.upsert_pipeline(run.clone());
        let ctx = OpCtx {
            env: name,
            op_id: id,
            tx: self.internal_tx.clone(),
            router,
            replicas,
            prometheus: self.prometheus_analysis.clone(),
        };
        let task = tokio::spawn(controller::run_rollout(
            ctx,
            run,
            stable.clone(),
            version.clone(),
            self.cfg.rollout.clone(),
        ));
        let e = &mut self.envs[i];
        e.op = Some(Op {
            id,
            kind: OpKind::Rollout {
                canary: version.clone(),
            },
            task,
            user: actor.user.clone(),
        });
        if e.canary.as_ref() != Some(version) {
            e.canary = Some(version.clone());
            e.weight = 0;
        }
        e.step = None;
        self.apply_split(i);
        let text = format!("{title} (pipeline #{id}) requested by {}", actor.user);
        self.log(Level::Info, env, text.clone());
        Ok(ActionAccepted {
            pipeline_id: id,
            env: env.to_string(),
            from_version: stable,
            to_version: Some(version.clone()),
            message: text,
        })
    }

    async fn rollback(&mut self, actor: &Actor, env: &str) -> Result<ActionAccepted, RuntimeError> {
        let r = self.try_rollback(actor, env);
        let (from, to) = match &r {
            Ok(a) => (a.from_version.clone(), a.to_version.clone()),
            Err(_) => (
                self.env_index(env)
                    .and_then(|i| self.envs[i].stable.clone()),
                None,
            ),
        };
        let detail = format!("via {}", actor.via);
        self.write_audit(
            &actor.user,
            env,
            "rollback",
            (from.as_ref(), to.as_ref()),
            outcome_of(&r),
            detail,
        )
        .await;
        r
    }

    /// Record a short operation that finished at once as a pipeline run.
    fn instant_pipeline(
        &mut self,
        kind: PipelineKind,
        env: &str,
        title: &str,
        stages: &[(&str, String)],
    ) -> u64 {
        let id = self.next_pipeline_id();
        let now = now_ms();
        let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
        let mut run = PipelineRun::new(id, kind, env, title, &names, now);
        for (n, (_, detail)) in stages.iter().enumerate() {
            run.finish_stage(n, StageStatus::Succeeded, detail.clone(), now);
        }
        run.finish(StageStatus::Succeeded, now);
        self.upsert_pipeline(run);
        id
    }

    fn try_rollback(&mut self, actor: &Actor, env: &str) -> Result<ActionAccepted, RuntimeError> {
        if self.opts.read_only {
            return Err(RuntimeError::ReadOnly("rollback".into()));
        }
        let i = self
            .env_index(env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))?;
        let stable = self.envs[i].stable.clone();
        // A canary in flight (or held): rolling back means removing it.
        let in_flight = match &self.envs[i].op {
            Some(Op {
                kind: OpKind::Rollback { target },
                id,
                ..
            }) => {
                return Err(RuntimeError::Refused(format!(
                    "pipeline #{id} is already rolling {env} back to {target}"
                )))
            }
            Some(Op {
                kind: OpKind::Rollout { canary },
                ..
            }) => Some(canary.clone()),
            None => self.envs[i].canary.clone(),
        };
        if let Some(canary) = in_flight {
            let reason = format!("rollback requested by {}", actor.user);
            let aborted = self.abort_op(i, &reason, false);
            if aborted.is_none() {
                self.remove_canary(i);
            }
            let target = stable
                .clone()
                .map(|v| v.0)
                .unwrap_or_else(|| "nothing".into());
            let what = match aborted {
                Some(id) => format!("pipeline #{id} cancelled, {canary} stopped"),
                None => format!("{canary} stopped"),
            };
            let id = self.instant_pipeline(
                PipelineKind::Rollback,
                env,
                &format!("roll back canary {canary} in {env}"),
                &[
                    ("remove canary", what.clone()),
                    ("route all traffic to stable", format!("100% to {target}")),
                ],
            );
            let text = format!("rolled back canary {canary} in {env}: {what}");
            self.log(Level::Warn, env, text.clone());
            return Ok(ActionAccepted {
                pipeline_id: id,
                env: env.to_string(),
                from_version: Some(canary),
                to_version: stable,
                message: text,
            });
        }
        let (current, target) = crate::domain::rollout::rollback_target(
            env,
            stable.as_ref(),
            self.envs[i].previous.as_ref(),
        )
        .map_err(RuntimeError::Refused)?;
        let id = self.next_pipeline_id();
        let stages = crate::domain::rollout::rollback_stages(&current, &target);
        let stage_refs: Vec<&str> = stages.iter().map(String::as_str).collect();
        let title = format!("roll back {env} from {current} to {target}");
        let run = PipelineRun::new(
            id,
            PipelineKind::Rollback,
            env,
            &title,
            &stage_refs,
            now_ms(),
        );
        self.upsert_pipeline(run.clone());
        let e = &self.envs[i];
        let ctx = OpCtx {
            env: e.name.clone(),
            op_id: id,
            tx: self.internal_tx.clone(),
            router: e.router.clone(),
            replicas: e.cfg.replicas,
            prometheus: None,
        };
        let task = tokio::spawn(controller::run_rollback(ctx, run, target.clone()));
        self.envs[i].op = Some(Op {
            id,
            kind: OpKind::Rollback {
                target: target.clone(),
            },
            task,
            user: actor.user.clone(),
        });
        self.touch(i);
        let text = format!("{title} (pipeline #{id}) requested by {}", actor.user);
        self.log(Level::Warn, env, text.clone());
        Ok(ActionAccepted {
            pipeline_id: id,
            env: env.to_string(),
            from_version: Some(current),
            to_version: Some(target),
            message: text,
        })
    }

    async fn switch_traffic(
        &mut self,
        actor: &Actor,
        env: &str,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        let r = self.try_switch(actor, env, to_canary);
        let (from, to) = match &r {
            Ok(a) => (a.from_version.clone(), a.to_version.clone()),
            Err(_) => (None, None),
        };
        let detail = format!(
            "{} via {}",
            if to_canary { "to canary" } else { "to stable" },
            actor.via
        );
        self.write_audit(
            &actor.user,
            env,
            "switch_traffic",
            (from.as_ref(), to.as_ref()),
            outcome_of(&r),
            detail,
        )
        .await;
        r
    }

    fn try_switch(
        &mut self,
        actor: &Actor,
        env: &str,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        if self.opts.read_only {
            return Err(RuntimeError::ReadOnly("switch_traffic".into()));
        }
        let i = self
            .env_index(env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))?;
        let e = &self.envs[i];
        let Some(canary) = e.canary.clone() else {
            return Err(RuntimeError::Refused(format!(
                "{env} has no canary to switch traffic to or from"
            )));
        };
        if let Some(Op {
            kind: OpKind::Rollback { .. },
            id,
            ..
        }) = &e.op
        {
            return Err(RuntimeError::Refused(format!(
                "pipeline #{id} is rolling {env} back"
            )));
        }
        let stable = e.stable.clone();
        if to_canary && e.ready_count(&canary) == 0 {
            return Err(RuntimeError::Refused(format!(
                "canary {canary} has no ready instance yet"
            )));
        }
        let Some(stable_v) = stable.clone() else {
            return Err(RuntimeError::Refused(format!(
                "{env} has no stable version to switch between"
            )));
        };
        if !to_canary && e.ready_count(&stable_v) == 0 {
            return Err(RuntimeError::Refused(format!(
                "stable {stable_v} has no ready instance"
            )));
        }
        let reason = format!("traffic switched by {}", actor.user);
        let aborted = self.abort_op(i, &reason, true);
        let e = &mut self.envs[i];
        e.weight = if to_canary { 100 } else { 0 };
        e.step = None;
        self.apply_split(i);
        let (from, to) = if to_canary {
            (stable_v, canary.clone())
        } else {
            (canary.clone(), stable_v)
        };
        let mut stages = Vec::new();
        if let Some(id) = aborted {
            stages.push((
                "pause rollout",
                format!("pipeline #{id} stopped; canary {canary} kept"),
            ));
        }
        stages.push(("switch traffic", format!("100% to {to}")));
        let id = self.instant_pipeline(
            PipelineKind::Rollout,
            env,
            &format!("blue/green: switch {env} to {to}"),
            &stages,
        );
        let text = format!("blue/green: all traffic in {env} now goes to {to} (from {from})");
        self.log(Level::Warn, env, text.clone());
        Ok(ActionAccepted {
            pipeline_id: id,
            env: env.to_string(),
            from_version: Some(from),
            to_version: Some(to),
            message: text,
        })
    }

    /// Remove a held canary: traffic back to stable, canary instances stopped.
    fn remove_canary(&mut self, i: usize) {
        let e = &mut self.envs[i];
        let canary = e.canary.take();
        e.weight = 0;
        e.step = None;
        self.apply_split(i);
        if let Some(c) = canary {
            if self.envs[i].stable.as_ref() != Some(&c) {
                self.stop_version(i, &c);
            }
        }
    }

    /// Abort the environment's running operation, marking its pipeline
    /// cancelled. A rollout's canary is removed unless `keep_canary`.
    pub(super) fn abort_op(&mut self, i: usize, reason: &str, keep_canary: bool) -> Option<u64> {
        let op = self.envs[i].op.take()?;
        op.task.abort();
        let now = now_ms();
        if let Some(mut run) = self.pipeline(op.id) {
            run.cancel(reason, now);
            self.upsert_pipeline(run);
        }
        let env = self.envs[i].cfg.name.clone();
        self.emit(RuntimeEvent::RolloutFinished {
            env,
            pipeline_id: op.id,
            outcome: RolloutOutcome::Aborted {
                reason: reason.to_string(),
            },
        });
        match &op.kind {
            OpKind::Rollout { .. } => {
                if keep_canary {
                    self.envs[i].step = None;
                    self.apply_split(i);
                } else {
                    self.remove_canary(i);
                }
            }
            OpKind::Rollback { target } => {
                if self.envs[i].stable.as_ref() != Some(target) {
                    self.stop_version(i, target);
                }
            }
        }
        self.touch(i);
        Some(op.id)
    }

    /// An operation's task reached its end; apply the outcome.
    async fn conclude(&mut self, i: usize, conclusion: Conclusion) {
        let Some(op) = self.envs[i].op.take() else {
            return;
        };
        let env = self.envs[i].cfg.name.clone();
        let now = now_ms();
        let mut run = self.pipeline(op.id);
        match (conclusion, &op.kind) {
            (Conclusion::Promote, OpKind::Rollout { canary }) => {
                let e = &mut self.envs[i];
                let old = e.stable.replace(canary.clone());
                e.canary = None;
                e.weight = 0;
                e.step = None;
                if let Some(old) = old.as_ref().filter(|o| *o != canary) {
                    e.previous = Some(old.clone());
                }
                self.apply_split(i);
                if let Some(old) = old.as_ref().filter(|o| *o != canary) {
                    self.stop_version(i, old);
                }
                let detail = match &old {
                    Some(o) => format!("{canary} is stable in {env}; {o} kept as previous"),
                    None => format!("{canary} is stable in {env}"),
                };
                if let Some(run) = run.as_mut() {
                    let last = run.stages.len().saturating_sub(1);
                    run.start_stage(last, now);
                    run.finish_stage(last, StageStatus::Succeeded, detail.clone(), now);
                    run.finish(StageStatus::Succeeded, now);
                }
                self.log(Level::Info, &env, format!("promoted {canary}: {detail}"));
                self.emit(RuntimeEvent::RolloutFinished {
                    env: env.clone(),
                    pipeline_id: op.id,
                    outcome: RolloutOutcome::Promoted {
                        version: canary.clone(),
                    },
                });
                let detail = format!("pipeline #{} requested by {}", op.id, op.user);
                self.write_audit(
                    "controller",
                    &env,
                    "promote",
                    (old.as_ref(), Some(canary)),
                    "promoted".into(),
                    detail,
                )
                .await;
            }
            (Conclusion::RollbackSwitch, OpKind::Rollback { target }) => {
                let e = &mut self.envs[i];
                let old = e.stable.replace(target.clone());
                e.previous = old.clone().filter(|o| o != target);
                e.canary = None;
                e.weight = 0;
                e.step = None;
                self.apply_split(i);
                if let Some(old) = old.as_ref().filter(|o| *o != target) {
                    self.stop_version(i, old);
                }
                let from = old.clone().map(|v| v.0).unwrap_or_default();
                if let Some(run) = run.as_mut() {
                    run.finish_stage(1, StageStatus::Succeeded, format!("100% to {target}"), now);
                    run.finish_stage(2, StageStatus::Succeeded, format!("{from} stopped"), now);
                    run.finish(StageStatus::Succeeded, now);
                }
                let reason = format!("rollback requested by {}", op.user);
                self.log(
                    Level::Warn,
                    &env,
                    format!("{env} rolled back from {from} to {target}"),
                );
                self.emit(RuntimeEvent::RolloutFinished {
                    env: env.clone(),
                    pipeline_id: op.id,
                    outcome: RolloutOutcome::RolledBack {
                        version: old.clone().unwrap_or_else(|| target.clone()),
                        reason: reason.clone(),
                        verdict: None,
                    },
                });
                let detail = format!("pipeline #{} requested by {}", op.id, op.user);
                self.write_audit(
                    "controller",
                    &env,
                    "rollback",
                    (old.as_ref(), Some(target)),
                    format!("rolled back: {reason}"),
                    detail,
                )
                .await;
            }
            (Conclusion::Abort { reason, verdict }, kind) => {
                let failed_version = match kind {
                    OpKind::Rollout { canary } => canary.clone(),
                    OpKind::Rollback { target } => target.clone(),
                };
                match kind {
                    OpKind::Rollout { .. } => self.remove_canary(i),
                    OpKind::Rollback { target } => {
                        if self.envs[i].stable.as_ref() != Some(target) {
                            self.stop_version(i, target);
                        }
                    }
                }
                if let Some(run) = run.as_mut() {
                    if let Some(s) = run
                        .stages
                        .iter_mut()
                        .find(|s| s.status == StageStatus::Running)
                    {
                        s.status = StageStatus::Failed(reason.clone());
                        s.finished_at = Some(now);
                        s.progress = 1.0;
                        if s.detail.is_empty() {
                            s.detail = reason.clone();
                        }
                    }
                    run.finish(StageStatus::Failed(reason.clone()), now);
                }
                let stable = self.envs[i].stable.clone();
                let outcome = match (kind, &stable) {
                    (OpKind::Rollout { .. }, Some(_)) => RolloutOutcome::RolledBack {
                        version: failed_version.clone(),
                        reason: reason.clone(),
                        verdict,
                    },
                    _ => RolloutOutcome::Aborted {
                        reason: reason.clone(),
                    },
                };
                self.log(
                    Level::Warn,
                    &env,
                    format!("{failed_version} rolled back in {env}: {reason}"),
                );
                self.emit(RuntimeEvent::RolloutFinished {
                    env: env.clone(),
                    pipeline_id: op.id,
                    outcome,
                });
                let detail = format!("pipeline #{} requested by {}", op.id, op.user);
                self.write_audit(
                    "controller",
                    &env,
                    "rollback",
                    (Some(&failed_version), stable.as_ref()),
                    format!("rolled back: {reason}"),
                    detail,
                )
                .await;
            }
            (c, kind) => {
                // A conclusion that does not fit the operation: a bug, but keep the env usable.
                let text = format!("ignored conclusion {c:?} for operation {kind:?} in {env}");
                self.log(Level::Error, &env, text);
                self.envs[i].op = Some(op);
                return;
            }
        }
        if let Some(run) = run {
            self.upsert_pipeline(run);
        }
        self.touch(i);
    }

    // ------------------------------------------------------------------
    // Shutdown

    async fn shutdown(&mut self, inbox: &mut Inbox) {
        self.log(Level::Info, "sandbox", "sandbox shutting down".into());
        for i in 0..self.envs.len() {
            self.abort_op(i, "sandbox shut down", true);
        }
        self.end_all_faults().await;
        let _ = self.traffic_stop.send(true);
        for t in self.metrics_tasks.drain(..) {
            t.abort();
        }
        let mut waits: Vec<JoinHandle<()>> = std::mem::take(&mut self.traffic_tasks);
        for env in &mut self.envs {
            for (_, inst) in std::mem::take(&mut env.instances) {
                waits.push(inst.handle.stop());
            }
        }
        waits.append(&mut self.stopping);
        let all = futures::future::join_all(waits);
        tokio::pin!(all);
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        // Keep draining: a supervisor may be waiting to report before it stops.
        loop {
            tokio::select! {
                _ = &mut all => break,
                _ = &mut deadline => {
                    self.log(Level::Warn, "sandbox", "some instances did not stop in time".into());
                    break;
                }
                Some(_) = inbox.updates.recv() => {}
                Some(_) = inbox.internal.recv() => {}
                Some(l) = inbox.logs.recv() => self.on_log(l),
            }
        }
        for env in &self.envs {
            env.router.shutdown().await;
        }
        self.journal.faults.clear();
        if let Err(e) = self.save_journal().await {
            self.log(
                Level::Error,
                "sandbox",
                format!("could not clear the fault journal: {e}"),
            );
        }
        for i in 0..self.envs.len() {
            self.touch(i);
        }
        self.flush_status();
        self.audit.flush().await;
        if let Some(t) = self.audit_task.take() {
            t.abort();
        }
    }

    pub(super) async fn save_journal(&self) -> Result<(), SandboxError> {
        let path = self.opts.state.fault_journal();
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || write_fault_journal(&path, &journal))
            .await
            .map_err(|e| SandboxError::Journal {
                path: self.opts.state.fault_journal(),
                message: format!("writer task failed: {e}"),
            })?
    }
}

/// Longest title, stage name or detail kept from a published run.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_tame() {
        assert!(validate_version(&Version::new("v2")).is_ok());
        assert!(validate_version(&Version::new("1.4.0-rc.1")).is_ok());
        assert!(validate_version(&Version::new("abc123_def")).is_ok());
        assert!(validate_version(&Version::new("")).is_err());
        assert!(validate_version(&Version::new("-v2")).is_err());
        assert!(validate_version(&Version::new("v2; rm -rf /")).is_err());
        assert!(validate_version(&Version::new("v2\u{1b}[2J")).is_err());
        assert!(validate_version(&Version::new("x".repeat(65))).is_err());
    }

    #[test]
    fn config_validation_catches_mistakes() {
        assert!(validate_config(&Config::default()).is_ok());
        let mut c = Config::default();
        c.environments[1].name = c.environments[0].name.clone();
        assert!(matches!(validate_config(&c), Err(SandboxError::Config(m)) if m.contains("twice")));
        let mut c = Config::default();
        c.environments[0].replicas = 0;
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.service.ready_path = "/ready\r\nX: y".into();
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.rollout.steps.steps.clear();
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.environments.clear();
        assert!(validate_config(&c).is_err());
    }

    #[test]
    fn audit_outcome_says_accepted_or_why_refused() {
        let ok: Result<(), RuntimeError> = Ok(());
        assert_eq!(outcome_of(&ok), "accepted");
        let ro: Result<(), RuntimeError> = Err(RuntimeError::ReadOnly("deploy".into()));
        assert_eq!(
            outcome_of(&ro),
            "refused: read-only mode: deploy is not allowed"
        );
    }
}
