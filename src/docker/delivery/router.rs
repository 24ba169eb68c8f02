//! The host edge router in front of the app service, its traffic generator
//! and 1 Hz metrics, and the router faults chaos applies.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::containers::{backend, by_version};
use crate::clock::now_ms;
use crate::docker::runtime::Inner;
use crate::docker::{ENV_NAME, MANAGED_LABEL};
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::domain::environment::Version;
use crate::domain::logs::Level;
use crate::domain::metrics::MetricPoint;
use crate::router::traffic::TrafficGenerator;
use crate::router::{RouterConfig, RouterFault, RouterHandle};
use crate::runtime::RuntimeEvent;

const METRICS_EVERY: Duration = Duration::from_secs(1);

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

/// Stop the router, its traffic and metrics (the controller is stopped first).
pub(crate) async fn shutdown(inner: &Arc<Inner>) {
    let (router, tasks) = {
        let mut s = inner.delivery.st();
        if let Some(t) = s.traffic_stop.take() {
            t.send_replace(true);
        }
        (s.router.take(), std::mem::take(&mut s.tasks))
    };
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
    // Until the delivery controller owns the stable version.
    if !stable_exists && !s.driven {
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
