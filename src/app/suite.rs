//! The FMEA suite started from the console (Enter on a scenario in the
//! Chaos pane): its steps as they finish, each scenario's verdict, and the
//! outcome, for the Chaos pane to show.

use std::collections::VecDeque;

use super::msg::Msg;
use super::state::{App, Severity};
use crate::domain::chaos::{ScenarioKind, ScenarioVerdict};
use crate::faults::suite::{StepTiming, SuiteReport};

/// Steps kept for the pane (a suite of every scenario has about 80).
pub const MAX_SUITE_STEPS: usize = 32;

/// Progress of the suite, from its task.
#[derive(Debug)]
pub enum SuiteMsg {
    Step(StepTiming),
    Verdict(Box<ScenarioVerdict>),
    Done(Result<Box<SuiteReport>, String>),
}

/// The console's view of the last suite it started.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteView {
    pub env: String,
    pub scenarios: Vec<ScenarioKind>,
    /// Newest last; bounded by `MAX_SUITE_STEPS`.
    pub steps: VecDeque<StepTiming>,
    /// Steps that fell out of `steps`.
    pub steps_dropped: u64,
    pub verdicts: Vec<ScenarioVerdict>,
    /// `None` while it runs; then the report, or why the suite failed.
    pub outcome: Option<Result<Box<SuiteReport>, String>>,
}

impl SuiteView {
    pub fn new(env: &str, scenarios: Vec<ScenarioKind>) -> Self {
        SuiteView {
            env: env.to_string(),
            scenarios,
            steps: VecDeque::new(),
            steps_dropped: 0,
            verdicts: Vec::new(),
            outcome: None,
        }
    }

    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }
}

impl App {
    pub(crate) fn on_suite(&mut self, msg: SuiteMsg) {
        let Some(view) = self.suite.as_mut() else {
            return;
        };
        match msg {
            SuiteMsg::Step(t) => {
                if view.steps.len() == MAX_SUITE_STEPS {
                    view.steps.pop_front();
                    view.steps_dropped += 1;
                }
                view.steps.push_back(t);
            }
            SuiteMsg::Verdict(v) => {
                if view.verdicts.len() < ScenarioKind::every().count() * 2 {
                    view.verdicts.push(*v);
                }
            }
            SuiteMsg::Done(result) => {
                let (text, severity) = match &result {
                    Ok(r) if r.passed() => (
                        format!("FMEA on {}: every scenario passed", r.env),
                        Severity::Success,
                    ),
                    Ok(r) => (
                        format!(
                            "FMEA on {}: {}",
                            r.env,
                            r.score
                                .map_or("no score (nothing decided)".to_string(), |s| format!(
                                    "score {s:.0}/100"
                                ))
                        ),
                        Severity::Warning,
                    ),
                    Err(e) => (format!("FMEA failed: {e}"), Severity::Error),
                };
                view.outcome = Some(result);
                self.flash(text, severity);
            }
        }
        self.dirty = true;
    }
}

impl From<SuiteMsg> for Msg {
    fn from(m: SuiteMsg) -> Msg {
        Msg::Suite(m)
    }
}

#[cfg(test)]
mod tests;
