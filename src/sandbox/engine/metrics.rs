//! Per-environment sampler: once a second, take the router's window per
//! version, add CPU and memory of the version's processes, emit `Metrics`
//! events, publish each version's process CPU seconds and RSS on the
//! router's `/metrics`, and hand the window to the engine for chaos
//! observation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::core::Internal;
use super::state::VersionPids;
use crate::clock::now_ms;
use crate::domain::metrics::MetricPoint;
use crate::router::{ProcessUsage, RouterHandle, WindowStats};
use crate::runtime::RuntimeEvent;
use crate::sandbox::procstat::{ProcSample, ProcSampler};

const PERIOD: Duration = Duration::from_secs(1);

/// One second's reading of a version's processes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct VersionUsage {
    /// Summed percent of one core.
    cpu_pct: f64,
    /// Summed RSS in MiB.
    rss_mib: f64,
    /// Summed RSS in bytes.
    rss_bytes: u64,
    /// CPU seconds used since the previous reading.
    cpu_secs: f64,
    /// Processes that could be read (0: the version has no sample).
    sampled: usize,
}

/// Usage per version with running (or starting) processes.
type Usage = BTreeMap<String, VersionUsage>;

/// The `/proc` sampler and the CPU counters built from it. They live and are
/// lost together, so a fresh sampler (which sees each process's whole CPU
/// time again) also starts fresh counters instead of counting twice.
#[derive(Default)]
struct UsageSampler {
    procs: ProcSampler,
    /// CPU seconds per version since it was first sampled; a version whose
    /// processes are all gone is dropped (Prometheus sees a counter reset if
    /// it comes back).
    cpu_totals: BTreeMap<String, f64>,
}

impl UsageSampler {
    fn sample(&mut self, pids: &VersionPids) -> (Usage, BTreeMap<String, ProcessUsage>) {
        let usage = sample_usage(&mut self.procs, pids);
        let published = accumulate(&mut self.cpu_totals, &usage);
        (usage, published)
    }
}

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
    let mut sampler = Some(UsageSampler::default());
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
        let (usage, published) = match tokio::task::spawn_blocking(move || {
            let mut s = s;
            let out = s.sample(&pid_map);
            (s, out)
        })
        .await
        {
            Ok((s, out)) => {
                sampler = Some(s);
                out
            }
            // The sampler is lost with the failed task; a fresh one starts next second.
            Err(_) => Default::default(),
        };
        router.set_process_usage(published);
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
            let usage = ps
                .iter()
                .filter_map(|p| s.sample(*p))
                .fold(VersionUsage::default(), add_sample);
            (v.clone(), usage)
        })
        .collect()
}

fn add_sample(u: VersionUsage, x: ProcSample) -> VersionUsage {
    VersionUsage {
        cpu_pct: u.cpu_pct + x.cpu_pct,
        rss_mib: u.rss_mib + x.rss_mib,
        rss_bytes: u.rss_bytes.saturating_add(x.rss_bytes),
        cpu_secs: u.cpu_secs + x.cpu_secs,
        sampled: u.sampled + 1,
    }
}

/// Add this reading's CPU seconds to the per-version counters and return what
/// to publish: only versions with at least one process read this time.
fn accumulate(totals: &mut BTreeMap<String, f64>, usage: &Usage) -> BTreeMap<String, ProcessUsage> {
    totals.retain(|v, _| usage.contains_key(v));
    let mut published = BTreeMap::new();
    for (version, u) in usage.iter().filter(|(_, u)| u.sampled > 0) {
        let total = totals.entry(version.clone()).or_insert(0.0);
        *total += u.cpu_secs;
        published.insert(
            version.clone(),
            ProcessUsage {
                cpu_seconds_total: *total,
                resident_bytes: u.rss_bytes,
            },
        );
    }
    published
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
            let (cpu, mem) = usage.get(v).map_or((0.0, 0.0), |u| (u.cpu_pct, u.rss_mib));
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
        usage.insert("v1".to_string(), read(12.5, 30.0, 0.0, 1));
        usage.insert("v2".to_string(), read(3.0, 20.0, 0.0, 1));
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

    fn read(cpu_pct: f64, rss_mib: f64, cpu_secs: f64, sampled: usize) -> VersionUsage {
        VersionUsage {
            cpu_pct,
            rss_mib,
            rss_bytes: (rss_mib * 1024.0 * 1024.0) as u64,
            cpu_secs,
            sampled,
        }
    }

    #[test]
    fn cpu_counters_grow_per_version_and_skip_unsampled_versions() {
        let mut totals = BTreeMap::new();
        let mut usage = Usage::new();
        usage.insert("v1".to_string(), read(50.0, 10.0, 1.5, 2));
        // Processes known but none readable yet: no series.
        usage.insert("v2".to_string(), read(0.0, 0.0, 0.0, 0));
        let first = accumulate(&mut totals, &usage);
        assert_eq!(first.keys().collect::<Vec<_>>(), vec!["v1"]);
        assert_eq!(first["v1"].cpu_seconds_total, 1.5);
        assert_eq!(first["v1"].resident_bytes, 10 * 1024 * 1024);

        usage.insert("v1".to_string(), read(25.0, 12.0, 0.25, 2));
        usage.insert("v2".to_string(), read(1.0, 5.0, 0.5, 1));
        let second = accumulate(&mut totals, &usage);
        assert_eq!(second["v1"].cpu_seconds_total, 1.75);
        assert_eq!(second["v1"].resident_bytes, 12 * 1024 * 1024);
        assert_eq!(second["v2"].cpu_seconds_total, 0.5);

        // v1's processes are gone: its series and its counter go.
        usage.remove("v1");
        usage.insert("v2".to_string(), read(0.0, 5.0, 0.0, 1));
        let third = accumulate(&mut totals, &usage);
        assert!(!third.contains_key("v1"));
        assert!(!totals.contains_key("v1"));
        assert_eq!(third["v2"].cpu_seconds_total, 0.5);
    }

    #[test]
    fn sampling_real_processes_reports_rss_and_cpu() {
        let mut pids = VersionPids::new();
        pids.insert("v1".to_string(), vec![std::process::id()]);
        // Pid max on Linux is at most 2^22: this version has no readable process.
        pids.insert("gone".to_string(), vec![u32::MAX - 1]);
        let mut s = UsageSampler::default();
        let (usage, published) = s.sample(&pids);
        assert_eq!(usage["gone"].sampled, 0);
        assert_eq!(published.keys().collect::<Vec<_>>(), vec!["v1"]);
        assert!(published["v1"].resident_bytes > 0);
        let first = published["v1"].cpu_seconds_total;
        let (_, again) = s.sample(&pids);
        assert!(again["v1"].cpu_seconds_total >= first);
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
