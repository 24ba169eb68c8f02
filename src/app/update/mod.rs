//! `App::update`: the only place console state changes (Elm-style).
//! Keys arrive here; the action table decides what they mean; destructive
//! actions go through a confirm dialog and leave as `Command`s.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::actions::{spec_of, Action};
use super::builds::PipelineTab;
use super::intents::intent_action;
use super::keymap::KeyChord;
use super::msg::{AgentEvent, Command, Msg, RuntimeCommand};
use super::state::*;
use crate::domain::chaos::{ExperimentState, ScenarioKind};
use crate::domain::metrics::MetricSeries;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::sanitize_str;
use crate::runtime::{RolloutOutcome, RuntimeEvent, SourceState};

const FLASH_MS: i64 = 6_000;
const PAGE: usize = 10;
/// How far back `T` looks for a line with a trace or request id.
const TRACE_SCAN_LIMIT: usize = 50_000;

mod agent;
mod builds;
mod dialogs;
mod keys;
mod load;
mod logs;
mod palette;
#[cfg(test)]
mod tests;

impl App {
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let cmds = self.update_state(msg);
        // The Logs pane's filter index follows the store and the filter.
        self.sync_log_index();
        cmds
    }

    fn update_state(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) => {
                if key.kind == KeyEventKind::Release {
                    return Vec::new();
                }
                self.dirty = true;
                let mut cmds = self.on_key(key);
                cmds.extend(self.log_source_filter_changed());
                cmds.extend(self.build_log_changed());
                cmds
            }
            Msg::Paste(text) => {
                self.dirty = true;
                self.on_paste(&text);
                Vec::new()
            }
            Msg::Resize => {
                self.dirty = true;
                Vec::new()
            }
            Msg::Tick { now, steady } => {
                // Second-resolution texts ("12s ago", time left) change every tick.
                if now / 1000 != self.now / 1000 {
                    self.dirty = true;
                }
                self.now = now;
                self.steady = steady;
                if self.flash.as_ref().is_some_and(|f| f.until <= steady) {
                    self.flash = None;
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Runtime(ev) => {
                self.on_runtime_event(*ev);
                Vec::new()
            }
            Msg::RuntimeSource(state) => {
                self.sources.insert(self.runtime_name.clone(), state);
                self.dirty = true;
                Vec::new()
            }
            Msg::RuntimeRenamed(name) => {
                if let Some(state) = self.sources.remove(&self.runtime_name) {
                    self.sources.insert(name.clone(), state);
                }
                self.runtime_name = name;
                self.dirty = true;
                Vec::new()
            }
            Msg::ActionDone { label, result } => {
                self.dirty = true;
                match result {
                    Ok(msg) => self.flash(format!("{label}: {msg}"), Severity::Success),
                    Err(e) => self.flash(format!("{label} failed: {e}"), Severity::Error),
                }
                Vec::new()
            }
            Msg::Agent(ev) => {
                self.dirty = true;
                self.on_agent_event(ev);
                Vec::new()
            }
            Msg::GateClosed { from, to, why } => {
                self.dirty = true;
                self.flash(why.clone(), Severity::Warning);
                self.ask(PendingAction::PromoteOverGate { from, to, why });
                Vec::new()
            }
            Msg::Suite(m) => {
                self.on_suite(m);
                Vec::new()
            }
            Msg::Compare(ev) => {
                self.on_compare_event(ev);
                Vec::new()
            }
            Msg::CompareDone(result) => {
                self.dirty = true;
                let now = self.now;
                if let Some(view) = &mut self.comparison {
                    let status = match &result {
                        Ok(r) if r.assessment.thresholds_passed => StageStatus::Succeeded,
                        Ok(r) => StageStatus::Failed(r.assessment.verdict.label().to_string()),
                        Err(e) => StageStatus::Failed(e.clone()),
                    };
                    view.run.finish(status, now);
                    let text = match &result {
                        Ok(r) => format!(
                            "compare {} → {}: {} (v shows it)",
                            view.old,
                            view.new,
                            r.assessment.verdict.label()
                        ),
                        Err(e) => format!("compare {} → {} failed: {e}", view.old, view.new),
                    };
                    let severity = if result.is_ok() {
                        Severity::Success
                    } else {
                        Severity::Error
                    };
                    view.outcome = Some(result);
                    self.flash(text, severity);
                }
                Vec::new()
            }
            Msg::FaultsStillApplied(n) => {
                self.dirty = true;
                let key = self.keymap.keys_for(Action::UndoFaults).first().cloned();
                self.flash(
                    format!(
                        "{n} fault(s) still applied (a run that was killed may have left them): press {} to undo them all",
                        key.unwrap_or_else(|| "u".into())
                    ),
                    Severity::Warning,
                );
                Vec::new()
            }
            Msg::Builds(ev) => {
                self.dirty = true;
                self.builds.on_event(ev, &mut self.sources);
                self.build_log_changed().into_iter().collect()
            }
            Msg::PipelineJobDone(result) => {
                self.dirty = true;
                self.builds.job_running = false;
                match result {
                    Ok(m) => self.flash(m, Severity::Success),
                    Err(e) => self.flash(e, Severity::Error),
                }
                Vec::new()
            }
            Msg::Signal(name) => {
                self.should_quit = true;
                self.flash(format!("received {name}, shutting down"), Severity::Warning);
                vec![Command::Quit]
            }
        }
    }

    pub fn flash(&mut self, text: impl Into<String>, severity: Severity) {
        self.flash = Some(Flash {
            text: text.into(),
            severity,
            until: self.steady + FLASH_MS,
        });
        self.dirty = true;
    }

    pub fn on_runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Environment { status } => {
                match self.envs.iter_mut().find(|e| e.name == status.name) {
                    Some(slot) => *slot = status,
                    None => {
                        self.envs.push(status);
                        let order: Vec<String> = self
                            .config
                            .environments
                            .iter()
                            .map(|e| e.name.clone())
                            .collect();
                        let rank =
                            |n: &str| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
                        // Keep the user's selection; before they choose, the first environment is selected.
                        let selected = self
                            .env_chosen
                            .then(|| self.envs.get(self.selected_env).map(|e| e.name.clone()))
                            .flatten();
                        self.envs.sort_by_key(|e| rank(&e.name));
                        self.selected_env = selected
                            .and_then(|sel| self.envs.iter().position(|e| e.name == sel))
                            .unwrap_or(0);
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Log { line } => {
                self.push_log(line);
                // A paused view only changes its "+N new" counter; still a visible change.
                self.dirty = true;
            }
            RuntimeEvent::Metrics {
                env,
                version,
                point,
            } => {
                let cap = self.config.console.metric_points;
                self.metrics
                    .entry((env, version))
                    .or_insert_with(|| MetricSeries::new(cap))
                    .push(point);
                self.dirty = true;
            }
            RuntimeEvent::Pipeline { run } => {
                match self.pipelines.iter_mut().find(|p| p.id == run.id) {
                    Some(slot) => *slot = run,
                    None => {
                        if self.pipelines.len() == MAX_PIPELINES {
                            self.pipelines.pop_front();
                        }
                        self.pipelines.push_back(run);
                        self.pipeline_scroll = 0;
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Verdict { env, step, verdict } => {
                self.verdicts.insert(env, (step, verdict));
                self.dirty = true;
            }
            RuntimeEvent::RolloutFinished { env, outcome, .. } => match outcome {
                RolloutOutcome::Promoted { version } => {
                    self.flash(format!("{env}: {version} promoted"), Severity::Success)
                }
                RolloutOutcome::RolledBack {
                    version, reason, ..
                } => self.flash(
                    format!("{env}: {version} rolled back: {}", sanitize_str(&reason)),
                    Severity::Error,
                ),
                RolloutOutcome::Aborted { reason } => self.flash(
                    format!("{env}: rollout aborted: {}", sanitize_str(&reason)),
                    Severity::Warning,
                ),
            },
            RuntimeEvent::Experiment { experiment } => {
                match self.experiments.iter_mut().find(|e| e.id == experiment.id) {
                    Some(slot) => *slot = experiment,
                    None => {
                        if self.experiments.len() == MAX_EXPERIMENTS {
                            self.experiments.pop_front();
                        }
                        self.experiments.push_back(experiment);
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Lagged { count } => {
                self.logs.note_lost(count);
                self.dirty = true;
            }
            RuntimeEvent::Source { name, state } => {
                self.sources.insert(name, state);
                self.dirty = true;
            }
        }
    }
}

pub(in crate::app) fn add_clamped(v: usize, delta: i64, max: usize) -> usize {
    (v as i64).saturating_add(delta).clamp(0, max as i64) as usize
}

/// `v7` -> `v8`; `1.4.2` -> `1.4.3`; otherwise none.
pub fn next_version(v: &str) -> Option<String> {
    let digits_at = v
        .rfind(|c: char| !c.is_ascii_digit())
        .map(|i| i + 1)
        .unwrap_or(0);
    let (prefix, num) = v.split_at(digits_at);
    let n: u64 = num.parse().ok()?;
    Some(format!("{prefix}{}", n + 1))
}
