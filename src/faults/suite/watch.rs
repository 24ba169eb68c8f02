//! What the suite reads from a runtime's event stream while it runs: the
//! environment's metrics (one sample per second across its versions), its
//! ready instance count, and the experiment it is waiting for. Series of an
//! external source (`v2@prometheus`) are kept apart and used only while the
//! runtime publishes no request metrics of its own (Kubernetes), so a
//! request is never counted twice.

use std::collections::BTreeMap;

use crate::domain::chaos::{combine_versions, Experiment, ExperimentState};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::metrics::MetricPoint;
use crate::runtime::RuntimeEvent;

/// A version's point older than this no longer counts toward a sample.
const STALE_MS: i64 = 3_000;

/// The environment as the event stream shows it.
#[derive(Debug, Default)]
pub struct EnvWatch {
    env: String,
    latest: BTreeMap<String, MetricPoint>,
    /// The newest point of each external series, by series name.
    external: BTreeMap<String, MetricPoint>,
    /// How old an external point may be and still count (its source
    /// evaluates every `step`, not every second).
    pub external_stale_ms: i64,
    /// The last sample came from the external series.
    pub sampled_external: bool,
    /// The source of the external series sampled last (`prometheus`).
    pub external_source: Option<String>,
    /// What the external source last said was wrong (`prometheus: …`).
    pub external_problem: Option<String>,
    /// Lowest (ready, desired) seen since the last `take_fewest_ready`.
    fewest_ready: Option<(u32, u32)>,
    /// `127.0.0.1:<port>` of each instance that publishes a port here.
    metrics_targets: Vec<String>,
    /// The newest state of each experiment of this environment.
    experiments: BTreeMap<String, Experiment>,
    /// Events the stream said it lost.
    pub lagged: u64,
}

impl EnvWatch {
    pub fn new(env: &str) -> Self {
        EnvWatch {
            env: env.to_string(),
            ..EnvWatch::default()
        }
    }

    pub fn fold(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Metrics {
                env,
                version,
                point,
            } if env == self.env => {
                match version.contains(crate::domain::metrics::SOURCE_SEPARATOR) {
                    true => self.external.insert(version, point),
                    false => self.latest.insert(version, point),
                };
            }
            RuntimeEvent::Environment { status } if status.name == self.env => {
                self.note_instances(&status);
                let (ready, desired) = status.ready_desired();
                // A lower share of ready instances (cross-multiplied, no division).
                let worse = self.fewest_ready.is_none_or(|(r, d)| {
                    u64::from(ready) * u64::from(d) < u64::from(r) * u64::from(desired)
                });
                if worse {
                    self.fewest_ready = Some((ready, desired));
                }
            }
            RuntimeEvent::Experiment { experiment } if experiment.env == self.env => {
                self.experiments.insert(experiment.id.clone(), experiment);
            }
            RuntimeEvent::Lagged { count } => self.lagged += count,
            RuntimeEvent::Source { name, state } => {
                self.external_problem = match state {
                    crate::runtime::SourceState::Degraded(why) => Some(format!("{name}: {why}")),
                    _ => None,
                };
            }
            _ => {}
        }
    }

    /// One environment-wide sample from the versions heard from lately:
    /// the runtime's own series, or else the external ones.
    pub fn sample(&mut self, now: i64) -> Option<MetricPoint> {
        let own = combine_versions(self.latest.values().filter(|p| now - p.ts <= STALE_MS));
        self.sampled_external = own.is_none() && self.latest.is_empty();
        if !self.sampled_external {
            return own;
        }
        let limit = self.external_stale_ms.max(STALE_MS);
        let fresh: Vec<(&String, &MetricPoint)> = self
            .external
            .iter()
            .filter(|(_, p)| now - p.ts <= limit)
            .collect();
        let external = combine_versions(fresh.iter().map(|(_, p)| *p));
        self.sampled_external = external.is_some();
        self.external_source = fresh
            .first()
            .and_then(|(name, _)| crate::domain::metrics::split_series(name).1)
            .map(str::to_string);
        external
    }

    /// Remember where the environment's instances listen on this host.
    pub fn note_instances(&mut self, status: &EnvironmentStatus) {
        self.metrics_targets = status
            .instances
            .iter()
            .filter_map(|i| i.port().map(|p| format!("127.0.0.1:{p}")))
            .collect();
    }

    /// Where the environment's instances serve their own `/metrics`.
    pub fn metrics_targets(&self) -> &[String] {
        &self.metrics_targets
    }

    pub fn take_fewest_ready(&mut self) -> Option<(u32, u32)> {
        self.fewest_ready.take()
    }

    pub fn experiment(&self, id: &str) -> Option<&Experiment> {
        self.experiments.get(id)
    }

    /// Replace what is known of an experiment (from the history, after lost events).
    pub fn set_experiment(&mut self, x: Experiment) {
        self.experiments.insert(x.id.clone(), x);
    }
}

/// Whether the engine is done with an experiment.
pub fn finished(x: &Experiment) -> bool {
    matches!(
        x.state,
        ExperimentState::Completed | ExperimentState::Aborted
    )
}
