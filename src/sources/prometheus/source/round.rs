//! One polling round: the rendered queries, their answers as points, and the
//! range-query backfill of the pane's window.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use crate::config::PrometheusConfig;
use crate::domain::metrics::MetricPoint;
use crate::sources::prometheus::{PromError, PrometheusClient, Sample};
use crate::sources::queries::{any_of, render, ANY};

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
pub(super) struct LiveQueries(Vec<(Field, String)>);

impl LiveQueries {
    pub(super) fn new(cfg: &PrometheusConfig, envs: &[String]) -> Self {
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
pub(super) struct Round {
    pub(super) points: BTreeMap<(String, String), MetricPoint>,
    pub(super) problem: Option<String>,
}

pub(super) async fn round(
    client: &PrometheusClient,
    queries: &LiveQueries,
) -> Result<Round, PromError> {
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

/// Most points one backfill sends (per series, it is `history / step`).
const MAX_BACKFILL_POINTS: usize = 100_000;

/// The window before now, one point per `step` per (env, version), oldest first.
pub(super) async fn backfill(
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
}
