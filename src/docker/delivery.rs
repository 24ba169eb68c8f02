//! Progressive delivery on Docker: a new version of the app service runs as
//! a second container next to the current one (same image with `VERSION`
//! set, or the image tagged with the version when one exists locally), and
//! the sandbox's weighted edge router, running on the host, shifts traffic
//! between them. Each canary step is analysed like the sandbox does
//! (`domain::analysis`, `domain::rollout`); a failing canary is rolled back
//! automatically. Promote, rollback and the blue/green switch as well.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lifecycle::ContainerView;
use super::runtime::{DockerRuntimeOptions, Inner};
use super::{
    engine, ENV_NAME, MANAGED_LABEL, PROJECT_LABEL, READY_PATH_LABEL, READY_PORT_LABEL,
    SERVICE_LABEL, VERSION_LABEL,
};
use crate::clock::now_ms;
use crate::domain::analysis::{analyze, Verdict};
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::rollout::{decide, Decision};
use crate::domain::sanitize::strip_all;
use crate::domain::EpochMillis;
use crate::router::probe::probe;
use crate::router::traffic::TrafficGenerator;
use crate::router::{RouterConfig, RouterFault, RouterHandle};
use crate::runtime::{ActionAccepted, Actor, RolloutOutcome, RuntimeError, RuntimeEvent};

/// How long a new container gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(250);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
const METRICS_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub weight: u8,
    pub previous: Option<Version>,
    pub step: Option<(usize, usize)>,
    pub router_addr: Option<String>,
    pub metrics_addr: Option<String>,
    pub last_change: EpochMillis,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum OpKind {
    Rollout,
    Rollback,
}

struct Op {
    id: u64,
    kind: OpKind,
    /// The task driving it (none for an operation concluded inline).
    task: Option<JoinHandle<()>>,
}

impl Op {
    fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// What survives a restart of blissful-infra (the containers hold the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Persisted {
    stable: Option<Version>,
    previous: Option<Version>,
}

#[derive(Default)]
struct DState {
    router: Option<RouterHandle>,
    traffic_stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    stable: Option<Version>,
    canary: Option<Version>,
    weight: u8,
    previous: Option<Version>,
    step: Option<(usize, usize)>,
    op: Option<Op>,
    last_change: EpochMillis,
    /// Latest 1 Hz point per version (router numbers), for chaos observation.
    last_points: BTreeMap<String, MetricPoint>,
    /// Why the router is not running, when it is not.
    router_problem: Option<String>,
}

pub(crate) struct Delivery {
    state: Mutex<DState>,
    path: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Delivery {
    pub(crate) fn new(opts: &DockerRuntimeOptions) -> Delivery {
        let path = opts
            .state
            .dir
            .join(format!("docker-delivery-{}.json", opts.project));
        let persisted: Persisted = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Delivery {
            state: Mutex::new(DState {
                stable: persisted.stable,
                previous: persisted.previous,
                ..Default::default()
            }),
            path,
        }
    }

    fn st(&self) -> MutexGuard<'_, DState> {
        lock(&self.state)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let s = self.st();
        Snapshot {
            stable: s.stable.clone(),
            canary: s.canary.clone(),
            weight: s.weight,
            previous: s.previous.clone(),
            step: s.step,
            router_addr: s.router.as_ref().map(|r| r.addr().to_string()),
            metrics_addr: s.router.as_ref().map(|r| r.metrics_addr().to_string()),
            last_change: s.last_change,
        }
    }

    fn persist(&self) -> Result<(), String> {
        let p = {
            let s = self.st();
            Persisted {
                stable: s.stable.clone(),
                previous: s.previous.clone(),
            }
        };
        let body = serde_json::to_vec_pretty(&p).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, body)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("saving {}: {e}", self.path.display()))
    }

    /// The edge router's address (while it runs).
    pub(crate) fn router_addr(&self) -> Option<SocketAddr> {
        self.st().router.as_ref().map(|r| r.addr())
    }
}

fn app(inner: &Inner) -> String {
    inner.opts.config.docker.app_service.clone()
}

/// App containers (Compose's and blissful-infra's copies) by version.
fn by_version(inner: &Inner) -> BTreeMap<String, Vec<ContainerView>> {
    let app = app(inner);
    let mut m: BTreeMap<String, Vec<ContainerView>> = BTreeMap::new();
    for c in inner.containers().into_iter().filter(|c| c.service == app) {
        m.entry(c.version.clone()).or_default().push(c);
    }
    m
}

/// A container of `version` runs already (a held canary deployed again).
fn has_running(inner: &Inner, version: &Version) -> bool {
    by_version(inner)
        .get(version.as_str())
        .is_some_and(|cs| cs.iter().any(|c| c.running))
}

fn backend(c: &ContainerView) -> Option<SocketAddr> {
    let want = c
        .labels
        .get(READY_PORT_LABEL)
        .and_then(|p| p.parse::<u16>().ok());
    c.host_port(want)
        .map(|p| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p))
}

/// Start the edge router (and the traffic generator) in front of the app service.
pub(crate) async fn start(inner: &Arc<Inner>) {
    let port = inner.opts.config.docker.router_port;
    let cfg = RouterConfig {
        env: ENV_NAME.into(),
        listen: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        metrics_listen: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
    };
    let router = match RouterHandle::start(cfg).await {
        Ok(r) => r,
        Err(e) => {
            let why = format!("edge router on 127.0.0.1:{port} did not start: {e}");
            inner.log(Level::Error, &why);
            inner.delivery.st().router_problem = Some(why);
            return;
        }
    };
    let rate = inner.opts.config.traffic.rate_per_sec;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if rate > 0.0 {
        tasks.push(TrafficGenerator::spawn(
            router.addr(),
            rate,
            inner.opts.config.traffic.paths.clone(),
            stop_rx,
        ));
    }
    tasks.push(tokio::spawn(run_metrics(inner.clone(), router.clone())));
    {
        let mut s = inner.delivery.st();
        s.router = Some(router);
        s.traffic_stop = Some(stop_tx);
        s.tasks = tasks;
        s.last_change = now_ms();
    }
    containers_changed(inner);
    inner.emit_status();
}

/// Stop the router and abort a running operation (its canary is removed).
pub(crate) async fn shutdown(inner: &Arc<Inner>) {
    let (router, op, tasks) = {
        let mut s = inner.delivery.st();
        if let Some(t) = s.traffic_stop.take() {
            t.send_replace(true);
        }
        (s.router.take(), s.op.take(), std::mem::take(&mut s.tasks))
    };
    if let Some(op) = op {
        op.abort();
        if op.kind == OpKind::Rollout {
            remove_canary(inner, "blissful-infra stopped").await;
        }
    }
    for t in tasks {
        t.abort();
    }
    if let Some(r) = router {
        r.shutdown().await;
    }
}

/// Stop every task of the delivery side at once (the runtime is dropped).
pub(crate) fn abort_tasks(inner: &Inner) {
    let mut s = inner.delivery.st();
    if let Some(t) = s.traffic_stop.take() {
        t.send_replace(true);
    }
    if let Some(op) = s.op.take() {
        op.abort();
    }
    for t in s.tasks.drain(..) {
        t.abort();
    }
    s.router = None;
}

/// Point the router at the ready containers of the stable and canary versions.
pub(crate) fn containers_changed(inner: &Inner) {
    let versions = by_version(inner);
    let mut s = inner.delivery.st();
    // The stable version is the persisted one while its containers exist,
    // else what Compose runs.
    let stable_exists = s
        .stable
        .as_ref()
        .is_some_and(|v| versions.contains_key(v.as_str()));
    if !stable_exists && s.op.is_none() {
        let compose = versions
            .iter()
            .find(|(_, cs)| cs.iter().any(|c| !c.labels.contains_key(MANAGED_LABEL)))
            .map(|(v, _)| Version::new(v.clone()));
        if compose.is_some() && compose != s.stable {
            s.stable = compose;
            s.last_change = now_ms();
        }
    }
    let Some(router) = s.router.clone() else {
        return;
    };
    let routed: Vec<&Version> = [s.stable.as_ref(), s.canary.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    for v in &routed {
        let addrs: Vec<SocketAddr> = versions
            .get(v.as_str())
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.is_ready())
                    .filter_map(backend)
                    .collect()
            })
            .unwrap_or_default();
        router.set_backends(v.as_str(), addrs);
    }
    for v in router.backends().keys() {
        if !routed.iter().any(|r| r.as_str() == v) {
            router.remove_version(v);
        }
    }
    router.set_split(
        s.stable.as_ref().map(Version::as_str),
        s.canary.as_ref().map(Version::as_str),
        s.weight,
    );
}

/// 1 Hz: router numbers per version, with the CPU and memory of its containers.
async fn run_metrics(inner: Arc<Inner>, router: RouterHandle) {
    let mut tick = tokio::time::interval(METRICS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let window = router.take_window();
        let now = now_ms();
        let mut points = BTreeMap::new();
        for (version, w) in window {
            let error_rate = if w.requests > 0 {
                w.errors as f64 / w.requests as f64
            } else {
                0.0
            };
            points.insert(
                version,
                MetricPoint {
                    ts: now,
                    rps: w.requests as f64 / METRICS_EVERY.as_secs_f64(),
                    error_rate,
                    p50_ms: w.p50_ms,
                    p95_ms: w.p95_ms,
                    p99_ms: w.p99_ms,
                    ..Default::default()
                },
            );
        }
        inner.delivery.st().last_points = points.clone();
        for (version, point) in points {
            inner.emit(RuntimeEvent::Metrics {
                env: ENV_NAME.into(),
                version,
                point,
            });
        }
    }
}

/// Worst error rate, worst p99 and errors over the versions the router
/// served in the last second (zero without traffic).
pub(crate) fn observation(inner: &Inner) -> (f64, f64, u64) {
    let s = inner.delivery.st();
    let mut out = (0.0f64, 0.0f64, 0u64);
    for p in s.last_points.values() {
        out.0 = out.0.max(p.error_rate);
        out.1 = out.1.max(p.p99_ms);
        out.2 += (p.error_rate * p.rps).round() as u64;
    }
    out
}

pub(crate) fn set_router_fault(
    inner: &Inner,
    scenario: ScenarioKind,
    p: &FaultParams,
) -> Result<(), String> {
    let s = inner.delivery.st();
    let Some(router) = s.router.as_ref() else {
        return Err(s
            .router_problem
            .clone()
            .unwrap_or_else(|| "the edge router is not running".into()));
    };
    let fault = match scenario {
        ScenarioKind::ErrorInjection => RouterFault {
            error_rate: p.rate,
            ..Default::default()
        },
        _ => RouterFault {
            drop_rate: p.rate,
            ..Default::default()
        },
    };
    router.set_fault(Some(fault));
    Ok(())
}

pub(crate) fn clear_router_fault(inner: &Inner) {
    if let Some(r) = inner.delivery.st().router.as_ref() {
        r.set_fault(None);
    }
}

// ---------------------------------------------------------------------------
// Containers for versions

fn sanitize_name(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Start a container of `version` of the app service, modelled on a running one.
async fn create_version(
    inner: &Arc<Inner>,
    docker: &Docker,
    version: &Version,
) -> Result<String, String> {
    let app = app(inner);
    let template = by_version(inner)
        .into_values()
        .flatten()
        .filter(|c| c.running)
        .min_by_key(|c| c.labels.contains_key(MANAGED_LABEL))
        .ok_or_else(|| format!("no running container of service `{app}` to copy"))?;
    let t = engine::inspect(docker, &template.id)
        .await
        .map_err(|e| e.to_string())?;
    let cfg = t.config.unwrap_or_default();
    let host = t.host_config.unwrap_or_default();
    let base_image = cfg.image.clone().unwrap_or_default();
    // An image tagged with the version wins over the template's image.
    let repo = match base_image.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r.to_string(),
        _ => base_image.clone(),
    };
    let tagged = format!("{repo}:{version}");
    let image = if docker.inspect_image(&tagged).await.is_ok() {
        tagged
    } else {
        base_image
    };
    // The sample service's behaviour knobs follow `service.versions` (as in
    // the sandbox); other images simply ignore these variables.
    let behaviour = inner
        .opts
        .config
        .service
        .versions
        .get(version.as_str())
        .cloned()
        .unwrap_or_default();
    const SET: [&str; 4] = [
        "VERSION=",
        "LATENCY_MS=",
        "ERROR_RATE=",
        "MEMORY_GROWTH_MIB_PER_MIN=",
    ];
    let mut env: Vec<String> = cfg
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !SET.iter().any(|p| e.starts_with(p)))
        .collect();
    env.push(format!("VERSION={version}"));
    env.push(format!("LATENCY_MS={}", behaviour.latency_ms));
    env.push(format!("ERROR_RATE={}", behaviour.error_rate));
    env.push(format!(
        "MEMORY_GROWTH_MIB_PER_MIN={}",
        behaviour.memory_growth_mib_per_min
    ));
    let mut labels: HashMap<String, String> = cfg
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose."))
        .collect();
    labels.insert(PROJECT_LABEL.into(), inner.opts.project.clone());
    labels.insert(
        SERVICE_LABEL.into(),
        format!("{app}-{}", sanitize_name(version.as_str())),
    );
    labels.insert(MANAGED_LABEL.into(), app.clone());
    labels.insert(VERSION_LABEL.into(), version.0.clone());
    if let Some(p) = template.labels.get(READY_PATH_LABEL) {
        labels.insert(READY_PATH_LABEL.into(), p.clone());
    }
    let exposed: Vec<String> = cfg.exposed_ports.clone().unwrap_or_default();
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = exposed
        .iter()
        .filter(|p| p.ends_with("/tcp"))
        .map(|p| {
            (
                p.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let network = template.networks.first().cloned();
    let body = ContainerCreateBody {
        image: Some(image),
        env: Some(env),
        cmd: cfg.cmd,
        entrypoint: cfg.entrypoint,
        working_dir: cfg.working_dir,
        user: cfg.user,
        healthcheck: cfg.healthcheck,
        labels: Some(labels),
        exposed_ports: Some(exposed),
        stop_signal: cfg.stop_signal,
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            restart_policy: host.restart_policy,
            memory: host.memory,
            nano_cpus: host.nano_cpus,
            network_mode: network.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!(
        "{}-{app}-{}-{}",
        inner.opts.project,
        sanitize_name(version.as_str()),
        fastrand::u16(..)
    );
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| format!("creating {name}: {}", strip_all(&e.to_string())))?;
    if let Err(e) = docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
    {
        let _ = remove(docker, &created.id).await;
        return Err(format!("starting {name}: {}", strip_all(&e.to_string())));
    }
    inner.log(Level::Info, format!("started {name} for {version}"));
    super::runtime::refresh_container(inner, docker, &created.id).await;
    Ok(created.id)
}

async fn remove(docker: &Docker, id: &str) -> Result<(), String> {
    match docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(strip_all(&e.to_string())),
    }
}

/// Remove the containers of `version` (Compose's too: the version is retired).
async fn remove_version(inner: &Arc<Inner>, version: &Version) -> Vec<String> {
    let Ok(docker) = inner.docker() else {
        return vec!["the Docker Engine is unreachable".into()];
    };
    let mut problems = Vec::new();
    let victims = by_version(inner)
        .remove(version.as_str())
        .unwrap_or_default();
    for c in victims {
        if let Err(e) = remove(&docker, &c.id).await {
            problems.push(format!("{}: {e}", c.display));
        } else {
            inner.log(Level::Info, format!("removed {} ({version})", c.display));
        }
        // Forget it now rather than when the engine's event arrives.
        super::runtime::refresh_container(inner, &docker, &c.id).await;
    }
    problems
}

/// Wait until every container of `version` is ready (and answers its ready path).
async fn wait_ready(
    inner: &Inner,
    version: &Version,
    run: &mut PipelineRun,
    stage: usize,
) -> Result<String, String> {
    let start = Instant::now();
    let mut last = Instant::now();
    loop {
        let cs = by_version(inner)
            .remove(version.as_str())
            .unwrap_or_default();
        let mut ready = 0;
        for c in &cs {
            if !c.is_ready() {
                continue;
            }
            let ok = match (c.labels.get(READY_PATH_LABEL), backend(c)) {
                (Some(path), Some(addr)) => probe(addr.port(), path).await,
                _ => true,
            };
            if ok {
                ready += 1;
            }
        }
        if !cs.is_empty() && ready == cs.len() {
            return Ok(format!(
                "{ready}/{} container(s) of {version} ready",
                cs.len()
            ));
        }
        if start.elapsed() >= READY_TIMEOUT {
            return Err(format!(
                "{version}: only {ready}/{} container(s) ready after {}s",
                cs.len(),
                READY_TIMEOUT.as_secs()
            ));
        }
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            if let Some(s) = run.stages.get_mut(stage) {
                s.progress = start.elapsed().as_secs_f64() / READY_TIMEOUT.as_secs_f64();
                s.detail = format!("{ready}/{} ready", cs.len());
            }
            inner.upsert_pipeline(run.clone());
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

// ---------------------------------------------------------------------------
// Operations

fn validate_version(v: &Version) -> Result<(), RuntimeError> {
    let s = v.as_str();
    if s.is_empty()
        || s.len() > 64
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(RuntimeError::Refused(format!(
            "version {s:?}: use 1-64 letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

fn router_ready(inner: &Inner) -> Result<(), RuntimeError> {
    let s = inner.delivery.st();
    if s.router.is_some() {
        Ok(())
    } else {
        Err(RuntimeError::Unavailable(
            s.router_problem
                .clone()
                .unwrap_or_else(|| "the edge router is not running".into()),
        ))
    }
}

fn outcome_of<T>(r: &Result<T, RuntimeError>) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => format!("refused: {e}"),
    }
}

pub(crate) async fn deploy(
    inner: &Arc<Inner>,
    actor: &Actor,
    version: &Version,
) -> Result<ActionAccepted, RuntimeError> {
    let from = inner.delivery.snapshot().stable;
    let r = try_deploy(inner, actor, version);
    inner
        .audit(
            actor,
            "deploy",
            (from.as_ref(), Some(version)),
            outcome_of(&r),
            format!("via {}", actor.via),
        )
        .await;
    r
}

fn try_deploy(
    inner: &Arc<Inner>,
    actor: &Actor,
    version: &Version,
) -> Result<ActionAccepted, RuntimeError> {
    if inner.opts.read_only {
        return Err(RuntimeError::ReadOnly("deploy".into()));
    }
    validate_version(version)?;
    inner.docker()?;
    router_ready(inner)?;
    let mut s = inner.delivery.st();
    crate::domain::rollout::check_deploy(
        ENV_NAME,
        s.op.as_ref().map(|op| op.id),
        s.stable.as_ref(),
        s.canary.as_ref(),
        version,
    )
    .map_err(RuntimeError::Refused)?;
    let stable = s.stable.clone();
    let stages = crate::domain::rollout::rollout_stages(
        &inner.opts.config.rollout.steps,
        version,
        stable.is_some(),
    );
    let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
    let id = inner.next_id();
    let title = format!("deploy {version} to {ENV_NAME}");
    let run = PipelineRun::new(id, PipelineKind::Rollout, ENV_NAME, &title, &refs, now_ms());
    inner.upsert_pipeline(run.clone());
    if s.canary.as_ref() != Some(version) {
        s.canary = Some(version.clone());
        s.weight = 0;
    }
    s.step = None;
    s.last_change = now_ms();
    let task = tokio::spawn(run_rollout(
        inner.clone(),
        id,
        run,
        stable.clone(),
        version.clone(),
    ));
    s.op = Some(Op {
        id,
        kind: OpKind::Rollout,
        task: Some(task),
    });
    drop(s);
    let text = format!("{title} (pipeline #{id}) requested by {}", actor.user);
    inner.log(Level::Info, &text);
    inner.emit_status();
    Ok(ActionAccepted {
        pipeline_id: id,
        env: ENV_NAME.into(),
        from_version: stable,
        to_version: Some(version.clone()),
        message: text,
    })
}

/// Set the canary weight, unless the operation was replaced meanwhile.
fn set_weight(inner: &Inner, op_id: u64, weight: u8, step: Option<(usize, usize)>) -> bool {
    {
        let mut s = inner.delivery.st();
        if s.op.as_ref().map(|o| o.id) != Some(op_id) {
            return false;
        }
        s.weight = weight;
        s.step = step;
        s.last_change = now_ms();
    }
    containers_changed(inner);
    inner.emit_status();
    true
}

async fn hold(inner: &Inner, run: &mut PipelineRun, stage: usize, secs: u64) {
    let total = Duration::from_secs(secs);
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if let Some(s) = run.stages.get_mut(stage) {
            s.progress = if total.is_zero() {
                1.0
            } else {
                (elapsed.as_secs_f64() / total.as_secs_f64()).min(1.0)
            };
        }
        inner.upsert_pipeline(run.clone());
        if elapsed >= total {
            return;
        }
        tokio::time::sleep((total - elapsed).min(PROGRESS_EVERY)).await;
    }
}

async fn run_rollout(
    inner: Arc<Inner>,
    id: u64,
    mut run: PipelineRun,
    stable: Option<Version>,
    canary: Version,
) {
    run.start_stage(0, now_ms());
    inner.upsert_pipeline(run.clone());
    let started = match inner.docker() {
        Err(e) => Err(e.to_string()),
        Ok(docker) => {
            let exists = has_running(&inner, &canary);
            if exists {
                Ok(())
            } else {
                create_version(&inner, &docker, &canary).await.map(|_| ())
            }
        }
    };
    let ready = match started {
        Ok(()) => {
            // Let the source see the new container before waiting on it.
            wait_ready(&inner, &canary, &mut run, 0).await
        }
        Err(e) => Err(e),
    };
    match ready {
        Ok(detail) => {
            run.finish_stage(0, StageStatus::Succeeded, detail, now_ms());
            inner.upsert_pipeline(run.clone());
        }
        Err(reason) => {
            run.finish_stage(
                0,
                StageStatus::Failed(reason.clone()),
                reason.clone(),
                now_ms(),
            );
            conclude_abort(&inner, id, run, &canary, reason, None).await;
            return;
        }
    }
    let Some(stable) = stable else {
        conclude_promote(&inner, id, run).await;
        return;
    };
    let cfg = inner.opts.config.rollout.clone();
    let total = cfg.steps.len();
    let Some(router) = inner.delivery.st().router.clone() else {
        conclude_abort(
            &inner,
            id,
            run,
            &canary,
            "the edge router stopped".into(),
            None,
        )
        .await;
        return;
    };
    for (step, s) in cfg.steps.steps.iter().enumerate() {
        let stage = step + 1;
        run.start_stage(stage, now_ms());
        if !set_weight(&inner, id, s.weight, Some((step, total))) {
            return;
        }
        router.reset_analysis();
        let mut extensions = 0u32;
        loop {
            hold(&inner, &mut run, stage, s.pause_secs).await;
            let c = router.analysis_sample(canary.as_str());
            let st = router.analysis_sample(stable.as_str());
            let verdict = analyze(&c, Some(&st), &cfg.analysis);
            let summary = verdict.summary();
            inner.add_verdict(step, verdict.clone());
            match decide(&cfg.steps, step, &verdict, extensions, cfg.max_extensions) {
                Decision::Extend => {
                    extensions += 1;
                    if let Some(x) = run.stages.get_mut(stage) {
                        x.detail =
                            format!("{summary}; extended {extensions}/{}", cfg.max_extensions);
                    }
                }
                Decision::Advance { .. } | Decision::Promote => {
                    run.finish_stage(stage, StageStatus::Succeeded, summary, now_ms());
                    inner.upsert_pipeline(run.clone());
                    break;
                }
                Decision::Rollback { reason } => {
                    run.finish_stage(
                        stage,
                        StageStatus::Failed(reason.clone()),
                        summary,
                        now_ms(),
                    );
                    conclude_abort(&inner, id, run, &canary, reason, Some(verdict)).await;
                    return;
                }
            }
        }
    }
    conclude_promote(&inner, id, run).await;
}

/// The canary becomes stable; the old stable's containers are removed.
async fn conclude_promote(inner: &Arc<Inner>, id: u64, mut run: PipelineRun) {
    let (old, new) = {
        let mut s = inner.delivery.st();
        if s.op.as_ref().map(|o| o.id) != Some(id) {
            return;
        }
        s.op = None;
        let Some(new) = s.canary.take() else {
            return;
        };
        let old = s.stable.replace(new.clone());
        if old.is_some() {
            s.previous = old.clone();
        }
        s.weight = 0;
        s.step = None;
        s.last_change = now_ms();
        (old, new)
    };
    containers_changed(inner);
    let last = run.stages.len().saturating_sub(1);
    run.start_stage(last, now_ms());
    let mut detail = format!("{new} is stable");
    if let Some(old) = &old {
        // Give in-flight requests to the old version a moment to finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let problems = remove_version(inner, old).await;
        if problems.is_empty() {
            detail.push_str(&format!("; {old} removed"));
        } else {
            detail.push_str(&format!("; removing {old}: {}", problems.join(", ")));
        }
    }
    if let Err(e) = inner.delivery.persist() {
        inner.log(Level::Error, e);
    }
    run.finish_stage(last, StageStatus::Succeeded, detail.clone(), now_ms());
    run.finish(StageStatus::Succeeded, now_ms());
    inner.upsert_pipeline(run);
    inner.log(Level::Info, format!("pipeline #{id}: {detail}"));
    inner.emit(RuntimeEvent::RolloutFinished {
        env: ENV_NAME.into(),
        pipeline_id: id,
        outcome: RolloutOutcome::Promoted { version: new },
    });
    inner.emit_status();
}

/// Give up on the canary: all traffic to stable, its containers removed.
async fn conclude_abort(
    inner: &Arc<Inner>,
    id: u64,
    mut run: PipelineRun,
    canary: &Version,
    reason: String,
    verdict: Option<Verdict>,
) {
    {
        let mut s = inner.delivery.st();
        if s.op.as_ref().map(|o| o.id) != Some(id) {
            return;
        }
        s.op = None;
    }
    remove_canary(inner, &reason).await;
    run.finish(StageStatus::Failed(reason.clone()), now_ms());
    inner.upsert_pipeline(run);
    inner.log(
        Level::Warn,
        format!("pipeline #{id}: {canary} rolled back automatically: {reason}"),
    );
    inner.emit(RuntimeEvent::RolloutFinished {
        env: ENV_NAME.into(),
        pipeline_id: id,
        outcome: RolloutOutcome::RolledBack {
            version: canary.clone(),
            reason,
            verdict: verdict.map(Box::new),
        },
    });
    inner.emit_status();
}

/// Traffic back to stable and the canary's containers removed.
async fn remove_canary(inner: &Arc<Inner>, why: &str) -> Option<Version> {
    let canary = {
        let mut s = inner.delivery.st();
        let c = s.canary.take();
        s.weight = 0;
        s.step = None;
        s.last_change = now_ms();
        c
    };
    containers_changed(inner);
    let canary = canary?;
    let stable = inner.delivery.snapshot().stable;
    if stable.as_ref() != Some(&canary) {
        let problems = remove_version(inner, &canary).await;
        if !problems.is_empty() {
            inner.log(
                Level::Error,
                format!("removing canary {canary} ({why}): {}", problems.join(", ")),
            );
        }
    }
    Some(canary)
}

/// `promote local local`: finish the running (or held) canary now.
pub(crate) async fn promote_now(
    inner: &Arc<Inner>,
    actor: &Actor,
) -> Result<ActionAccepted, RuntimeError> {
    let snap = inner.delivery.snapshot();
    let r = try_promote_now(inner, actor).await;
    inner
        .audit(
            actor,
            "promote",
            (snap.stable.as_ref(), snap.canary.as_ref()),
            outcome_of(&r),
            format!("canary promoted now via {}", actor.via),
        )
        .await;
    r
}

async fn try_promote_now(
    inner: &Arc<Inner>,
    actor: &Actor,
) -> Result<ActionAccepted, RuntimeError> {
    if inner.opts.read_only {
        return Err(RuntimeError::ReadOnly("promote".into()));
    }
    let (id, run, canary, stable) = {
        let mut s = inner.delivery.st();
        let Some(canary) = s.canary.clone() else {
            return Err(RuntimeError::Refused(format!(
                "{ENV_NAME} is the docker runtime's only environment; promote finishes a canary, and there is none (deploy a version first)"
            )));
        };
        if let Some(op) = &s.op {
            if op.kind == OpKind::Rollback {
                return Err(RuntimeError::Refused(format!(
                    "pipeline #{} is rolling {ENV_NAME} back",
                    op.id
                )));
            }
        }
        let ready = by_version(inner)
            .get(canary.as_str())
            .is_some_and(|cs| cs.iter().any(|c| c.is_ready()));
        if !ready {
            return Err(RuntimeError::Refused(format!(
                "canary {canary} has no ready container yet"
            )));
        }
        let id = match s.op.take() {
            Some(op) => {
                op.abort();
                op.id
            }
            None => inner.next_id(),
        };
        let run = inner.pipeline(id).unwrap_or_else(|| {
            PipelineRun::new(
                id,
                PipelineKind::Promotion,
                ENV_NAME,
                &format!("promote {canary}"),
                &["promote"],
                now_ms(),
            )
        });
        // Re-register so conclude_promote accepts it.
        s.op = Some(Op {
            id,
            kind: OpKind::Rollout,
            task: None,
        });
        (id, run, canary, s.stable.clone())
    };
    let mut run = run;
    for st in run.stages.iter_mut().filter(|s| !s.status.is_finished()) {
        if st.name != "promote" {
            st.status = StageStatus::Skipped;
            st.detail = format!("promoted now by {}", actor.user);
        }
    }
    let text = format!(
        "promote {canary} in {ENV_NAME} now (pipeline #{id}) requested by {}",
        actor.user
    );
    inner.log(Level::Warn, &text);
    conclude_promote(inner, id, run).await;
    Ok(ActionAccepted {
        pipeline_id: id,
        env: ENV_NAME.into(),
        from_version: stable,
        to_version: Some(canary),
        message: text,
    })
}

pub(crate) async fn rollback(
    inner: &Arc<Inner>,
    actor: &Actor,
) -> Result<ActionAccepted, RuntimeError> {
    let r = try_rollback(inner, actor).await;
    let (from, to) = match &r {
        Ok(a) => (a.from_version.clone(), a.to_version.clone()),
        Err(_) => (inner.delivery.snapshot().stable, None),
    };
    inner
        .audit(
            actor,
            "rollback",
            (from.as_ref(), to.as_ref()),
            outcome_of(&r),
            format!("via {}", actor.via),
        )
        .await;
    r
}

fn instant_run(inner: &Inner, kind: PipelineKind, title: &str, stages: &[(&str, String)]) -> u64 {
    let id = inner.next_id();
    let now = now_ms();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    let mut run = PipelineRun::new(id, kind, ENV_NAME, title, &names, now);
    for (n, (_, d)) in stages.iter().enumerate() {
        run.finish_stage(n, StageStatus::Succeeded, d.clone(), now);
    }
    run.finish(StageStatus::Succeeded, now);
    inner.upsert_pipeline(run);
    id
}

async fn try_rollback(inner: &Arc<Inner>, actor: &Actor) -> Result<ActionAccepted, RuntimeError> {
    if inner.opts.read_only {
        return Err(RuntimeError::ReadOnly("rollback".into()));
    }
    inner.docker()?;
    let (in_flight, aborted, stable, previous) = {
        let mut s = inner.delivery.st();
        if let Some(op) = &s.op {
            if op.kind == OpKind::Rollback {
                return Err(RuntimeError::Refused(format!(
                    "pipeline #{} is already rolling {ENV_NAME} back",
                    op.id
                )));
            }
        }
        let aborted = s.op.take().map(|op| {
            op.abort();
            op.id
        });
        (
            s.canary.clone(),
            aborted,
            s.stable.clone(),
            s.previous.clone(),
        )
    };
    if let Some(canary) = in_flight {
        let reason = format!("rollback requested by {}", actor.user);
        if let Some(id) = aborted {
            if let Some(mut run) = inner.pipeline(id) {
                run.cancel(&reason, now_ms());
                inner.upsert_pipeline(run);
            }
            inner.emit(RuntimeEvent::RolloutFinished {
                env: ENV_NAME.into(),
                pipeline_id: id,
                outcome: RolloutOutcome::Aborted {
                    reason: reason.clone(),
                },
            });
        }
        remove_canary(inner, &reason).await;
        let target = stable
            .as_ref()
            .map(|v| v.0.clone())
            .unwrap_or_else(|| "nothing".into());
        let what = match aborted {
            Some(id) => format!("pipeline #{id} cancelled, {canary} removed"),
            None => format!("{canary} removed"),
        };
        let id = instant_run(
            inner,
            PipelineKind::Rollback,
            &format!("roll back canary {canary} in {ENV_NAME}"),
            &[
                ("remove canary", what.clone()),
                ("route all traffic to stable", format!("100% to {target}")),
            ],
        );
        let text = format!("rolled back canary {canary} in {ENV_NAME}: {what}");
        inner.log(Level::Warn, &text);
        inner.emit_status();
        return Ok(ActionAccepted {
            pipeline_id: id,
            env: ENV_NAME.into(),
            from_version: Some(canary),
            to_version: stable,
            message: text,
        });
    }
    let (current, target) =
        crate::domain::rollout::rollback_target(ENV_NAME, stable.as_ref(), previous.as_ref())
            .map_err(RuntimeError::Refused)?;
    let id = inner.next_id();
    let stages = crate::domain::rollout::rollback_stages(&current, &target);
    let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
    let title = format!("roll back {ENV_NAME} from {current} to {target}");
    let run = PipelineRun::new(
        id,
        PipelineKind::Rollback,
        ENV_NAME,
        &title,
        &refs,
        now_ms(),
    );
    inner.upsert_pipeline(run.clone());
    {
        let mut s = inner.delivery.st();
        let task = tokio::spawn(run_rollback(
            inner.clone(),
            id,
            run,
            current.clone(),
            target.clone(),
        ));
        s.op = Some(Op {
            id,
            kind: OpKind::Rollback,
            task: Some(task),
        });
        s.last_change = now_ms();
    }
    let text = format!("{title} (pipeline #{id}) requested by {}", actor.user);
    inner.log(Level::Warn, &text);
    Ok(ActionAccepted {
        pipeline_id: id,
        env: ENV_NAME.into(),
        from_version: Some(current),
        to_version: Some(target),
        message: text,
    })
}

async fn run_rollback(
    inner: Arc<Inner>,
    id: u64,
    mut run: PipelineRun,
    current: Version,
    target: Version,
) {
    run.start_stage(0, now_ms());
    inner.upsert_pipeline(run.clone());
    let started = match inner.docker() {
        Err(e) => Err(e.to_string()),
        Ok(d) => {
            if has_running(&inner, &target) {
                Ok(())
            } else {
                create_version(&inner, &d, &target).await.map(|_| ())
            }
        }
    };
    let ready = match started {
        Ok(()) => wait_ready(&inner, &target, &mut run, 0).await,
        Err(e) => Err(e),
    };
    let finish_failed = |inner: &Arc<Inner>, mut run: PipelineRun, reason: String| {
        run.finish_stage(
            0,
            StageStatus::Failed(reason.clone()),
            reason.clone(),
            now_ms(),
        );
        run.finish(StageStatus::Failed(reason.clone()), now_ms());
        inner.upsert_pipeline(run);
        inner.log(
            Level::Error,
            format!("pipeline #{id}: rollback to {target} failed: {reason}"),
        );
        inner.emit(RuntimeEvent::RolloutFinished {
            env: ENV_NAME.into(),
            pipeline_id: id,
            outcome: RolloutOutcome::Aborted { reason },
        });
    };
    let detail = match ready {
        Ok(d) => d,
        Err(reason) => {
            inner.delivery.st().op = None;
            let _ = remove_version(&inner, &target).await;
            finish_failed(&inner, run, reason);
            inner.emit_status();
            return;
        }
    };
    run.finish_stage(0, StageStatus::Succeeded, detail, now_ms());
    run.start_stage(1, now_ms());
    {
        let mut s = inner.delivery.st();
        if s.op.as_ref().map(|o| o.id) != Some(id) {
            return;
        }
        s.op = None;
        s.stable = Some(target.clone());
        s.previous = Some(current.clone());
        s.canary = None;
        s.weight = 0;
        s.step = None;
        s.last_change = now_ms();
    }
    containers_changed(&inner);
    run.finish_stage(
        1,
        StageStatus::Succeeded,
        format!("100% to {target}"),
        now_ms(),
    );
    run.start_stage(2, now_ms());
    inner.upsert_pipeline(run.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let problems = remove_version(&inner, &current).await;
    let d = if problems.is_empty() {
        format!("{current} removed")
    } else {
        problems.join(", ")
    };
    run.finish_stage(2, StageStatus::Succeeded, d, now_ms());
    run.finish(StageStatus::Succeeded, now_ms());
    inner.upsert_pipeline(run);
    if let Err(e) = inner.delivery.persist() {
        inner.log(Level::Error, e);
    }
    inner.emit(RuntimeEvent::RolloutFinished {
        env: ENV_NAME.into(),
        pipeline_id: id,
        outcome: RolloutOutcome::RolledBack {
            version: current,
            reason: "rollback requested".into(),
            verdict: None,
        },
    });
    inner.emit_status();
}

pub(crate) async fn switch_traffic(
    inner: &Arc<Inner>,
    actor: &Actor,
    to_canary: bool,
) -> Result<ActionAccepted, RuntimeError> {
    let r = try_switch(inner, actor, to_canary);
    let (from, to) = match &r {
        Ok(a) => (a.from_version.clone(), a.to_version.clone()),
        Err(_) => (None, None),
    };
    let detail = format!(
        "{} via {}",
        if to_canary { "to canary" } else { "to stable" },
        actor.via
    );
    inner
        .audit(
            actor,
            "switch_traffic",
            (from.as_ref(), to.as_ref()),
            outcome_of(&r),
            detail,
        )
        .await;
    r
}

fn try_switch(
    inner: &Arc<Inner>,
    actor: &Actor,
    to_canary: bool,
) -> Result<ActionAccepted, RuntimeError> {
    if inner.opts.read_only {
        return Err(RuntimeError::ReadOnly("switch_traffic".into()));
    }
    router_ready(inner)?;
    let versions = by_version(inner);
    let ready = |v: &Version| {
        versions
            .get(v.as_str())
            .is_some_and(|cs| cs.iter().any(|c| c.is_ready()))
    };
    let (canary, stable, aborted) = {
        let mut s = inner.delivery.st();
        let Some(canary) = s.canary.clone() else {
            return Err(RuntimeError::Refused(format!(
                "{ENV_NAME} has no canary to switch traffic to or from"
            )));
        };
        if let Some(op) = &s.op {
            if op.kind == OpKind::Rollback {
                return Err(RuntimeError::Refused(format!(
                    "pipeline #{} is rolling {ENV_NAME} back",
                    op.id
                )));
            }
        }
        let Some(stable) = s.stable.clone() else {
            return Err(RuntimeError::Refused(format!(
                "{ENV_NAME} has no stable version to switch between"
            )));
        };
        if to_canary && !ready(&canary) {
            return Err(RuntimeError::Refused(format!(
                "canary {canary} has no ready container yet"
            )));
        }
        if !to_canary && !ready(&stable) {
            return Err(RuntimeError::Refused(format!(
                "stable {stable} has no ready container"
            )));
        }
        // The rollout pauses: the canary is kept, its analysis stops.
        let aborted = s.op.take().map(|op| {
            op.abort();
            op.id
        });
        s.weight = if to_canary { 100 } else { 0 };
        s.step = None;
        s.last_change = now_ms();
        (canary, stable, aborted)
    };
    let reason = format!("traffic switched by {}", actor.user);
    if let Some(id) = aborted {
        if let Some(mut run) = inner.pipeline(id) {
            run.cancel(&reason, now_ms());
            inner.upsert_pipeline(run);
        }
        inner.emit(RuntimeEvent::RolloutFinished {
            env: ENV_NAME.into(),
            pipeline_id: id,
            outcome: RolloutOutcome::Aborted { reason },
        });
    }
    containers_changed(inner);
    let (from, to) = if to_canary {
        (stable, canary.clone())
    } else {
        (canary.clone(), stable)
    };
    let mut stages = Vec::new();
    if let Some(id) = aborted {
        stages.push((
            "pause rollout",
            format!("pipeline #{id} stopped; canary {canary} kept"),
        ));
    }
    stages.push(("switch traffic", format!("100% to {to}")));
    let id = instant_run(
        inner,
        PipelineKind::Rollout,
        &format!("blue/green: switch {ENV_NAME} to {to}"),
        &stages,
    );
    let text = format!("blue/green: all traffic in {ENV_NAME} now goes to {to} (from {from})");
    inner.log(Level::Warn, &text);
    inner.emit_status();
    Ok(ActionAccepted {
        pipeline_id: id,
        env: ENV_NAME.into(),
        from_version: Some(from),
        to_version: Some(to),
        message: text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert_eq!(sanitize_name("v2.1+build/7"), "v2.1-build-7");
        assert!(validate_version(&Version::new("v2")).is_ok());
        assert!(validate_version(&Version::new("abc1234")).is_ok());
        assert!(validate_version(&Version::new("")).is_err());
        assert!(validate_version(&Version::new("v2;rm")).is_err());
        assert!(validate_version(&Version::new("x".repeat(65))).is_err());
    }
}
