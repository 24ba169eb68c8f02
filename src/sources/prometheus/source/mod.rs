//! The live metrics source: every `step_secs`, run the configured queries
//! for all environments at one evaluation time and emit one `MetricPoint`
//! per (env, version) found, plus the source's state when it changes.

mod round;

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use self::round::{backfill, round, LiveQueries};
use super::PrometheusClient;
use crate::config::PrometheusConfig;
use crate::domain::metrics::series_name;
use crate::runtime::{RuntimeEvent, SourceState};

/// Name under which the state is reported (`RuntimeEvent::Source`).
pub const SOURCE_NAME: &str = "prometheus";
/// Longest wait between attempts while Prometheus is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

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
                let w = backoff;
                if !state.set(SourceState::retrying(e, w)).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF.max(step));
                w
            }
            Err(_) => {
                let why = format!(
                    "queries took longer than the {}s step; round cancelled",
                    step.as_secs()
                );
                let w = backoff;
                if !state.set(SourceState::retrying(why, w)).await {
                    return;
                }
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
