//! The live metrics source: every `step_secs`, run the configured queries
//! for all environments at one evaluation time and emit one `MetricPoint`
//! per (env, version) found, plus the source's state when it changes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{PromError, PrometheusClient, Sample};
use crate::config::PrometheusConfig;
use crate::domain::metrics::{series_name, MetricPoint};
use crate::runtime::{RuntimeEvent, SourceState};
use crate::sources::queries::{any_of, render, ANY};

/// Name under which the state is reported (`RuntimeEvent::Source`).
pub const SOURCE_NAME: &str = "prometheus";
/// Longest wait between attempts while Prometheus is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Rps,
    ErrorRate,
    P50,
    P95,
    P99,
    Cpu,
    Mem,
}

impl Field {
    fn set(self, p: &mut MetricPoint, v: f64) {
        // NaN is "no data" (0/0 with no traffic, a quantile of empty
        // buckets); infinities would wreck the sparklines' scale.
        let v = if v.is_finite() { v } else { 0.0 };
        match self {
            Field::Rps => p.rps = v,
            Field::ErrorRate => p.error_rate = v,
            Field::P50 => p.p50_ms = v,
            Field::P95 => p.p95_ms = v,
            Field::P99 => p.p99_ms = v,
            Field::Cpu => p.cpu_pct = v,
            Field::Mem => p.mem_mib = v,
        }
    }
}

/// The rendered PromQL of one round.
struct LiveQueries(Vec<(Field, String)>);

impl LiveQueries {
    fn new(cfg: &PrometheusConfig, envs: &[String]) -> Self {
        let env = any_of(envs);
        let range = Duration::from_secs(cfg.window_secs.max(1));
        let q = &cfg.queries;
        let r = |t: &str| render(t, &env, ANY, range);
        LiveQueries(vec![
            (Field::Rps, r(&q.request_rate)),
            (Field::ErrorRate, r(&q.error_rate)),
            (Field::P50, r(&q.p50)),
            (Field::P95, r(&q.p95)),
            (Field::P99, r(&q.p99)),
            (Field::Cpu, r(&q.cpu)),
            (Field::Mem, r(&q.memory)),
        ])
    }
}

/// Points of one round, and why it was not entirely healthy.
struct Round {
    points: BTreeMap<(String, String), MetricPoint>,
    problem: Option<String>,
}

async fn round(client: &PrometheusClient, queries: &LiveQueries) -> Result<Round, PromError> {
    let at = Utc::now();
    let ts = at.timestamp_millis();
    let results = futures::future::join_all(
        queries
            .0
            .iter()
            .map(|(_, q)| client.instant_at(q, Some(at))),
    )
    .await;
    let mut points: BTreeMap<(String, String), MetricPoint> = BTreeMap::new();
    let mut failures: Vec<PromError> = Vec::new();
    let mut unlabelled = 0usize;
    for ((field, _), result) in queries.0.iter().zip(results) {
        let samples: Vec<Sample> = match result {
            Ok(s) => s,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for s in samples {
            let (Some(env), Some(version)) = (s.labels.get("env"), s.labels.get("version")) else {
                unlabelled += 1;
                continue;
            };
            let p = points
                .entry((env.clone(), version.clone()))
                .or_insert_with(|| MetricPoint {
                    ts,
                    ..Default::default()
                });
            field.set(p, s.value);
        }
    }
    let total = queries.0.len();
    if !failures.is_empty() && failures.len() == total {
        // Nothing answered: report the first failure as the reason.
        return Err(failures.swap_remove(0));
    }
    let mut problems = Vec::new();
    if let Some(first) = failures.first() {
        problems.push(format!(
            "{} of {total} queries failed: {first}",
            failures.len()
        ));
    }
    if unlabelled > 0 {
        problems.push(format!(
            "{unlabelled} result(s) without env/version labels ignored"
        ));
    }
    Ok(Round {
        points,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// Sends the source's state only when it changes.
struct StateReporter {
    tx: mpsc::Sender<RuntimeEvent>,
    last: Option<SourceState>,
}

impl StateReporter {
    /// False when nobody listens any more.
    async fn set(&mut self, state: SourceState) -> bool {
        if self.last.as_ref() == Some(&state) {
            return true;
        }
        self.last = Some(state.clone());
        self.tx
            .send(RuntimeEvent::Source {
                name: SOURCE_NAME.into(),
                state,
            })
            .await
            .is_ok()
    }
}

/// Poll Prometheus every `cfg.step_secs` for the given environments (all
/// environments when empty) until `tx` is closed. Never panics; failures are
/// reported as `SourceState::Degraded` and retried with backoff.
pub fn spawn_metrics_source(
    cfg: PrometheusConfig,
    envs: Vec<String>,
    tx: mpsc::Sender<RuntimeEvent>,
) -> JoinHandle<()> {
    tokio::spawn(run(cfg, envs, Duration::ZERO, tx))
}

/// Like [`spawn_metrics_source`], first filling `history` (the pane's time
/// window) with range queries at the same step, so sparklines start full.
pub fn spawn_metrics_source_with_history(
    cfg: PrometheusConfig,
    envs: Vec<String>,
    history: Duration,
    tx: mpsc::Sender<RuntimeEvent>,
) -> JoinHandle<()> {
    tokio::spawn(run(cfg, envs, history, tx))
}

/// Most points one backfill sends (per series, it is `history / step`).
const MAX_BACKFILL_POINTS: usize = 100_000;

/// The window before now, one point per `step` per (env, version), oldest first.
async fn backfill(
    client: &PrometheusClient,
    queries: &LiveQueries,
    history: Duration,
    step: Duration,
) -> Result<Vec<((String, String), MetricPoint)>, PromError> {
    let end = Utc::now();
    let start = end - chrono::Duration::from_std(history).unwrap_or(chrono::Duration::zero());
    let results = futures::future::join_all(
        queries
            .0
            .iter()
            .map(|(_, q)| client.range(q, start, end, step)),
    )
    .await;
    let mut points: BTreeMap<(i64, String, String), MetricPoint> = BTreeMap::new();
    for ((field, _), result) in queries.0.iter().zip(results) {
        for series in result? {
            let (Some(env), Some(version)) =
                (series.labels.get("env"), series.labels.get("version"))
            else {
                continue;
            };
            for (t, v) in series.points {
                let ts = (t * 1000.0).round() as i64;
                if points.len() >= MAX_BACKFILL_POINTS {
                    break;
                }
                let p = points
                    .entry((ts, env.clone(), version.clone()))
                    .or_insert_with(|| MetricPoint {
                        ts,
                        ..Default::default()
                    });
                field.set(p, v);
            }
        }
    }
    Ok(points
        .into_iter()
        .map(|((_, env, version), p)| ((env, version), p))
        .collect())
}

async fn run(
    cfg: PrometheusConfig,
    envs: Vec<String>,
    history: Duration,
    tx: mpsc::Sender<RuntimeEvent>,
) {
    let mut state = StateReporter { tx, last: None };
    if !state.set(SourceState::Connecting).await {
        return;
    }
    let client = match PrometheusClient::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            // A configuration error does not heal by retrying.
            state.set(SourceState::Degraded(e.to_string())).await;
            return;
        }
    };
    let queries = LiveQueries::new(&cfg, &envs);
    let step = Duration::from_secs(cfg.step_secs.max(1));
    if !history.is_zero() {
        // History is a bonus: if it fails, the live rounds report why.
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1)) * 2;
        if let Ok(Ok(points)) =
            tokio::time::timeout(timeout, backfill(&client, &queries, history, step)).await
        {
            for ((env, version), point) in points {
                let ev = RuntimeEvent::Metrics {
                    env,
                    version: series_name(&version, SOURCE_NAME),
                    point,
                };
                if state.tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
    }
    let mut backoff = step;
    loop {
        let started = Instant::now();
        // Newest wins: a round still running when the next is due is
        // cancelled (dropping its requests), so rounds never pile up.
        let outcome = tokio::time::timeout(step, round(&client, &queries)).await;
        let wait = match outcome {
            Ok(Ok(r)) => {
                backoff = step;
                let next = match r.problem {
                    Some(why) => SourceState::Degraded(why),
                    None => SourceState::Ok,
                };
                if !state.set(next).await {
                    return;
                }
                for ((env, version), point) in r.points {
                    // Keyed by source: the runtime may report the same version.
                    let ev = RuntimeEvent::Metrics {
                        env,
                        version: series_name(&version, SOURCE_NAME),
                        point,
                    };
                    if state.tx.send(ev).await.is_err() {
                        return;
                    }
                }
                step.saturating_sub(started.elapsed())
            }
            Ok(Err(e)) => {
                if !state.set(SourceState::Degraded(e.to_string())).await {
                    return;
                }
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF.max(step));
                w
            }
            Err(_) => {
                let why = format!(
                    "queries took longer than the {}s step; round cancelled",
                    step.as_secs()
                );
                if !state.set(SourceState::Degraded(why)).await {
                    return;
                }
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF.max(step));
                w
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_queries_cover_every_field_with_the_envs_substituted() {
        let cfg = PrometheusConfig::default();
        let q = LiveQueries::new(&cfg, &["staging".into(), "prod.eu".into()]);
        assert_eq!(q.0.len(), 7);
        for (_, text) in &q.0 {
            assert!(text.contains(r#"env=~"staging|prod\\.eu""#), "{text}");
            assert!(text.contains(r#"version=~".+""#), "{text}");
            for placeholder in ["{env}", "{version}", "{range}"] {
                assert!(!text.contains(placeholder), "{text}");
            }
        }
        assert!(q.0[0].1.contains("[30s]"), "{}", q.0[0].1);
    }

    #[test]
    fn non_finite_values_become_zero() {
        let mut p = MetricPoint::default();
        Field::P99.set(&mut p, f64::INFINITY);
        Field::ErrorRate.set(&mut p, f64::NAN);
        Field::Rps.set(&mut p, 7.5);
        assert_eq!((p.p99_ms, p.error_rate, p.rps), (0.0, 0.0, 7.5));
    }

    #[tokio::test]
    async fn state_is_reported_only_on_change() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut s = StateReporter { tx, last: None };
        assert!(s.set(SourceState::Connecting).await);
        assert!(s.set(SourceState::Connecting).await);
        assert!(s.set(SourceState::Ok).await);
        assert!(s.set(SourceState::Ok).await);
        drop(s);
        let mut got = Vec::new();
        while let Some(ev) = rx.recv().await {
            got.push(ev);
        }
        assert_eq!(got.len(), 2, "{got:?}");
    }
}
