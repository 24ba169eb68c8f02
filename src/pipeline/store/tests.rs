use super::*;
use crate::pipeline::model::StageRecord;

fn run(id: u64, status: RunStatus, pid: u32) -> RunRecord {
    RunRecord {
        id,
        status,
        config: "blissful-infra.yaml".into(),
        started_ms: 1,
        ended_ms: None,
        pid,
        strict: false,
        force: false,
        only_stage: None,
        stages: vec![StageRecord {
            name: "build".into(),
            command: "true".into(),
            parallel_group: None,
            optional: false,
            status: StageStatus::Running,
            reason: None,
            started_ms: Some(1),
            ended_ms: None,
            exit_code: None,
            junit: None,
            coverage: None,
            trivy: None,
            result_errors: Vec::new(),
            log: None,
            log_lines: 0,
            log_dropped: 0,
            inputs_hash: Some("h1".into()),
        }],
    }
}

#[test]
fn ids_increase_across_store_instances() {
    let dir = tempfile::tempdir().unwrap();
    let state = StatePaths::at(dir.path());
    let a = RunStore::new(&state).claim().unwrap();
    let b = RunStore::new(&state).claim().unwrap();
    assert_eq!((a, b), (1, 2));
    std::fs::create_dir_all(dir.path().join("pipelines/41")).unwrap();
    assert_eq!(RunStore::new(&state).claim().unwrap(), 42);
}

#[test]
fn save_load_list_and_interrupted_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(&StatePaths::at(dir.path()));
    let id = store.claim().unwrap();
    // pid 0 is never alive: this run's process is gone.
    store.save(&run(id, RunStatus::Running, 0)).unwrap();
    let live = store.claim().unwrap();
    store
        .save(&run(live, RunStatus::Running, std::process::id()))
        .unwrap();
    assert_eq!(store.mark_interrupted().unwrap(), vec![id]);
    let back = store.load(id).unwrap();
    assert_eq!(back.status, RunStatus::Interrupted);
    assert_eq!(back.stages[0].status, StageStatus::NotRun);
    assert_eq!(store.load(live).unwrap().status, RunStatus::Running);
    let (runs, problems) = store.list().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(problems.is_empty());
    assert!(matches!(store.load(99), Err(StoreError::NoRun(99))));
}

#[test]
fn a_corrupt_run_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(&StatePaths::at(dir.path()));
    let id = store.claim().unwrap();
    std::fs::write(store.run_dir(id).join("run.json"), "{ nope").unwrap();
    let (runs, problems) = store.list().unwrap();
    assert!(runs.is_empty());
    assert!(
        problems[0].contains("run.json: not a pipeline run"),
        "{problems:?}"
    );
}

#[test]
fn last_green_finds_the_latest_passed_stage() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(&StatePaths::at(dir.path()));
    assert_eq!(store.last_green("build").unwrap(), None);
    let mut r = run(store.claim().unwrap(), RunStatus::Passed, 0);
    r.stages[0].status = StageStatus::Passed;
    store.save(&r).unwrap();
    let mut r2 = run(store.claim().unwrap(), RunStatus::Failed, 0);
    r2.stages[0].status = StageStatus::Failed;
    store.save(&r2).unwrap();
    assert_eq!(
        store.last_green("build").unwrap(),
        Some((1, Some("h1".into())))
    );
}
