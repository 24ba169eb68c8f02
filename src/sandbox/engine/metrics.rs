//! Per-environment sampler: once a second, take the router's window per
//! version, add CPU and memory of the version's processes, emit `Metrics`
//! events, and hand the window to the engine for chaos observation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::core::Internal;
use super::state::VersionPids;
use crate::clock::now_ms;
use crate::domain::metrics::MetricPoint;
use crate::router::{RouterHandle, WindowStats};
use crate::runtime::RuntimeEvent;
use crate::sandbox::procstat::ProcSampler;

const PERIOD: Duration = Duration::from_secs(1);

/// Summed CPU% and RSS MiB per version.
type Usage = BTreeMap<String, (f64, f64)>;

pub(super) fn spawn(
    env: Arc<str>,
    router: RouterHandle,
    pids: watch::Receiver<VersionPids>,
    events: broadcast::Sender<RuntimeEvent>,
    internal: mpsc::Sender<Internal>,
) -> JoinHandle<()> {
    tokio::spawn(run(env, router, pids, events, internal))
}

async fn run(
    env: Arc<str>,
    router: RouterHandle,
    pids: watch::Receiver<VersionPids>,
    events: broadcast::Sender<RuntimeEvent>,
    internal: mpsc::Sender<Internal>,
) {
    let mut sampler = Some(ProcSampler::new());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PERIOD, PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        tick.tick().await;
        let elapsed = last.elapsed().as_secs_f64().max(0.001);
        last = Instant::now();
        let windows = router.take_window();
        let pid_map = pids.borrow().clone();
        // /proc reads are blocking file IO: keep them off the async workers.
        let s = sampler.take().unwrap_or_default();
        let usage = match tokio::task::spawn_blocking(move || {
            let mut s = s;
            let usage = sample_usage(&mut s, &pid_map);
            (s, usage)
        })
        .await
        {
            Ok((s, usage)) => {
                sampler = Some(s);
                usage
            }
            // The sampler is lost with the failed task; a fresh one starts next second.
            Err(_) => Usage::new(),
        };
        let now = now_ms();
        for (version, point) in points(&windows, &usage, elapsed, now) {
            let _ = events.send(RuntimeEvent::Metrics {
                env: env.to_string(),
                version,
                point,
            });
        }
        if internal
            .send(Internal::Window {
                env: env.clone(),
                windows,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

fn sample_usage(s: &mut ProcSampler, pids: &VersionPids) -> Usage {
    pids.iter()
        .map(|(v, ps)| {
            let (cpu, rss) = ps
                .iter()
                .filter_map(|p| s.sample(*p))
                .fold((0.0, 0.0), |(c, r), x| (c + x.cpu_pct, r + x.rss_mib));
            (v.clone(), (cpu, rss))
        })
        .collect()
}

/// One point per version seen by the router or running processes.
fn points(
    windows: &BTreeMap<String, WindowStats>,
    usage: &Usage,
    elapsed_secs: f64,
    now: i64,
) -> Vec<(String, MetricPoint)> {
    let versions: BTreeSet<&String> = windows.keys().chain(usage.keys()).collect();
    versions
        .into_iter()
        .map(|v| {
            let w = windows.get(v).cloned().unwrap_or_default();
            let (cpu, mem) = usage.get(v).copied().unwrap_or((0.0, 0.0));
            let error_rate = if w.requests == 0 {
                0.0
            } else {
                w.errors as f64 / w.requests as f64
            };
            (
                v.clone(),
                MetricPoint {
                    ts: now,
                    rps: w.requests as f64 / elapsed_secs,
                    error_rate,
                    p50_ms: w.p50_ms,
                    p95_ms: w.p95_ms,
                    p99_ms: w.p99_ms,
                    cpu_pct: cpu,
                    mem_mib: mem,
                },
            )
        })
        .collect()
}

/// Environment-wide error rate, worst p99 and error count of one window.
pub(super) fn env_wide(windows: &BTreeMap<String, WindowStats>) -> (f64, f64, u64) {
    let requests: u64 = windows.values().map(|w| w.requests).sum();
    let errors: u64 = windows.values().map(|w| w.errors).sum();
    let p99 = windows
        .values()
        .filter(|w| w.requests > 0)
        .map(|w| w.p99_ms)
        .fold(0.0, f64::max);
    let rate = if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    };
    (rate, p99, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(requests: u64, errors: u64, p99: f64) -> WindowStats {
        WindowStats {
            requests,
            errors,
            p50_ms: p99 / 4.0,
            p95_ms: p99 / 2.0,
            p99_ms: p99,
        }
    }

    #[test]
    fn points_merge_router_windows_and_process_usage() {
        let mut windows = BTreeMap::new();
        windows.insert("v1".to_string(), w(20, 2, 40.0));
        let mut usage = Usage::new();
        usage.insert("v1".to_string(), (12.5, 30.0));
        usage.insert("v2".to_string(), (3.0, 20.0));
        let pts = points(&windows, &usage, 2.0, 99);
        assert_eq!(pts.len(), 2);
        let (v, p) = &pts[0];
        assert_eq!(v, "v1");
        assert_eq!(p.rps, 10.0);
        assert!((p.error_rate - 0.1).abs() < 1e-9);
        assert_eq!(p.cpu_pct, 12.5);
        assert_eq!(p.ts, 99);
        // A version with processes but no traffic still gets a point.
        assert_eq!(pts[1].0, "v2");
        assert_eq!(pts[1].1.rps, 0.0);
        assert_eq!(pts[1].1.mem_mib, 20.0);
    }

    #[test]
    fn env_wide_sums_errors_and_takes_worst_p99() {
        let mut windows = BTreeMap::new();
        windows.insert("v1".to_string(), w(30, 0, 20.0));
        windows.insert("v2".to_string(), w(10, 5, 400.0));
        windows.insert("v3".to_string(), w(0, 0, 900.0));
        let (rate, p99, errors) = env_wide(&windows);
        assert!((rate - 0.125).abs() < 1e-9);
        assert_eq!(p99, 400.0);
        assert_eq!(errors, 5);
        assert_eq!(env_wide(&BTreeMap::new()), (0.0, 0.0, 0));
    }
}
