//! Canary analysis on Prometheus data: a `VersionSample` per version over a
//! window (requests and errors with `increase`, quantiles with
//! `histogram_quantile`), judged by `domain::analysis::analyze`, with the
//! PromQL behind every value kept so a verdict can be checked by hand.

use std::time::Duration;

use chrono::Utc;

use super::{PromError, PrometheusClient, Sample};
use crate::config::PrometheusQueries;
use crate::domain::analysis::{analyze, Metric, Thresholds, Verdict, VersionSample};
use crate::sources::queries::{literal_regex, render};

/// The PromQL that produced each field of a `VersionSample`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionQueries {
    pub requests: String,
    pub errors: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    /// `None` when the query is configured empty (check disabled).
    pub server_errors: Option<String>,
    pub cpu_saturation: Option<String>,
    pub memory_saturation: Option<String>,
}

impl VersionQueries {
    /// `window` is the analysis window; `saturation` the one CPU and memory
    /// must stay above their limits for.
    pub fn new(
        q: &PrometheusQueries,
        env: &str,
        version: &str,
        window: Duration,
        saturation: Duration,
    ) -> Self {
        let (env, version) = (literal_regex(env), literal_regex(version));
        let r = |t: &str| render(t, &env, &version, window);
        let optional =
            |t: &str, w: Duration| (!t.trim().is_empty()).then(|| render(t, &env, &version, w));
        VersionQueries {
            requests: r(&q.requests),
            errors: r(&q.errors),
            p50: r(&q.p50),
            p95: r(&q.p95),
            p99: r(&q.p99),
            server_errors: optional(&q.server_errors, window),
            cpu_saturation: optional(&q.cpu_saturation, saturation),
            memory_saturation: optional(&q.memory_saturation, saturation),
        }
    }
}

/// Run an optional query; `None` when it is disabled.
async fn optional(
    client: &PrometheusClient,
    query: Option<&str>,
    at: Option<chrono::DateTime<Utc>>,
) -> Result<Option<Vec<Sample>>, PromError> {
    match query {
        None => Ok(None),
        Some(q) => client.instant_at(q, at).await.map(Some),
    }
}

/// A verdict and, per checked metric, the PromQL its value came from.
#[derive(Clone, Debug, PartialEq)]
pub struct PromVerdict {
    pub verdict: Verdict,
    pub queries: Vec<(Metric, String)>,
}

impl PromVerdict {
    pub fn query_for(&self, metric: Metric) -> Option<&str> {
        self.queries
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, q)| q.as_str())
    }
}

/// Sum of the finite, non-negative values (a counter's increase; "no data"
/// is zero).
fn total(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite() && *v > 0.0)
        .sum()
}

/// The worst finite quantile among the results (one is expected); NaN, the
/// quantile of empty buckets, means no traffic and reads as zero.
fn worst(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

/// Requests, errors and latency quantiles of `version` in `env` over the
/// `window` that ends now.
pub async fn version_sample(
    client: &PrometheusClient,
    queries: &PrometheusQueries,
    env: &str,
    version: &str,
    window: Duration,
) -> Result<VersionSample, PromError> {
    let saturation = Duration::from_secs(Thresholds::default().saturation_secs);
    version_sample_with_queries(client, queries, env, version, window, saturation)
        .await
        .map(|(s, _)| s)
}

/// Like [`version_sample`], also returning the PromQL that was run.
pub async fn version_sample_with_queries(
    client: &PrometheusClient,
    queries: &PrometheusQueries,
    env: &str,
    version: &str,
    window: Duration,
    saturation: Duration,
) -> Result<(VersionSample, VersionQueries), PromError> {
    let vq = VersionQueries::new(queries, env, version, window, saturation);
    // One evaluation time for all of them, so the values describe the same window.
    let at = Some(Utc::now());
    let (requests, errors, p50, p95, p99, server_errors, cpu, memory) = futures::try_join!(
        client.instant_at(&vq.requests, at),
        client.instant_at(&vq.errors, at),
        client.instant_at(&vq.p50, at),
        client.instant_at(&vq.p95, at),
        client.instant_at(&vq.p99, at),
        optional(client, vq.server_errors.as_deref(), at),
        optional(client, vq.cpu_saturation.as_deref(), at),
        optional(client, vq.memory_saturation.as_deref(), at),
    )?;
    // `increase` extrapolates, so counts are rounded; errors never exceed requests.
    let requests = total(&requests).round() as u64;
    let errors = (total(&errors).round() as u64).min(requests);
    // No 5xx series means none were answered; no CPU or memory series
    // means they are not measured (not that they are 0%).
    let server_errors = server_errors.map(|s| (total(&s).round() as u64).min(requests));
    let saturated = |s: Option<Vec<Sample>>| s.filter(|v| !v.is_empty()).map(|v| worst(&v));
    let sample = VersionSample {
        requests,
        errors,
        p50_ms: worst(&p50),
        p95_ms: worst(&p95),
        p99_ms: worst(&p99),
        server_errors,
        cpu_pct: saturated(cpu),
        memory_pct: saturated(memory),
    };
    Ok((sample, vq))
}

/// Judge `canary` against `stable` (when given) and the thresholds, on
/// Prometheus data over `window`.
pub async fn analyze_versions(
    client: &PrometheusClient,
    queries: &PrometheusQueries,
    env: &str,
    canary: &str,
    stable: Option<&str>,
    window: Duration,
    thresholds: &Thresholds,
) -> Result<PromVerdict, PromError> {
    let saturation = Duration::from_secs(thresholds.saturation_secs.max(1));
    let (canary_sample, cq) =
        version_sample_with_queries(client, queries, env, canary, window, saturation).await?;
    let stable_data = match stable {
        Some(v) => {
            Some(version_sample_with_queries(client, queries, env, v, window, saturation).await?)
        }
        None => None,
    };
    let mut verdict = analyze(
        &canary_sample,
        stable_data.as_ref().map(|(s, _)| s),
        thresholds,
    );
    let rate = |num: &str| format!("({num}) / ({})", cq.requests);
    let queries = verdict
        .checks
        .iter()
        .map(|c| {
            let q = match c.metric {
                Metric::Samples => cq.requests.clone(),
                Metric::ErrorRate => rate(&cq.errors),
                Metric::SuccessRate => rate(&format!("({}) - ({})", cq.requests, cq.errors)),
                Metric::P95Latency => cq.p95.clone(),
                Metric::P99Latency => cq.p99.clone(),
                Metric::ServerErrorRate => rate(cq.server_errors.as_deref().unwrap_or_default()),
                Metric::CpuSaturation => cq.cpu_saturation.clone().unwrap_or_default(),
                Metric::MemorySaturation => cq.memory_saturation.clone().unwrap_or_default(),
                Metric::P95VsStable => match &stable_data {
                    Some((_, sq)) => format!("{} vs {}", cq.p95, sq.p95),
                    None => cq.p95.clone(),
                },
            };
            (c.metric, q)
        })
        .collect::<Vec<_>>();
    verdict.source = Some("prometheus".into());
    verdict.queries = queries.clone();
    Ok(PromVerdict { verdict, queries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn s(v: f64) -> Sample {
        Sample {
            labels: BTreeMap::new(),
            ts: 0.0,
            value: v,
        }
    }

    #[test]
    fn totals_ignore_no_data_values() {
        assert_eq!(total(&[s(10.4), s(f64::NAN), s(-1.0), s(2.0)]), 12.4);
        assert_eq!(total(&[]), 0.0);
    }

    #[test]
    fn worst_quantile_ignores_nan() {
        assert_eq!(worst(&[s(f64::NAN), s(12.0), s(30.0)]), 30.0);
        assert_eq!(worst(&[s(f64::NAN)]), 0.0);
    }

    #[test]
    fn version_queries_pin_env_and_version() {
        let q = VersionQueries::new(
            &PrometheusQueries::default(),
            "staging",
            "v1.2",
            Duration::from_secs(45),
            Duration::from_secs(300),
        );
        let cpu = q.cpu_saturation.as_deref().unwrap();
        assert!(
            cpu.starts_with("min_over_time(") && cpu.contains("[300s:15s]"),
            "{cpu}"
        );
        let five = q.server_errors.as_deref().unwrap();
        assert!(
            five.contains(r#"code=~"5..""#) && five.contains("[45s]"),
            "{five}"
        );
        let none = VersionQueries::new(
            &PrometheusQueries {
                cpu_saturation: String::new(),
                ..Default::default()
            },
            "e",
            "v",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(none.cpu_saturation, None);
        for text in [&q.requests, &q.errors, &q.p50, &q.p95, &q.p99] {
            assert!(text.contains(r#"env=~"staging""#), "{text}");
            assert!(text.contains(r#"version=~"v1\\.2""#), "{text}");
            assert!(text.contains("[45s]"), "{text}");
        }
        assert!(q.requests.contains("increase("), "{}", q.requests);
        assert!(q.p95.contains("histogram_quantile(0.95"), "{}", q.p95);
    }
}
