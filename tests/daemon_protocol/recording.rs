//! RecordingRuntime, the deterministic in-memory runtime the control socket
//! serves in these tests, and the sample data it reports.

use super::*;

// ---------------------------------------------------------------------------
// RecordingRuntime: a test double. Records every call with its actor, and
// plays a short, fixed script of events for deploy/promote/rollback/inject.
// ---------------------------------------------------------------------------

pub(crate) type Subscribers = Arc<Mutex<Vec<mpsc::Sender<RuntimeEvent>>>>;

pub(crate) struct RecordingRuntime {
    pub(crate) envs: Vec<EnvironmentStatus>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) read_only: bool,
    pub(crate) subscriber_capacity: usize,
    pub(crate) calls: Mutex<Vec<String>>,
    pub(crate) subscribers: Subscribers,
    /// Events the double itself could not deliver (must stay 0 for a fair test).
    pub(crate) undelivered: Arc<AtomicU64>,
    pub(crate) shutdowns: AtomicU32,
    pub(crate) next_id: AtomicU64,
    pub(crate) history: Arc<Mutex<History>>,
}

pub(crate) fn instance(id: &str, version: &str, restarts: u32) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase: InstancePhase::Ready,
        restarts,
        detail: blissful_infra::domain::environment::InstanceDetail::Process {
            pid: Some(4242),
            port: 40100,
        },
    }
}

pub(crate) fn sample_envs() -> Vec<EnvironmentStatus> {
    let env = |name: &str, port: u16, restarts: u32| EnvironmentStatus {
        name: name.into(),
        traffic: TrafficSplit {
            stable: Some(Version::new("v1")),
            canary: None,
            canary_weight: 0,
        },
        previous: Some(Version::new("v0")),
        step: None,
        health: Health::Healthy,
        instances: vec![
            instance(&format!("{name}-v1-1"), "v1", restarts),
            instance(&format!("{name}-v1-2"), "v1", 0),
        ],
        replicas: 2,
        last_change: 1_700_000_000_000,
        router_addr: format!("127.0.0.1:{port}"),
        metrics_addr: format!("127.0.0.1:{}", port + 1),
        faults: vec![],
        revisions: Vec::new(),
        observed: None,
    };
    vec![env("staging", 41000, 1), env("prod", 42000, 0)]
}

pub(crate) fn sample_logs() -> Vec<LogLine> {
    let line = |ts: i64, env: &str, text: &str, level: Level| {
        LogLine::new(
            ts,
            env.into(),
            "v1".into(),
            format!("{env}-v1-1").into(),
            level,
            text,
        )
    };
    vec![
        line(1_000, "staging", "GET /healthz 200", Level::Info),
        line(2_000, "prod", "GET /orders 200", Level::Info),
        line(
            3_000,
            "staging",
            "GET /orders 503 upstream timeout",
            Level::Error,
        ),
        line(4_000, "staging", "GET /orders 200", Level::Info),
    ]
}

pub(crate) fn verdict(p99_ms: f64) -> Verdict {
    let canary = VersionSample {
        requests: 400,
        errors: 0,
        p50_ms: 20.0,
        p95_ms: 80.0,
        p99_ms,
        ..Default::default()
    };
    analyze(&canary, None, &Thresholds::default())
}

impl RecordingRuntime {
    pub(crate) fn new() -> Self {
        RecordingRuntime {
            envs: sample_envs(),
            logs: sample_logs(),
            read_only: false,
            subscriber_capacity: 4096,
            calls: Mutex::new(Vec::new()),
            subscribers: Arc::new(Mutex::new(Vec::new())),
            undelivered: Arc::new(AtomicU64::new(0)),
            shutdowns: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            history: Arc::new(Mutex::new(History::default())),
        }
    }

    pub(crate) fn read_only() -> Self {
        RecordingRuntime {
            read_only: true,
            ..RecordingRuntime::new()
        }
    }

    pub(crate) fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn check_env(&self, env: &str) -> Result<&EnvironmentStatus, RuntimeError> {
        self.envs
            .iter()
            .find(|e| e.name == env)
            .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))
    }

    pub(crate) fn check_writable(&self, what: &str) -> Result<(), RuntimeError> {
        if self.read_only {
            Err(RuntimeError::ReadOnly(what.to_string()))
        } else {
            Ok(())
        }
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap().len()
    }

    pub(crate) fn emit(&self, ev: RuntimeEvent) {
        emit_to(&self.subscribers, &self.undelivered, ev);
    }

    /// Whether every subscriber channel has been drained by its reader.
    pub(crate) fn drained(&self) -> bool {
        self.subscribers
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.capacity() == s.max_capacity())
    }

    pub(crate) fn close_subscribers(&self) {
        self.subscribers.lock().unwrap().clear();
    }

    /// Play `events` to subscribers in the background, a few ms apart.
    pub(crate) fn play(&self, events: Vec<RuntimeEvent>) {
        let subs = self.subscribers.clone();
        let undelivered = self.undelivered.clone();
        tokio::spawn(async move {
            for ev in events {
                tokio::time::sleep(Duration::from_millis(5)).await;
                emit_to(&subs, &undelivered, ev);
            }
        });
    }

    /// The script of a canary rollout of `version`: version `bad` fails its
    /// analysis on p99 latency and is rolled back, anything else is promoted.
    pub(crate) fn rollout(
        &self,
        env: &EnvironmentStatus,
        version: &Version,
        kind: PipelineKind,
    ) -> ActionAccepted {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let stable = env
            .traffic
            .stable
            .clone()
            .unwrap_or_else(|| Version::new("v0"));
        let mut run = PipelineRun::new(
            id,
            kind,
            &env.name,
            &format!("deploy {version}"),
            &["canary 50%", "promote"],
            0,
        );
        let mut events = Vec::new();
        run.start_stage(0, 1);
        events.push(RuntimeEvent::Pipeline { run: run.clone() });
        let bad = version.as_str() == "bad";
        let v = verdict(if bad { 612.0 } else { 100.0 });
        events.push(RuntimeEvent::Verdict {
            env: env.name.clone(),
            step: 0,
            verdict: v.clone(),
        });
        let outcome = if bad {
            run.finish_stage(0, StageStatus::Failed("analysis".into()), v.summary(), 2);
            run.finish(StageStatus::Failed(v.summary()), 2);
            RolloutOutcome::RolledBack {
                version: version.clone(),
                reason: v.summary(),
                verdict: Some(Box::new(v)),
            }
        } else {
            run.finish_stage(0, StageStatus::Succeeded, "analysis passed", 2);
            run.start_stage(1, 2);
            run.finish_stage(1, StageStatus::Succeeded, "", 3);
            run.finish(StageStatus::Succeeded, 3);
            RolloutOutcome::Promoted {
                version: version.clone(),
            }
        };
        events.push(RuntimeEvent::Pipeline { run: run.clone() });
        events.push(RuntimeEvent::RolloutFinished {
            env: env.name.clone(),
            pipeline_id: id,
            outcome,
        });
        self.history.lock().unwrap().pipelines.push(run);
        self.play(events);
        ActionAccepted {
            pipeline_id: id,
            env: env.name.clone(),
            from_version: Some(stable),
            to_version: Some(version.clone()),
            message: format!("canary rollout of {version} started"),
        }
    }
}

pub(crate) fn emit_to(subs: &Subscribers, undelivered: &AtomicU64, ev: RuntimeEvent) {
    let mut subs = subs.lock().unwrap();
    subs.retain(|s| !s.is_closed());
    for s in subs.iter() {
        if s.try_send(ev.clone()).is_err() {
            undelivered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Runtime for RecordingRuntime {
    fn name(&self) -> &str {
        "recording"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with(
            DeliveryMode::Driven,
            &[IntentKind::Deploy, IntentKind::Undo, IntentKind::Switch],
            |k| format!("the recording runtime has no {}", k.name()),
        )
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        match intent {
            Intent::Deploy { version } => self.deploy(actor, env, &version).await,
            Intent::Undo { to_revision: None } => self.rollback(actor, env).await,
            Intent::Switch { to_canary } => self.switch_traffic(actor, env, to_canary).await,
            other => {
                self.record(format!("intent {} {env}", other.describe()));
                Err(RuntimeError::Refused(
                    self.capabilities()
                        .check(other.kind())
                        .err()
                        .unwrap_or_default(),
                ))
            }
        }
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.record("status".into());
        Ok(self.envs.clone())
    }

    async fn deploy(
        &self,
        actor: &Actor,
        env: &str,
        version: &Version,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "deploy {env} {version} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("deploy")?;
        let env = self.check_env(env)?;
        Ok(self.rollout(env, version, PipelineKind::Rollout))
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "promote {from} {to} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("promote")?;
        let version = self
            .check_env(from)?
            .traffic
            .stable
            .clone()
            .ok_or_else(|| RuntimeError::Refused(format!("{from} has no stable version")))?;
        let target = self.check_env(to)?;
        Ok(self.rollout(target, &version, PipelineKind::Promotion))
    }

    async fn rollback(&self, actor: &Actor, env: &str) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!("rollback {env} by {}/{}", actor.user, actor.via));
        self.check_writable("rollback")?;
        let env = self.check_env(env)?;
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut run = PipelineRun::new(
            id,
            PipelineKind::Rollback,
            &env.name,
            "rollback",
            &["restore"],
            0,
        );
        run.start_stage(0, 1);
        let started = run.clone();
        run.finish_stage(0, StageStatus::Succeeded, "v0 serving", 2);
        run.finish(StageStatus::Succeeded, 2);
        self.history.lock().unwrap().pipelines.push(run.clone());
        self.play(vec![
            RuntimeEvent::Pipeline { run: started },
            RuntimeEvent::Pipeline { run },
        ]);
        Ok(ActionAccepted {
            pipeline_id: id,
            env: env.name.clone(),
            from_version: env.traffic.stable.clone(),
            to_version: env.previous.clone(),
            message: "rolling back".into(),
        })
    }

    async fn switch_traffic(
        &self,
        actor: &Actor,
        env: &str,
        to_canary: bool,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!(
            "switch {env} {to_canary} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("switch")?;
        let env = self.check_env(env)?;
        Ok(ActionAccepted {
            pipeline_id: self.next_id.fetch_add(1, Ordering::SeqCst),
            env: env.name.clone(),
            from_version: None,
            to_version: None,
            message: "traffic switched".into(),
        })
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        self.record(format!(
            "inject {env} {scenario} by {}/{}",
            actor.user, actor.via
        ));
        self.check_writable("inject")?;
        self.check_env(env)?;
        let id = format!("exp-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let x = Experiment::new(id, env, scenario, params.clone(), 0);
        let mut recovering = x.clone();
        recovering.state = ExperimentState::Recovering;
        recovering.detection_ms = Some(800);
        recovering.peak_error_rate = params.rate;
        recovering.failed_requests = 40;
        let mut done = recovering.clone();
        done.state = ExperimentState::Completed;
        // A rate of 0.9 or more never recovers in this script.
        if params.rate >= 0.9 {
            done.result = Some(ExperimentResult::NotRecovered);
        } else {
            done.recovery_ms = Some(1500);
            done.result = Some(ExperimentResult::Resilient);
        }
        self.history.lock().unwrap().experiments.push(done.clone());
        self.play(vec![
            RuntimeEvent::Experiment {
                experiment: x.clone(),
            },
            RuntimeEvent::Experiment {
                experiment: recovering,
            },
            RuntimeEvent::Experiment { experiment: done },
        ]);
        Ok(x)
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        self.record(format!(
            "undo {experiment_id} by {}/{}",
            actor.user, actor.via
        ));
        if experiment_id.starts_with("exp-") {
            Ok(())
        } else {
            Err(RuntimeError::NotFound(format!(
                "experiment {experiment_id}"
            )))
        }
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.record(format!("recent_logs {env:?} {limit}"));
        let matching: Vec<LogLine> = self
            .logs
            .iter()
            .filter(|l| env.is_none_or(|e| *l.env == *e))
            .cloned()
            .collect();
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).collect())
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.record("history".into());
        Ok(self.history.lock().unwrap().clone())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        self.record("subscribe".into());
        let (tx, rx) = mpsc::channel(self.subscriber_capacity);
        self.subscribers.lock().unwrap().push(tx);
        Ok(rx)
    }

    async fn shutdown(&self) {
        self.record("shutdown".into());
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        self.close_subscribers();
    }
}
