//! Where a step's samples come from, chosen once from
//! `rollout.analysis_source` for every runtime: the edge router's own
//! counters, or PromQL against Prometheus.

use std::time::Duration;

use super::backend::DeliveryBackend;
use crate::config::{AnalysisSource, Config, PrometheusQueries};
use crate::domain::analysis::{analyze, Thresholds, Verdict};
use crate::domain::environment::Version;
use crate::sources::prometheus::{analyze_versions, PrometheusClient};

/// Shortest window a Prometheus analysis looks back over (two scrapes at
/// the usual 15 s interval make a rate).
const MIN_PROM_WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub enum Analyzer {
    Router,
    /// Boxed: a client is large, and most setups judge on the router.
    Prometheus(Box<PromAnalysis>),
}

/// What a Prometheus-based analysis needs.
#[derive(Clone)]
pub struct PromAnalysis {
    pub client: PrometheusClient,
    pub queries: PrometheusQueries,
}

impl Analyzer {
    /// The analyzer `rollout.analysis_source` asks for, or why it cannot be built.
    pub fn from_config(cfg: &Config) -> Result<Analyzer, String> {
        match cfg.rollout.analysis_source {
            AnalysisSource::Router => Ok(Analyzer::Router),
            AnalysisSource::Prometheus => {
                let client = PrometheusClient::new(&cfg.prometheus)
                    .map_err(|e| format!("prometheus: {e}"))?;
                Ok(Analyzer::Prometheus(Box::new(PromAnalysis {
                    client,
                    queries: cfg.prometheus.queries.clone(),
                })))
            }
        }
    }

    /// Judge `canary` (against `stable` when given) over the last `window`.
    /// The note says when Prometheus failed and the router judged instead.
    pub async fn judge(
        &self,
        backend: &dyn DeliveryBackend,
        env: &str,
        canary: &Version,
        stable: Option<&Version>,
        window: Duration,
        thresholds: &Thresholds,
    ) -> (Verdict, Option<String>) {
        let router_verdict = || {
            let c = backend.analysis_sample(canary);
            let s = stable.map(|s| backend.analysis_sample(s));
            let mut v = analyze(&c, s.as_ref(), thresholds);
            v.source = Some("router".into());
            v
        };
        match self {
            Analyzer::Router => (router_verdict(), None),
            Analyzer::Prometheus(p) => {
                match analyze_versions(
                    &p.client,
                    &p.queries,
                    env,
                    canary.as_str(),
                    stable.map(Version::as_str),
                    window.max(MIN_PROM_WINDOW),
                    thresholds,
                )
                .await
                {
                    Ok(pv) => (pv.verdict, None),
                    // A failing Prometheus must not decide a rollout: judge
                    // on the router and say so.
                    Err(e) => (
                        router_verdict(),
                        Some(format!("prometheus failed ({e}); judged on the router")),
                    ),
                }
            }
        }
    }
}
