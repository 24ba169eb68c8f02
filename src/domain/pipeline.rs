//! Pipeline runs: the stages of a deploy, rollout, promotion or rollback.
//! Designed so the full CI pipeline (build, containerize, test, ...) fits the same model.

use serde::{Deserialize, Serialize};

use super::EpochMillis;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum StageStatus {
    Pending,
    Running,
    Succeeded,
    Failed(String),
    Skipped,
    Cancelled,
}

impl StageStatus {
    pub fn label(&self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Succeeded => "succeeded",
            StageStatus::Failed(_) => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::Cancelled => "cancelled",
        }
    }
    pub fn is_finished(&self) -> bool {
        !matches!(self, StageStatus::Pending | StageStatus::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub status: StageStatus,
    pub started_at: Option<EpochMillis>,
    pub finished_at: Option<EpochMillis>,
    /// 0.0..=1.0 while running.
    pub progress: f64,
    /// Latest detail, e.g. an analysis summary.
    pub detail: String,
}

impl Stage {
    pub fn pending(name: impl Into<String>) -> Self {
        Stage {
            name: name.into(),
            status: StageStatus::Pending,
            started_at: None,
            finished_at: None,
            progress: 0.0,
            detail: String::new(),
        }
    }

    /// Duration in ms: finished - started, or now - started while running.
    pub fn duration_ms(&self, now: EpochMillis) -> Option<i64> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now) - start)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineKind {
    Rollout,
    Promotion,
    Rollback,
    Chaos,
    Ci,
    /// A `perf` load test, published by whoever ran it.
    Perf,
    /// A `compare` run (old vs new), published by whoever ran it.
    Comparison,
    /// A container lifecycle event (start, die, OOM kill, health change) of the Docker runtime.
    Container,
}

impl PipelineKind {
    /// Runs that happen outside the runtime and are only reported to it.
    pub fn is_external(self) -> bool {
        matches!(self, PipelineKind::Perf | PipelineKind::Comparison)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRun {
    pub id: u64,
    pub kind: PipelineKind,
    pub env: String,
    pub title: String,
    pub stages: Vec<Stage>,
    pub started_at: EpochMillis,
    pub finished_at: Option<EpochMillis>,
    pub status: StageStatus,
}

impl PipelineRun {
    pub fn new(
        id: u64,
        kind: PipelineKind,
        env: &str,
        title: &str,
        stages: &[&str],
        now: EpochMillis,
    ) -> Self {
        PipelineRun {
            id,
            kind,
            env: env.to_string(),
            title: title.to_string(),
            stages: stages.iter().map(|s| Stage::pending(*s)).collect(),
            started_at: now,
            finished_at: None,
            status: StageStatus::Running,
        }
    }

    /// Fraction of stages finished, counting a running stage's own progress.
    pub fn progress(&self) -> f64 {
        if self.stages.is_empty() {
            return 1.0;
        }
        let done: f64 = self
            .stages
            .iter()
            .map(|s| match s.status {
                StageStatus::Running => s.progress.clamp(0.0, 1.0),
                StageStatus::Pending => 0.0,
                _ => 1.0,
            })
            .sum();
        done / self.stages.len() as f64
    }

    pub fn start_stage(&mut self, index: usize, now: EpochMillis) {
        if let Some(s) = self.stages.get_mut(index) {
            s.status = StageStatus::Running;
            s.started_at = Some(now);
            // A restarted stage must not keep the old end time (its duration would be wrong).
            s.finished_at = None;
            s.progress = 0.0;
        }
    }

    pub fn finish_stage(
        &mut self,
        index: usize,
        status: StageStatus,
        detail: impl Into<String>,
        now: EpochMillis,
    ) {
        if let Some(s) = self.stages.get_mut(index) {
            if s.started_at.is_none() {
                s.started_at = Some(now);
            }
            s.status = status;
            s.finished_at = Some(now);
            s.progress = 1.0;
            s.detail = detail.into();
        }
    }

    /// Close the run; stages never reached are marked skipped (or cancelled on failure).
    /// Stop the run: the running stage says why, and the run is cancelled.
    pub fn cancel(&mut self, reason: &str, now: EpochMillis) {
        if let Some(s) = self
            .stages
            .iter_mut()
            .find(|s| s.status == StageStatus::Running)
        {
            s.detail = reason.to_string();
        }
        self.finish(StageStatus::Cancelled, now);
    }

    pub fn finish(&mut self, status: StageStatus, now: EpochMillis) {
        let leftover = if matches!(status, StageStatus::Succeeded) {
            StageStatus::Skipped
        } else {
            StageStatus::Cancelled
        };
        for s in &mut self.stages {
            if !s.status.is_finished() {
                s.status = leftover.clone();
                s.finished_at = Some(now);
            }
        }
        self.status = status;
        self.finished_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelling_names_the_reason_on_the_running_stage() {
        let mut run = PipelineRun::new(3, PipelineKind::Rollout, "e", "t", &["a", "b"], 0);
        run.start_stage(0, 1);
        run.cancel("rollback requested by ann", 5);
        assert_eq!(run.status, StageStatus::Cancelled);
        assert_eq!(run.stages[0].detail, "rollback requested by ann");
        assert_eq!(run.finished_at, Some(5));
    }

    fn run() -> PipelineRun {
        PipelineRun::new(
            7,
            PipelineKind::Rollout,
            "staging",
            "deploy v2",
            &["start", "5%", "100%"],
            1_000,
        )
    }

    #[test]
    fn new_run_has_pending_stages() {
        let r = run();
        assert_eq!(r.status, StageStatus::Running);
        assert_eq!(r.stages.len(), 3);
        assert!(r.stages.iter().all(|s| s.status == StageStatus::Pending));
        assert_eq!(r.progress(), 0.0);
        assert_eq!(r.stages[1].name, "5%");
        assert_eq!(r.stages[0].duration_ms(5_000), None);
    }

    #[test]
    fn progress_counts_finished_and_running_stages() {
        let mut r = run();
        r.start_stage(0, 1_000);
        r.stages[0].progress = 0.5;
        assert!((r.progress() - 0.5 / 3.0).abs() < 1e-12);
        r.finish_stage(0, StageStatus::Succeeded, "ok", 2_000);
        assert!((r.progress() - 1.0 / 3.0).abs() < 1e-12);
        r.start_stage(1, 2_000);
        r.stages[1].progress = 7.0; // out of range values are clamped
        assert!((r.progress() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.stages[1].duration_ms(2_500), Some(500));
        assert_eq!(r.stages[0].duration_ms(9_999), Some(1_000));
        assert_eq!(r.stages[0].detail, "ok");
        let empty = PipelineRun::new(1, PipelineKind::Ci, "e", "t", &[], 0);
        assert_eq!(empty.progress(), 1.0);
    }

    #[test]
    fn finish_success_skips_unreached_stages() {
        let mut r = run();
        r.finish_stage(0, StageStatus::Succeeded, "", 1_500);
        assert_eq!(
            r.stages[0].started_at,
            Some(1_500),
            "finishing an unstarted stage starts it"
        );
        r.finish(StageStatus::Succeeded, 3_000);
        assert_eq!(r.status, StageStatus::Succeeded);
        assert_eq!(r.finished_at, Some(3_000));
        assert_eq!(r.stages[1].status, StageStatus::Skipped);
        assert_eq!(r.stages[2].finished_at, Some(3_000));
        assert_eq!(r.progress(), 1.0);
    }

    #[test]
    fn finish_failure_cancels_the_rest() {
        let mut r = run();
        r.start_stage(0, 1_000);
        r.finish_stage(0, StageStatus::Succeeded, "", 2_000);
        r.start_stage(1, 2_000);
        r.finish(
            StageStatus::Failed("p99 latency 612ms > 500ms".into()),
            4_000,
        );
        assert_eq!(r.stages[0].status, StageStatus::Succeeded);
        assert_eq!(r.stages[1].status, StageStatus::Cancelled);
        assert_eq!(r.stages[2].status, StageStatus::Cancelled);
        assert_eq!(r.status.label(), "failed");
        assert!(r.status.is_finished());
        assert!(!StageStatus::Running.is_finished());
        assert!(!StageStatus::Pending.is_finished());
    }

    #[test]
    fn restarting_a_stage_clears_its_end() {
        let mut r = run();
        r.start_stage(0, 1_000);
        r.finish_stage(0, StageStatus::Failed("x".into()), "x", 2_000);
        r.start_stage(0, 3_000);
        assert_eq!(r.stages[0].status, StageStatus::Running);
        assert_eq!(r.stages[0].duration_ms(3_500), Some(500));
        // Out-of-range indexes are ignored.
        r.start_stage(9, 0);
        r.finish_stage(9, StageStatus::Succeeded, "", 0);
        assert_eq!(r.stages.len(), 3);
    }
}
