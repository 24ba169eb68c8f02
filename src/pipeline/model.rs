//! What a pipeline run records (`pipelines/<id>/run.json`).

use serde::{Deserialize, Serialize};

use super::results::{Coverage, JunitSummary, TrivySummary};

/// The state of a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Passed,
    Failed,
    /// Stopped by Ctrl-C or a cancel: the stages' process groups were killed.
    Cancelled,
    /// Found still `running` at a later start: the process running it died.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// The state of one stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Pending,
    Running,
    Passed,
    Failed,
    Skipped,
    Cancelled,
    /// Not started because an earlier stage failed or the run stopped.
    NotRun,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Passed => "passed",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::Cancelled => "cancelled",
            StageStatus::NotRun => "not run",
        }
    }
}

/// One stage of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub parallel_group: Option<String>,
    #[serde(default)]
    pub optional: bool,
    pub status: StageStatus,
    /// Why it was skipped or failed (`skipped: trivy not installed`,
    /// `exit code 2`, `coverage 61.0% below min_coverage 80%`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Epoch milliseconds.
    #[serde(default)]
    pub started_ms: Option<i64>,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub junit: Option<JunitSummary>,
    #[serde(default)]
    pub coverage: Option<Coverage>,
    #[serde(default)]
    pub trivy: Option<TrivySummary>,
    /// Problems reading result files (each names its file).
    #[serde(default)]
    pub result_errors: Vec<String>,
    /// The stage's log file, relative to the run's directory.
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default)]
    pub log_lines: u64,
    /// Output lines not kept in the log (its middle, past the bound).
    #[serde(default)]
    pub log_dropped: u64,
    /// The inputs' hash when the stage ran (for the change detector).
    #[serde(default)]
    pub inputs_hash: Option<String>,
}

impl StageRecord {
    /// A stage named `name` that has not run: no times, results or log.
    pub fn new(name: String, command: String, status: StageStatus) -> StageRecord {
        StageRecord {
            name,
            command,
            parallel_group: None,
            optional: false,
            status,
            reason: None,
            started_ms: None,
            ended_ms: None,
            exit_code: None,
            junit: None,
            coverage: None,
            trivy: None,
            result_errors: Vec::new(),
            log: None,
            log_lines: 0,
            log_dropped: 0,
            inputs_hash: None,
        }
    }
}

impl StageRecord {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.ended_ms? - self.started_ms?)
    }
}

/// One run of the pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: u64,
    pub status: RunStatus,
    /// The project's config file.
    pub config: String,
    pub started_ms: i64,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    /// The process running it (to tell a live run from a dead one).
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub force: bool,
    /// `--stage NAME`, when only one stage ran.
    #[serde(default)]
    pub only_stage: Option<String>,
    pub stages: Vec<StageRecord>,
}

impl RunRecord {
    pub fn stage(&self, name: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.name == name)
    }
}
