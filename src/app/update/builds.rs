//! The Pipeline pane's build runs: switching tabs, running the local
//! pipeline or one failed stage of it, cancelling a run, and asking the
//! builds source for the log the pane now shows.

use super::*;
use crate::pipeline::{RunStatus, StageStatus as BuildStage};
use crate::sources::builds::Origin;

impl App {
    pub(in crate::app) fn toggle_pipeline_tab(&mut self) {
        self.builds.tab = match self.builds.tab {
            PipelineTab::Builds => PipelineTab::Rollouts,
            PipelineTab::Rollouts => PipelineTab::Builds,
        };
    }

    /// The followed log changed (another run or stage, or its log file
    /// appeared): ask the source for the new one.
    pub(in crate::app) fn build_log_changed(&mut self) -> Option<Command> {
        let key = self.builds.log_key();
        if key == self.builds.log.key {
            return None;
        }
        self.builds.refollow(key.clone());
        Some(Command::FollowBuildLog(key))
    }

    /// The first key of `action`, for a hint.
    fn key_of(&self, action: Action) -> String {
        self.keymap
            .keys_for(action)
            .into_iter()
            .next()
            .unwrap_or_else(|| spec_of(action).id.to_string())
    }

    /// Why a new local run cannot start now.
    fn run_refused(&self) -> Option<String> {
        if self.config.pipeline.stages.is_empty() {
            return Some(
                "no pipeline.stages in blissful-infra.yaml: there is nothing to run".into(),
            );
        }
        if self.builds.job_running {
            return Some(format!(
                "a pipeline run started here is still going ({} cancels it)",
                self.key_of(Action::CancelPipeline)
            ));
        }
        self.builds.running_local().map(|r| {
            format!(
                "local run {} is still going ({} cancels it)",
                r.id,
                self.key_of(Action::CancelPipeline)
            )
        })
    }

    pub(in crate::app) fn ask_run_pipeline(&mut self, only_stage: Option<String>) {
        if let Some(why) = self.run_refused() {
            self.flash(why, Severity::Warning);
            return;
        }
        self.ask(PendingAction::RunPipeline { only_stage });
    }

    pub(in crate::app) fn ask_rerun_stage(&mut self) {
        let Some((origin, run)) = self.builds.selected_run() else {
            let key = self.key_of(Action::RunPipeline);
            self.flash(
                format!("no run selected: {key} runs the pipeline"),
                Severity::Info,
            );
            return;
        };
        if origin == Origin::Jenkins {
            self.flash(
                format!(
                    "Jenkins build #{} is rerun in Jenkins (`blissful-infra jenkins trigger` starts a new one)",
                    run.id
                ),
                Severity::Info,
            );
            return;
        }
        let Some(stage) = self.builds.selected_stage() else {
            self.flash("the selected run has no stage", Severity::Info);
            return;
        };
        if !matches!(stage.status, BuildStage::Failed | BuildStage::Cancelled) {
            let text = format!(
                "only a failed stage is rerun; {} {} ({} runs the whole pipeline)",
                stage.name,
                stage.status.as_str(),
                self.key_of(Action::RunPipeline)
            );
            self.flash(text, Severity::Info);
            return;
        }
        let name = stage.name.clone();
        if !self.config.pipeline.stages.iter().any(|s| s.name == name) {
            self.flash(
                format!("stage {name} is no longer in pipeline.stages"),
                Severity::Warning,
            );
            return;
        }
        self.ask_run_pipeline(Some(name));
    }

    pub(in crate::app) fn ask_cancel_pipeline(&mut self) {
        let selected = self
            .builds
            .selected_run()
            .filter(|(o, r)| *o == Origin::Local && r.status == RunStatus::Running)
            .map(|(_, r)| r);
        let Some(run) = selected.or_else(|| self.builds.running_local()) else {
            let why = match self.builds.selected_run() {
                Some((Origin::Jenkins, r)) if r.status == RunStatus::Running => format!(
                    "Jenkins build #{} is stopped in Jenkins; no local run is going",
                    r.id
                ),
                _ => "no local pipeline run is going".to_string(),
            };
            self.flash(why, Severity::Info);
            return;
        };
        let (id, pid) = (run.id, run.pid);
        self.ask(PendingAction::CancelPipeline { id, pid });
    }

    /// The confirm dialog's action and wording for a build action.
    pub(in crate::app) fn build_confirm(&self, action: &PendingAction) -> (Action, Vec<String>) {
        match action {
            PendingAction::RunPipeline {
                only_stage: Some(stage),
            } => (
                Action::RerunStage,
                vec![
                    format!("Run stage {stage} again, alone, as a new local run."),
                    "Its inputs are not compared: it runs even if they did not change.".into(),
                ],
            ),
            PendingAction::CancelPipeline { id, .. } => (
                Action::CancelPipeline,
                vec![
                    format!("Cancel local pipeline run {id}."),
                    "Its running stages' process groups are killed (SIGTERM, then SIGKILL); the run is marked cancelled.".into(),
                ],
            ),
            _ => {
                let n = self.config.pipeline.stages.len();
                (
                    Action::RunPipeline,
                    vec![
                        format!(
                            "Run the {n} stage{} of pipeline.stages here, each with sh -c from the project's directory.",
                            if n == 1 { "" } else { "s" }
                        ),
                        "Stages may change things (deploy, push); the run is kept with the others.".into(),
                    ],
                )
            }
        }
    }

    /// A confirmed build action, as the command that carries it out.
    pub(in crate::app) fn build_confirmed(&mut self, action: PendingAction) -> Vec<Command> {
        match action {
            PendingAction::RunPipeline { only_stage } => {
                self.builds.job_running = true;
                self.builds.follow_newest();
                let what = match &only_stage {
                    Some(s) => format!("stage {s} runs again…"),
                    None => "the pipeline runs…".to_string(),
                };
                self.flash(what, Severity::Info);
                vec![Command::RunPipeline { only_stage }]
            }
            PendingAction::CancelPipeline { id, pid } => {
                self.flash(format!("cancelling run {id}…"), Severity::Info);
                vec![Command::CancelPipeline { id, pid }]
            }
            _ => Vec::new(),
        }
    }
}
