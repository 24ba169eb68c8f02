//! The Pipeline pane's build runs as the console keeps them: local runs
//! and Jenkins runs (from `sources::builds`), which one is selected, which
//! stage, and that stage's log. Pure state and its changes; the keys that
//! move it are in `update/builds.rs`.

use std::collections::{BTreeMap, VecDeque};

use crate::highlight::Painted;
use crate::pipeline::{RunRecord, RunStatus, StageRecord, StageStatus};
use crate::runtime::SourceState;
use crate::sources::builds::{BuildRef, BuildsEvent, LogKey, LogUpdate, Origin};

/// Most log lines the pane keeps; older ones are counted.
pub const MAX_LOG_LINES: usize = 10_000;

/// What the Pipeline pane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineTab {
    /// Local and Jenkins runs, their stages and logs.
    Builds,
    /// The runtime's rollout, promotion and chaos pipelines.
    Rollouts,
}

/// The followed stage's log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageLog {
    pub key: Option<LogKey>,
    pub lines: VecDeque<Painted>,
    /// Lines not kept here or not delivered.
    pub dropped: u64,
    /// Why the log cannot be shown now.
    pub problem: Option<String>,
    /// Lines scrolled up from the newest (0: follow the end).
    pub scroll_from_bottom: usize,
}

impl StageLog {
    fn new(key: Option<LogKey>) -> StageLog {
        StageLog {
            key,
            ..StageLog::default()
        }
    }

    fn push(&mut self, lines: Vec<Painted>) {
        for l in lines {
            if self.lines.len() == MAX_LOG_LINES {
                self.lines.pop_front();
                self.dropped += 1;
            }
            self.lines.push_back(l);
        }
    }

    /// Take in one update of this log.
    pub fn apply(&mut self, update: LogUpdate) {
        match update {
            LogUpdate::Replace(lines) => {
                self.lines.clear();
                self.dropped = 0;
                self.problem = None;
                self.push(lines);
            }
            LogUpdate::Append(lines) => {
                self.problem = None;
                self.push(lines);
            }
            LogUpdate::Dropped(n) => self.dropped += n,
            LogUpdate::Problem(why) => self.problem = Some(why),
        }
    }
}

/// Build runs, the selection and the followed log.
#[derive(Clone, Debug)]
pub struct BuildsView {
    pub tab: PipelineTab,
    pub local: Vec<RunRecord>,
    pub jenkins: Vec<RunRecord>,
    /// Per origin, how long each stage took the last time it passed.
    pub expected: BTreeMap<Origin, BTreeMap<String, i64>>,
    pub selected: Option<BuildRef>,
    /// The user picked a run; until then the newest is selected.
    pub run_chosen: bool,
    pub stage: Option<String>,
    /// The user picked a stage; until then the running, else the failed one.
    pub stage_chosen: bool,
    pub log: StageLog,
    /// A run started from this console is going.
    pub job_running: bool,
}

impl BuildsView {
    pub fn new(tab: PipelineTab) -> BuildsView {
        BuildsView {
            tab,
            local: Vec::new(),
            jenkins: Vec::new(),
            expected: BTreeMap::new(),
            selected: None,
            run_chosen: false,
            stage: None,
            stage_chosen: false,
            log: StageLog::default(),
            job_running: false,
        }
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Vec<(Origin, &RunRecord)> {
        let mut all: Vec<(Origin, &RunRecord)> = self
            .local
            .iter()
            .map(|r| (Origin::Local, r))
            .chain(self.jenkins.iter().map(|r| (Origin::Jenkins, r)))
            .collect();
        all.sort_by_key(|(o, r)| std::cmp::Reverse((r.started_ms, r.id, *o)));
        all
    }

    fn find(&self, r: BuildRef) -> Option<&RunRecord> {
        let list = match r.origin {
            Origin::Local => &self.local,
            Origin::Jenkins => &self.jenkins,
        };
        list.iter().find(|x| x.id == r.id)
    }

    fn newest(&self) -> Option<(Origin, &RunRecord)> {
        self.runs().into_iter().next()
    }

    /// The selected run (the newest until the user picks one).
    pub fn selected_run(&self) -> Option<(Origin, &RunRecord)> {
        match self.selected.filter(|_| self.run_chosen) {
            Some(r) => self.find(r).map(|x| (r.origin, x)),
            None => self.newest(),
        }
    }

    /// Where the selected run is in [`runs`](Self::runs).
    pub fn selected_index(&self) -> usize {
        let Some((o, r)) = self.selected_run() else {
            return 0;
        };
        self.runs()
            .iter()
            .position(|(x, y)| *x == o && y.id == r.id)
            .unwrap_or(0)
    }

    /// The selected stage: the user's pick, else the running one, else
    /// the first that failed, else the last that started.
    pub fn selected_stage(&self) -> Option<&StageRecord> {
        let (_, run) = self.selected_run()?;
        if let Some(name) = self.stage.as_ref().filter(|_| self.stage_chosen) {
            if let Some(s) = run.stage(name) {
                return Some(s);
            }
        }
        default_stage(run)
    }

    /// The log the pane wants followed now.
    pub fn log_key(&self) -> Option<LogKey> {
        let (origin, run) = self.selected_run()?;
        let run_ref = BuildRef { origin, id: run.id };
        match origin {
            Origin::Jenkins => Some(LogKey {
                run: run_ref,
                stage: None,
                file: None,
            }),
            Origin::Local => {
                let s = self.selected_stage()?;
                Some(LogKey {
                    run: run_ref,
                    stage: Some(s.name.clone()),
                    file: Some(s.log.clone()?),
                })
            }
        }
    }

    /// How long `stage` took the last time it passed.
    pub fn expected_ms(&self, origin: Origin, stage: &str) -> Option<i64> {
        self.expected.get(&origin)?.get(stage).copied()
    }

    /// The newest local run still going.
    pub fn running_local(&self) -> Option<&RunRecord> {
        self.local
            .iter()
            .filter(|r| r.status == RunStatus::Running)
            .max_by_key(|r| r.id)
    }

    /// Take in an event of the builds source; its states go to `sources`.
    pub fn on_event(&mut self, ev: BuildsEvent, sources: &mut BTreeMap<String, SourceState>) {
        match ev {
            BuildsEvent::State { source, state } => {
                sources.insert(source.to_string(), state);
            }
            BuildsEvent::Runs {
                origin,
                runs,
                expected,
            } => {
                match origin {
                    Origin::Local => self.local = runs,
                    Origin::Jenkins => self.jenkins = runs,
                }
                self.expected.insert(origin, expected);
                if self.selected.is_some_and(|r| self.find(r).is_none()) {
                    self.selected = None;
                    self.run_chosen = false;
                }
            }
            BuildsEvent::Run { origin, run } => {
                let list = match origin {
                    Origin::Local => &mut self.local,
                    Origin::Jenkins => &mut self.jenkins,
                };
                match list.iter_mut().find(|r| r.id == run.id) {
                    Some(slot) => *slot = run,
                    None => list.insert(0, run),
                }
            }
            BuildsEvent::Log { key, update } => {
                if self.log.key.as_ref() == Some(&key) {
                    self.log.apply(update);
                }
            }
        }
    }

    /// Follow `key` from now on: the old log's lines go.
    pub fn refollow(&mut self, key: Option<LogKey>) {
        self.log = StageLog::new(key);
    }

    /// Select the run `delta` rows down the list.
    pub fn move_run(&mut self, delta: i64) {
        let runs = self.runs();
        if runs.is_empty() {
            return;
        }
        let max = runs.len() as i64 - 1;
        let i = (self.selected_index() as i64 + delta).clamp(0, max) as usize;
        if let Some((o, r)) = runs.get(i) {
            self.selected = Some(BuildRef {
                origin: *o,
                id: r.id,
            });
            self.run_chosen = true;
            self.stage = None;
            self.stage_chosen = false;
        }
    }

    /// Select the stage `delta` rows down the selected run's stages.
    pub fn move_stage(&mut self, delta: i64) {
        let Some((_, run)) = self.selected_run() else {
            return;
        };
        if run.stages.is_empty() {
            return;
        }
        let cur = self
            .selected_stage()
            .and_then(|s| run.stages.iter().position(|x| x.name == s.name))
            .unwrap_or(0);
        let max = run.stages.len() as i64 - 1;
        let i = (cur as i64 + delta).clamp(0, max) as usize;
        let name = run.stages.get(i).map(|s| s.name.clone());
        self.stage = name;
        self.stage_chosen = true;
    }

    /// Scroll the log `delta` lines towards its end (negative: back).
    pub fn scroll_log(&mut self, delta: i64) {
        let max = self.log.lines.len() as i64;
        let cur = self.log.scroll_from_bottom as i64;
        self.log.scroll_from_bottom = cur.saturating_sub(delta).clamp(0, max) as usize;
    }

    /// Follow the newest run again (a run was just started here).
    pub fn follow_newest(&mut self) {
        self.selected = None;
        self.run_chosen = false;
        self.stage = None;
        self.stage_chosen = false;
        self.tab = PipelineTab::Builds;
    }
}

/// The stage a run opens on: the running one, else the first that
/// failed, else the last that started, else the first.
pub fn default_stage(run: &RunRecord) -> Option<&StageRecord> {
    let st = |want: StageStatus| run.stages.iter().find(|s| s.status == want);
    st(StageStatus::Running)
        .or_else(|| st(StageStatus::Failed))
        .or_else(|| run.stages.iter().rev().find(|s| s.started_ms.is_some()))
        .or_else(|| run.stages.first())
}

#[cfg(test)]
mod tests;
