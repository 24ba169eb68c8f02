//! The FMEA suite: for each scenario, the eight steps of the seed — baseline,
//! inject, observe, validate, recover, verify recovery, then a report and
//! the knowledge base for the whole suite. It drives any runtime through
//! the port (`Runtime::inject`, its events, `undo`), so the fault engine
//! behind that runtime journals and removes every fault as usual.

pub mod evidence;
mod learn;
mod report;
mod run;
mod watch;

pub use learn::{latest_score, JsonlLearner};
pub use report::{render_markdown, write_report, ReportPaths};
pub use run::{run_suite, ExternalMetrics, Sinks};
pub use watch::EnvWatch;

use serde::{Deserialize, Serialize};

use crate::domain::chaos::{
    ChaosSlo, FaultParams, ScenarioKind, ScenarioVerdict, Scorecard, Tolerance,
};
use crate::domain::EpochMillis;

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuitePlan {
    pub env: String,
    pub scenarios: Vec<ScenarioKind>,
    pub params: FaultParams,
    /// Seconds of metrics the baseline is taken over.
    pub baseline_secs: u64,
    pub slo: ChaosSlo,
    pub tolerance: Tolerance,
    /// A critical breach stops the suite and removes the fault at once.
    pub abort_on_critical: bool,
    /// The load running during the suite, as the report states it
    /// (`100 users`), or `None` for the environment's own traffic.
    pub load: Option<String>,
}

/// The eight steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Baseline,
    Inject,
    Observe,
    Validate,
    Recover,
    VerifyRecovery,
    Report,
    Learn,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Baseline,
        Step::Inject,
        Step::Observe,
        Step::Validate,
        Step::Recover,
        Step::VerifyRecovery,
        Step::Report,
        Step::Learn,
    ];

    pub fn number(self) -> usize {
        Step::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    pub fn label(self) -> &'static str {
        match self {
            Step::Baseline => "baseline",
            Step::Inject => "inject",
            Step::Observe => "observe",
            Step::Validate => "validate",
            Step::Recover => "recover",
            Step::VerifyRecovery => "verify recovery",
            Step::Report => "report",
            Step::Learn => "learn",
        }
    }
}

/// One step done: when, how long, and what it found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    /// `None` for the suite-wide steps (report, learn).
    pub scenario: Option<ScenarioKind>,
    pub step: Step,
    pub started_at: EpochMillis,
    pub took_ms: i64,
    pub note: String,
}

impl StepTiming {
    /// `[3/8 observe] network-latency 5.0s: peak p99 512ms`.
    pub fn line(&self) -> String {
        let scenario = self.scenario.map(|s| format!(" {s}")).unwrap_or_default();
        format!(
            "[{}/8 {}]{scenario} {:.1}s: {}",
            self.step.number(),
            self.step.label(),
            self.took_ms as f64 / 1000.0,
            self.note
        )
    }
}

/// What the suite tells whoever shows its progress.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    StepDone(StepTiming),
    /// A fault was applied as this experiment (a console that started it
    /// may have to undo it when its terminal goes away).
    Injected(String),
    Verdict(Box<ScenarioVerdict>),
}

/// The whole run, as the report files hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    pub env: String,
    pub runtime: String,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    pub plan: SuitePlan,
    pub verdicts: Vec<ScenarioVerdict>,
    pub steps: Vec<StepTiming>,
    /// The weighted pass rate, 0..=100; `None` when no scenario was decided.
    pub score: Option<f64>,
    /// Why the suite stopped before its last scenario.
    pub stopped_early: Option<String>,
    /// Scenarios the runtime refused, with its reason (never run, never faked).
    pub refused: Vec<(ScenarioKind, String)>,
    /// The score beside the seed's checklist of practices, each with the
    /// check that found it.
    #[serde(default)]
    pub scorecard: Scorecard,
}

impl SuiteReport {
    /// Every decided scenario passed and none was refused or stopped.
    pub fn passed(&self) -> bool {
        use crate::domain::chaos::ScenarioResult;
        self.stopped_early.is_none()
            && self.refused.is_empty()
            && !self.verdicts.is_empty()
            && self
                .verdicts
                .iter()
                .all(|v| v.result == ScenarioResult::Pass)
    }
}

/// Step 8: where a finished suite goes so the agent can learn from it.
pub trait Learner: Send + Sync {
    /// Hand over the report; the answer is one line for the progress output.
    fn learn(&self, report: &SuiteReport) -> Result<String, String>;
}

#[cfg(test)]
mod tests;
