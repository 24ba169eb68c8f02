//! Shows work done outside a runtime (a `perf` load test, a `compare` run)
//! to every console attached to it: a pipeline run whose stages move as the
//! work goes on, and optionally a metric series of live numbers.
//!
//! Publishing runs on its own task so a slow control socket never holds up
//! the work being reported; updates are coalesced (only the newest state of
//! the run matters) and failures are kept, not retried forever.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Actor, Published, SharedRuntime};
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::EpochMillis;

/// Updates waiting for the publishing task; more are coalesced or counted.
const QUEUE: usize = 64;
/// How long `finish` waits for the last reports to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

enum Update {
    Run(PipelineRun),
    Point(MetricPoint),
    Flush(oneshot::Sender<Outcome>),
}

/// What happened to the reports, for a note to the user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The pipeline id the runtime gave the run (0 if it never accepted it).
    pub pipeline_id: u64,
    /// Why the runtime did not show the run, if it did not.
    pub problem: Option<String>,
    /// Updates not sent because the queue was full.
    pub dropped: u64,
}

/// The handle the reporting side holds.
pub struct RunPublisher {
    run: PipelineRun,
    tx: mpsc::Sender<Update>,
    dropped: u64,
}

impl RunPublisher {
    /// Start reporting a run of `kind` on `env` with the given stages.
    /// `series` names the metric series that live points go to (if any).
    #[allow(clippy::too_many_arguments)] // each is one fact about the run; a struct would only rename them
    pub fn start(
        rt: SharedRuntime,
        actor: Actor,
        kind: PipelineKind,
        env: &str,
        title: &str,
        stages: &[&str],
        series: Option<&str>,
        now: EpochMillis,
    ) -> RunPublisher {
        let run = PipelineRun::new(0, kind, env, title, stages, now);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(publish_loop(
            rt,
            actor,
            env.to_string(),
            series.map(str::to_string),
            rx,
        ));
        let mut p = RunPublisher {
            run,
            tx,
            dropped: 0,
        };
        p.send_run();
        p
    }

    pub fn run(&self) -> &PipelineRun {
        &self.run
    }

    fn send_run(&mut self) {
        if self.tx.try_send(Update::Run(self.run.clone())).is_err() {
            self.dropped += 1;
        }
    }

    /// Start stage `index` (earlier running stages are left as they are).
    pub fn start_stage(&mut self, index: usize, now: EpochMillis) {
        self.run.start_stage(index, now);
        self.send_run();
    }

    /// Progress (0..1) and a detail line of a running stage.
    pub fn progress(&mut self, index: usize, progress: f64, detail: &str) {
        if let Some(s) = self.run.stages.get_mut(index) {
            s.progress = progress.clamp(0.0, 1.0);
            s.detail = detail.to_string();
        }
        self.send_run();
    }

    /// End stage `index` with `status` and a detail line.
    pub fn end_stage(&mut self, index: usize, status: StageStatus, detail: &str, now: EpochMillis) {
        self.run.finish_stage(index, status, detail, now);
        self.send_run();
    }

    /// A live point of the run's series.
    pub fn point(&mut self, point: MetricPoint) {
        if self.tx.try_send(Update::Point(point)).is_err() {
            self.dropped += 1;
        }
    }

    /// Mark the run finished (stages still pending are skipped), send it,
    /// and wait a little for the reports to go out.
    pub async fn finish(mut self, status: StageStatus, now: EpochMillis) -> Outcome {
        for s in &mut self.run.stages {
            if !s.status.is_finished() {
                s.status = if matches!(s.status, StageStatus::Running) {
                    status.clone()
                } else {
                    StageStatus::Skipped
                };
                s.finished_at = Some(now);
            }
        }
        self.run.status = status;
        self.run.finished_at = Some(now);
        // The final state must not be lost to a full queue: wait for room.
        let final_run = Update::Run(self.run.clone());
        let sent = tokio::time::timeout(FLUSH_TIMEOUT, self.tx.send(final_run)).await;
        let (reply, answer) = oneshot::channel();
        let mut outcome = match sent {
            Ok(Ok(())) if self.tx.try_send(Update::Flush(reply)).is_ok() => {
                tokio::time::timeout(FLUSH_TIMEOUT, answer)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_else(|| Outcome {
                        problem: Some("the runtime did not take the final report in time".into()),
                        ..Outcome::default()
                    })
            }
            _ => Outcome {
                problem: Some("the final report could not be queued".into()),
                ..Outcome::default()
            },
        };
        outcome.dropped += self.dropped;
        outcome
    }
}

async fn publish_loop(
    rt: SharedRuntime,
    actor: Actor,
    env: String,
    series: Option<String>,
    mut rx: mpsc::Receiver<Update>,
) {
    let mut outcome = Outcome::default();
    while let Some(first) = rx.recv().await {
        // Coalesce: of the runs queued now only the newest is worth sending.
        let mut batch = vec![first];
        while let Ok(u) = rx.try_recv() {
            batch.push(u);
        }
        let newest_run = batch
            .iter()
            .rposition(|u| matches!(u, Update::Run(_)))
            .unwrap_or(usize::MAX);
        for (i, update) in batch.into_iter().enumerate() {
            match update {
                Update::Run(mut run) if i == newest_run => {
                    if outcome.problem.is_some() {
                        continue;
                    }
                    run.id = outcome.pipeline_id;
                    match rt.publish(&actor, Published::Run { run }).await {
                        Ok(id) => outcome.pipeline_id = id,
                        Err(e) => outcome.problem = Some(e.to_string()),
                    }
                }
                Update::Run(_) => {}
                Update::Point(point) => {
                    let Some(series) = &series else { continue };
                    if outcome.problem.is_some() {
                        continue;
                    }
                    let item = Published::Metrics {
                        env: env.clone(),
                        series: series.clone(),
                        point,
                    };
                    if let Err(e) = rt.publish(&actor, item).await {
                        outcome.problem = Some(e.to_string());
                    }
                }
                Update::Flush(reply) => {
                    let _ = reply.send(outcome.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{
        ActionAccepted, History, Runtime, RuntimeError, RuntimeEvent, SharedRuntime,
    };
    use async_trait::async_trait;
    use std::sync::{Arc, Mutex};

    /// Records what was published; refuses metrics for unknown envs.
    #[derive(Default)]
    struct Recorder {
        items: Mutex<Vec<Published>>,
    }

    #[async_trait]
    impl Runtime for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        async fn status(
            &self,
        ) -> Result<Vec<crate::domain::environment::EnvironmentStatus>, RuntimeError> {
            Ok(vec![])
        }
        fn capabilities(&self) -> crate::runtime::Capabilities {
            crate::runtime::Capabilities::with(crate::runtime::DeliveryMode::Driven, &[], |_| {
                "n/a".into()
            })
        }
        async fn intent(
            &self,
            _: &Actor,
            _: &str,
            _: crate::runtime::Intent,
        ) -> Result<ActionAccepted, RuntimeError> {
            Err(RuntimeError::Failed("n/a".into()))
        }
        async fn promote(
            &self,
            _: &Actor,
            _: &str,
            _: &str,
        ) -> Result<ActionAccepted, RuntimeError> {
            Err(RuntimeError::Failed("n/a".into()))
        }
        async fn inject(
            &self,
            _: &Actor,
            _: &str,
            _: crate::domain::chaos::ScenarioKind,
            _: crate::domain::chaos::FaultParams,
        ) -> Result<crate::domain::chaos::Experiment, RuntimeError> {
            Err(RuntimeError::Failed("n/a".into()))
        }
        async fn undo(&self, _: &Actor, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn recent_logs(
            &self,
            _: Option<&str>,
            _: usize,
        ) -> Result<Vec<crate::domain::logs::LogLine>, RuntimeError> {
            Ok(vec![])
        }
        async fn history(&self) -> Result<History, RuntimeError> {
            Ok(History::default())
        }
        async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
            Err(RuntimeError::Failed("n/a".into()))
        }
        async fn publish(&self, _: &Actor, item: Published) -> Result<u64, RuntimeError> {
            if let Published::Metrics { env, .. } = &item {
                if env != "staging" {
                    return Err(RuntimeError::UnknownEnvironment(env.clone()));
                }
            }
            self.items.lock().unwrap().push(item);
            Ok(7)
        }
        async fn shutdown(&self) {}
    }

    fn point(rps: f64) -> MetricPoint {
        MetricPoint {
            ts: 1,
            rps,
            error_rate: 0.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            cpu_pct: 0.0,
            mem_mib: 0.0,
        }
    }

    #[tokio::test]
    async fn the_final_state_and_points_reach_the_runtime() {
        let rec = Arc::new(Recorder::default());
        let rt: SharedRuntime = rec.clone();
        let mut p = RunPublisher::start(
            rt,
            Actor::current("test"),
            PipelineKind::Perf,
            "staging",
            "perf staging",
            &["warm-up", "load", "thresholds"],
            Some("load test"),
            1,
        );
        p.start_stage(0, 2);
        p.end_stage(0, StageStatus::Succeeded, "2s", 3);
        p.start_stage(1, 3);
        p.point(point(100.0));
        p.progress(1, 0.5, "50%");
        let outcome = p.finish(StageStatus::Succeeded, 9).await;
        assert_eq!(outcome.pipeline_id, 7);
        assert_eq!(outcome.problem, None);
        let items = rec.items.lock().unwrap();
        let last_run = items
            .iter()
            .rev()
            .find_map(|i| match i {
                Published::Run { run } => Some(run.clone()),
                _ => None,
            })
            .expect("a run was published");
        assert_eq!(last_run.status, StageStatus::Succeeded);
        assert_eq!(last_run.stages[0].status, StageStatus::Succeeded);
        // The running stage ends with the run; the pending one is skipped.
        assert_eq!(last_run.stages[1].status, StageStatus::Succeeded);
        assert_eq!(last_run.stages[2].status, StageStatus::Skipped);
        assert!(items.iter().any(
            |i| matches!(i, Published::Metrics { series, point, .. } if series == "load test" && point.rps == 100.0)
        ));
    }

    #[tokio::test]
    async fn a_refusal_is_reported_not_retried() {
        let rec = Arc::new(Recorder::default());
        let rt: SharedRuntime = rec.clone();
        let mut p = RunPublisher::start(
            rt,
            Actor::current("test"),
            PipelineKind::Perf,
            "nowhere",
            "perf nowhere",
            &["load"],
            Some("load test"),
            1,
        );
        p.point(point(1.0));
        p.point(point(2.0));
        let outcome = p.finish(StageStatus::Succeeded, 2).await;
        let problem = outcome.problem.expect("the refusal is kept");
        assert!(problem.contains("nowhere"), "{problem}");
        // Only the first point was tried; runs before it were accepted.
        let metrics = rec
            .items
            .lock()
            .unwrap()
            .iter()
            .filter(|i| matches!(i, Published::Metrics { .. }))
            .count();
        assert_eq!(metrics, 0);
    }
}
