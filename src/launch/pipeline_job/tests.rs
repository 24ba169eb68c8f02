use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::app::jobs::PipelineContext;
use crate::config::{Config, PipelineStage};
use crate::paths::StatePaths;
use crate::pipeline::RunStore;

fn jobs(dir: &Path, stages: &[(&str, &str)]) -> (JobContext, RunStore) {
    let stages: Vec<PipelineStage> = stages
        .iter()
        .map(|(n, c)| PipelineStage {
            name: n.to_string(),
            command: c.to_string(),
            ..PipelineStage::default()
        })
        .collect();
    let store = RunStore::new(&StatePaths::at(dir.join("state")));
    let project = crate::pipeline::command::project(
        dir.join("blissful-infra.yaml"),
        dir.to_path_buf(),
        stages,
    );
    let ctx = JobContext {
        config: Arc::new(Config::default()),
        compare: None,
        contexts: None,
        project_dir: Some(dir.to_path_buf()),
        knowledge: None,
        audit_journal: Some(dir.join("audit.jsonl")),
        pipeline: Some(PipelineContext {
            store: store.clone(),
            project: Some(project),
        }),
    };
    (ctx, store)
}

async fn job_done(rx: &mut mpsc::Receiver<Msg>) -> Result<String, String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the run ends")
            .expect("channel open");
        if let Msg::PipelineJobDone(r) = msg {
            return r;
        }
    }
}

#[tokio::test]
async fn a_run_from_the_console_goes_through_the_runner_and_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, store) = jobs(dir.path(), &[("build", "echo built"), ("test", "exit 3")]);
    let (tx, mut rx) = mpsc::channel(64);
    let mut p = PipelineJobs::start(&ctx, tx);
    let rest = p.take(vec![
        Command::RunPipeline { only_stage: None },
        Command::Quit,
    ]);
    assert_eq!(rest, vec![Command::Quit]);
    let result = job_done(&mut rx).await;
    assert_eq!(
        result,
        Err("pipeline run 1 failed at test: exit code 3".to_string())
    );
    assert_eq!(store.read_log(1, "build.log").unwrap(), "built\n");
    // A rerun of the failed stage runs it alone.
    p.take(vec![Command::RunPipeline {
        only_stage: Some("test".into()),
    }]);
    assert!(job_done(&mut rx).await.is_err());
    let rerun = store.load(2).unwrap();
    assert_eq!(rerun.only_stage.as_deref(), Some("test"));
    assert_eq!(rerun.stages.len(), 1);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"pipeline run\""), "{audit}");
    assert!(audit.contains("pipeline rerun stage test"), "{audit}");
}

#[tokio::test]
async fn cancel_kills_the_running_stage_and_marks_the_run_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, store) = jobs(
        dir.path(),
        &[
            ("slow", "sleep 300 & echo $! > child.pid; wait"),
            ("next", "touch next-ran"),
        ],
    );
    let (tx, mut rx) = mpsc::channel(64);
    let mut p = PipelineJobs::start(&ctx, tx);
    p.take(vec![Command::RunPipeline { only_stage: None }]);
    let pid_file = dir.path().join("child.pid");
    let mut child = None;
    for _ in 0..400 {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            child = Some(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let child = child.expect("the stage started");
    p.take(vec![Command::CancelPipeline {
        id: 1,
        pid: std::process::id(),
    }]);
    let result = job_done(&mut rx).await;
    assert_eq!(result, Err("pipeline run 1 cancelled".to_string()));
    let run = store.load(1).unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.stages[0].status, StageStatus::Cancelled);
    assert!(!dir.path().join("next-ran").exists());
    assert!(
        !crate::pipeline::store::process_alive(child)
            || std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))),
        "the stage's child {child} outlived the cancel"
    );
}

#[test]
fn a_foreign_pid_is_signalled_only_when_it_is_a_pipeline_run() {
    // This test process is no `pipeline --local`.
    let why = signal_foreign(3, std::process::id()).unwrap_err();
    assert!(why.contains("is not a `pipeline --local`"), "{why}");
}
