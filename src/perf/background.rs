//! Load in the background while something else is measured (the chaos
//! suite): the generator, closed loop, against an environment's router.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::domain::metrics::{series_name, MetricPoint, LOAD_SOURCE};
use crate::runtime::{Runtime, RuntimeEvent};

/// The load running in the background; [`abort`](Self::abort) ends it.
pub struct BackgroundLoad {
    task: tokio::task::JoinHandle<()>,
    live: Arc<super::generator::Live>,
    /// Where it goes, as written (`127.0.0.1:8180`, `shop.local:80`).
    pub target: String,
}

impl BackgroundLoad {
    pub fn abort(&self) {
        self.task.abort();
    }

    /// What the load's clients saw, once a second, as `env`'s series
    /// `all@load`: requests, errors and latency quantiles of that second,
    /// with CPU and memory left at 0 (a client cannot see them). For a
    /// runtime that publishes no request figures of its own. Ends when the
    /// receiver is dropped.
    pub fn figures(&self, env: &str) -> mpsc::Receiver<RuntimeEvent> {
        let (tx, rx) = mpsc::channel(64);
        let live = self.live.clone();
        let env = env.to_string();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = (Instant::now(), counts(&live));
            loop {
                tick.tick().await;
                let now = (Instant::now(), counts(&live));
                let point = interval_point(&live, last, now);
                last = now;
                let ev = RuntimeEvent::Metrics {
                    env: env.clone(),
                    version: series_name("all", LOAD_SOURCE),
                    point,
                };
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
        rx
    }
}

/// (requests, errors) counted so far.
fn counts(live: &super::generator::Live) -> (u64, u64) {
    (
        live.requests.load(Ordering::Relaxed),
        live.errors.load(Ordering::Relaxed),
    )
}

/// The figures between two readings of the counters.
fn interval_point(
    live: &super::generator::Live,
    (then, (req0, err0)): (Instant, (u64, u64)),
    (now, (req1, err1)): (Instant, (u64, u64)),
) -> MetricPoint {
    let secs = now.duration_since(then).as_secs_f64().max(1e-3);
    let requests = req1.saturating_sub(req0);
    let errors = err1.saturating_sub(err0);
    let (p50_ms, p95_ms, p99_ms) = live.take_window_quantiles();
    MetricPoint {
        ts: now_ms(),
        rps: requests as f64 / secs,
        error_rate: match requests {
            0 => 0.0,
            n => errors as f64 / n as f64,
        },
        p50_ms,
        p95_ms,
        p99_ms,
        cpu_pct: 0.0,
        mem_mib: 0.0,
    }
}

impl Drop for BackgroundLoad {
    /// No load outlives the run it was for, whichever way that ends.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keep `users` connections busy against `env`'s router until aborted (at
/// most `MAX_DURATION`); `None` for no users.
pub async fn background_load(
    rt: &dyn Runtime,
    env: &str,
    users: u32,
    paths: &[String],
) -> Result<Option<BackgroundLoad>, String> {
    if users == 0 {
        return Ok(None);
    }
    let envs = rt.status().await.map_err(|e| e.to_string())?;
    let target = super::router_target(&envs, env, rt.name()).map_err(|e| e.to_string())?;
    let endpoints = if paths.is_empty() {
        vec!["/".to_string()]
    } else {
        paths.to_vec()
    };
    let spec = super::LoadSpec {
        target,
        endpoints: endpoints
            .into_iter()
            .map(|path| super::Endpoint { path, weight: 1 })
            .collect(),
        pacing: super::Pacing::Closed,
        concurrency: users as usize,
        stop: super::Stop::Duration(super::MAX_DURATION),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(5),
    };
    let target = crate::domain::sanitize::sanitize_str(&spec.target.host);
    let window = super::generator::new_histogram().map_err(|e| e.to_string())?;
    let live = Arc::new(super::generator::Live {
        window: Some(Mutex::new(window)),
        ..super::generator::Live::default()
    });
    let running = live.clone();
    let task = tokio::spawn(async move {
        // The runtime's own metrics are judged where it has them; these
        // figures only where it has none (`figures`).
        let _ = super::generator::run(&spec, running).await;
    });
    Ok(Some(BackgroundLoad { task, live, target }))
}
