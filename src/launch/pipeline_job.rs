//! The console's build runs: the builds source feeding the Pipeline pane,
//! and the local pipeline run from it. A run goes through the runner in
//! this process (`pipeline::run_pipeline`, the same call `pipeline --local`
//! makes), on a task of its own; cancelling it cancels its token, so the
//! runner kills its stages' process groups and marks the run cancelled.
//! A run another process started (`pipeline --local` in a terminal) is
//! cancelled with SIGTERM, which that command handles the same way.
//! Starting and cancelling runs are written to the audit journal.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::jobs::JobContext;
use crate::app::msg::{Command, Msg};
use crate::domain::audit::AuditEntry;
use crate::pipeline::{run_pipeline, RunOptions, RunRecord, RunStatus, StageStatus};
use crate::runtime::Actor;
use crate::sources::builds::{BuildsConfig, BuildsFeed};

/// How long quitting waits for a cancelled run to kill its stages.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The builds source and the run started here.
pub struct PipelineJobs {
    jobs: JobContext,
    tx: mpsc::Sender<Msg>,
    feed: Option<BuildsFeed>,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

impl PipelineJobs {
    /// Start the builds source (when there is a store to read).
    pub fn start(jobs: &JobContext, tx: mpsc::Sender<Msg>) -> PipelineJobs {
        let feed = jobs.pipeline.as_ref().map(|ctx| {
            let (btx, mut brx) = mpsc::channel(64);
            let to_app = tx.clone();
            tokio::spawn(async move {
                while let Some(ev) = brx.recv().await {
                    if to_app.send(Msg::Builds(ev)).await.is_err() {
                        return;
                    }
                }
            });
            let jenkins = &jobs.config.jenkins;
            let cfg = BuildsConfig {
                store: ctx.store.clone(),
                jenkins: jenkins.enabled().then(|| jenkins.clone()),
            };
            BuildsFeed::start(cfg, btx)
        });
        PipelineJobs {
            jobs: jobs.clone(),
            tx,
            feed,
            running: None,
        }
    }

    /// Carry out the pipeline commands among `cmds`; the others are returned.
    pub fn take(&mut self, cmds: Vec<Command>) -> Vec<Command> {
        let mut rest = Vec::new();
        for cmd in cmds {
            match cmd {
                Command::FollowBuildLog(key) => {
                    if let Some(f) = &self.feed {
                        f.follow(key);
                    }
                }
                Command::RunPipeline { only_stage } => self.run(only_stage),
                Command::CancelPipeline { id, pid } => self.cancel(id, pid),
                other => rest.push(other),
            }
        }
        rest
    }

    fn done(&self, result: Result<String, String>) {
        let _ = self.tx.try_send(Msg::PipelineJobDone(result));
    }

    fn run(&mut self, only_stage: Option<String>) {
        let Some(ctx) = self.jobs.pipeline.clone() else {
            return self.done(Err("this console has no pipeline store".into()));
        };
        let Some(project) = ctx.project else {
            return self.done(Err("the demo has no project pipeline to run".into()));
        };
        if self.running.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            return self.done(Err("a pipeline run started here is still going".into()));
        }
        let what = match &only_stage {
            Some(s) => format!("pipeline rerun stage {s}"),
            None => "pipeline run".to_string(),
        };
        // Like every change from the console: journaled first, or not made.
        if let Err(e) = self.audit(&what, "requested", "") {
            return self.done(Err(format!(
                "{e}; the pipeline does not run without its audit entry"
            )));
        }
        let token = CancellationToken::new();
        let cancel = token.clone();
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let opts = RunOptions {
                strict: false,
                // A rerun is asked for: unchanged inputs do not skip it.
                force: only_stage.is_some(),
                only_stage,
                path_var: std::env::var_os("PATH"),
            };
            let result = run_pipeline(&project, &opts, &ctx.store, &cancel, |_| {}).await;
            let _ = tx
                .send(Msg::PipelineJobDone(
                    result.map_err(|e| e.to_string()).and_then(outcome),
                ))
                .await;
        });
        self.running = Some((token, task));
    }

    fn cancel(&mut self, id: u64, pid: u32) {
        let detail = format!("run {id}, process {pid}");
        // Cancelling stops harm: it goes ahead even if the journal cannot take it.
        let unaudited = self.audit("pipeline cancel", "requested", &detail).err();
        let result = if pid == std::process::id() {
            match &self.running {
                Some((token, _)) => {
                    token.cancel();
                    Ok(format!("run {id}: its stages are being stopped"))
                }
                None => Err(format!("run {id} is not running here any more")),
            }
        } else {
            signal_foreign(id, pid)
        };
        let result = match unaudited {
            Some(e) => result.map(|m| format!("{m} (not journaled: {e})")),
            None => result,
        };
        let _ = self.tx.try_send(Msg::ActionDone {
            label: format!("cancel run {id}"),
            result,
        });
    }

    fn audit(&self, action: &str, outcome: &str, detail: &str) -> Result<(), String> {
        let Some(path) = &self.jobs.audit_journal else {
            return Ok(());
        };
        let entry = AuditEntry {
            ts: crate::clock::now_ms(),
            user: Actor::current("console").user,
            env: String::new(),
            action: action.to_string(),
            from_version: None,
            to_version: None,
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        };
        crate::runtime::append_audit_line(path, &entry).map_err(|e| e.to_string())
    }

    /// Quitting: a run started here is cancelled and given a moment to
    /// kill its stages and record itself cancelled.
    pub async fn shutdown(&mut self) {
        if let Some((token, task)) = self.running.take() {
            token.cancel();
            let _ = tokio::time::timeout(STOP_WAIT, task).await;
        }
        self.feed = None;
    }
}

/// What the console says when a run ends.
fn outcome(run: RunRecord) -> Result<String, String> {
    let failed = run
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
        .map(|s| {
            let why = crate::pipeline::summary::first_failure(s)
                .map(|f| format!(": {f}"))
                .unwrap_or_default();
            format!(" at {}{why}", s.name)
        })
        .unwrap_or_default();
    match run.status {
        RunStatus::Passed => Ok(format!("pipeline run {} passed", run.id)),
        st => Err(format!("pipeline run {} {}{failed}", run.id, st.as_str())),
    }
}

/// SIGTERM to the `pipeline --local` running run `id` elsewhere, once
/// its command line says that is what it is (the pid could be reused).
fn signal_foreign(id: u64, pid: u32) -> Result<String, String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_run = args.iter().any(|a| *a == b"pipeline") && args.iter().any(|a| *a == b"--local");
    let Ok(p) = i32::try_from(pid) else {
        return Err(format!("run {id}: process {pid} cannot be signalled"));
    };
    if !is_run || p <= 1 {
        return Err(format!(
            "run {id}: process {pid} is not a `pipeline --local` (any more); nothing was signalled"
        ));
    }
    // SAFETY: kill sends SIGTERM to the one process checked above.
    let rc = unsafe { libc::kill(p, libc::SIGTERM) };
    if rc == 0 {
        Ok(format!(
            "run {id}: SIGTERM sent to its `pipeline --local` (process {pid}), which stops its stages"
        ))
    } else {
        Err(format!(
            "run {id}: cannot signal process {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests;
