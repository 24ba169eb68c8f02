//! A whole run: check the stages, claim an id, run the batches in order
//! (the stages of one batch at the same time), record every change in
//! `run.json`, and report each finished stage to the caller.

use std::ffi::OsString;
use std::path::PathBuf;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::inputs::hash_inputs;
use super::model::{RunRecord, RunStatus, StageRecord, StageStatus};
use super::plan::{batches, check, find_tool, PlanError};
use super::stage::run_stage;
use super::store::{RunStore, StoreError};
use crate::config::PipelineStage;

/// The project whose pipeline runs.
#[derive(Clone, Debug)]
pub struct Project {
    /// blissful-infra.yaml (recorded in the run).
    pub config_path: PathBuf,
    /// Where commands run and relative paths start: the config's directory.
    pub dir: PathBuf,
    pub stages: Vec<PipelineStage>,
}

/// `--strict`, `--force`, `--stage`, and the PATH tools are looked up in.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// A stage skipped for a missing tool fails instead.
    pub strict: bool,
    /// Run stages whose inputs did not change.
    pub force: bool,
    pub only_stage: Option<String>,
    pub path_var: Option<OsString>,
}

/// What the caller hears while the run goes on.
pub enum Progress<'a> {
    Started(&'a RunRecord),
    StageFinished(&'a StageRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no stage named `{name}` in pipeline.stages (stages: {known})")]
    NoStage { name: String, known: String },
}

impl PipelineError {
    /// Whether the configuration or the command line is at fault.
    pub fn is_usage(&self) -> bool {
        matches!(self, PipelineError::Plan(_) | PipelineError::NoStage { .. })
    }
}

fn new_record(s: &PipelineStage) -> StageRecord {
    StageRecord {
        parallel_group: s.parallel_group.clone(),
        optional: s.optional,
        ..StageRecord::new(
            s.name.clone(),
            crate::domain::sanitize::strip_all(&s.command),
            StageStatus::Pending,
        )
    }
}

/// Run the pipeline; the record is saved after every change.
pub async fn run_pipeline(
    project: &Project,
    opts: &RunOptions,
    store: &RunStore,
    cancel: &CancellationToken,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<RunRecord, PipelineError> {
    check(&project.stages)?;
    let stages: Vec<PipelineStage> = match &opts.only_stage {
        Some(name) => match project.stages.iter().find(|s| &s.name == name) {
            Some(s) => vec![s.clone()],
            None => {
                return Err(PipelineError::NoStage {
                    name: crate::domain::sanitize::strip_all(name),
                    known: project
                        .stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        },
        None => project.stages.clone(),
    };
    store.mark_interrupted()?;
    let id = store.claim()?;
    let mut run = RunRecord {
        id,
        status: RunStatus::Running,
        config: crate::domain::sanitize::strip_all(&project.config_path.display().to_string()),
        started_ms: crate::clock::now_ms(),
        ended_ms: None,
        pid: std::process::id(),
        strict: opts.strict,
        force: opts.force,
        only_stage: opts.only_stage.clone(),
        stages: stages.iter().map(new_record).collect(),
    };
    store.save(&run)?;
    progress(Progress::Started(&run));
    let mut failed = false;
    for batch in batches(&stages) {
        if failed || cancel.is_cancelled() {
            let why = if cancel.is_cancelled() {
                "not run: the pipeline was cancelled"
            } else {
                "not run: an earlier stage failed"
            };
            for i in batch {
                if let Some(r) = run.stages.get_mut(i) {
                    r.status = StageStatus::NotRun;
                    r.reason = Some(why.into());
                }
            }
            continue;
        }
        let mut to_run = Vec::new();
        for i in batch {
            let (Some(cfg), Some(rec)) = (stages.get(i), run.stages.get_mut(i)) else {
                continue;
            };
            if precheck(cfg, rec, project, opts, store)? {
                to_run.push(i);
            } else {
                progress(Progress::StageFinished(rec));
            }
        }
        let mut running = FuturesUnordered::new();
        for i in to_run {
            let (Some(cfg), Some(rec)) = (stages.get(i), run.stages.get_mut(i)) else {
                continue;
            };
            rec.status = StageStatus::Running;
            rec.started_ms = Some(crate::clock::now_ms());
            // Written as the output arrives; replaced whole at the end.
            let file = format!("{}.log", rec.name);
            let live = store.run_dir(id).join(&file);
            rec.log = Some(file);
            let rec = rec.clone();
            let dir = project.dir.clone();
            running.push(async move {
                let done = run_stage(cfg, rec, &dir, Some(&live), cancel).await;
                (i, done)
            });
        }
        store.save(&run)?;
        while let Some((i, done)) = running.next().await {
            let mut rec = done.record;
            let file = format!("{}.log", rec.name);
            if let Err(e) = store.save_log(id, &file, &done.log.render()) {
                // The live file keeps what it had.
                rec.result_errors.push(format!("log not saved: {e}"));
            }
            rec.log = Some(file);
            if let Some(slot) = run.stages.get_mut(i) {
                *slot = rec;
                progress(Progress::StageFinished(slot));
            }
            store.save(&run)?;
        }
        failed = run.stages.iter().any(|s| {
            !s.optional && matches!(s.status, StageStatus::Failed | StageStatus::Cancelled)
        });
    }
    run.status = if cancel.is_cancelled() {
        RunStatus::Cancelled
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Passed
    };
    run.ended_ms = Some(crate::clock::now_ms());
    store.save(&run)?;
    Ok(run)
}

/// The tool and change-detector checks; `Ok(true)` when the stage must run.
fn precheck(
    cfg: &PipelineStage,
    rec: &mut StageRecord,
    project: &Project,
    opts: &RunOptions,
    store: &RunStore,
) -> Result<bool, PipelineError> {
    if let Some(tool) = cfg.tool.as_deref().map(str::trim) {
        if find_tool(tool, opts.path_var.as_deref(), &project.dir).is_none() {
            let tool = crate::domain::sanitize::strip_all(tool);
            if opts.strict {
                rec.status = StageStatus::Failed;
                rec.reason = Some(format!(
                    "{tool} not installed (--strict fails a skipped stage)"
                ));
            } else {
                rec.status = StageStatus::Skipped;
                rec.reason = Some(format!("skipped: {tool} not installed"));
            }
            return Ok(false);
        }
    }
    if cfg.inputs.is_empty() {
        return Ok(true);
    }
    let hash = match hash_inputs(&project.dir, &cfg.inputs) {
        Ok(h) => h,
        Err(e) => {
            rec.status = StageStatus::Failed;
            rec.reason = Some(e.to_string());
            return Ok(false);
        }
    };
    rec.inputs_hash = Some(hash.clone());
    if opts.force {
        return Ok(true);
    }
    if let Some((last, Some(h))) = store.last_green(&cfg.name)? {
        if h == hash {
            rec.status = StageStatus::Skipped;
            rec.reason = Some(format!("unchanged since run {last}"));
            return Ok(false);
        }
    }
    Ok(true)
}
