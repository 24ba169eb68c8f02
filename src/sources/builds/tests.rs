use std::io::Write;

use super::local::LocalRuns;
use super::*;
use crate::paths::StatePaths;
use crate::pipeline::{RunStatus, StageRecord, StageStatus};
use crate::sources::jenkins::{Run, Stage, Status};

fn stage(name: &str, status: StageStatus, ms: Option<(i64, i64)>) -> StageRecord {
    StageRecord {
        name: name.into(),
        command: "true".into(),
        parallel_group: None,
        optional: false,
        status,
        reason: None,
        started_ms: ms.map(|m| m.0),
        ended_ms: ms.map(|m| m.1),
        exit_code: None,
        junit: None,
        coverage: None,
        trivy: None,
        result_errors: Vec::new(),
        log: Some(format!("{name}.log")),
        log_lines: 0,
        log_dropped: 0,
        inputs_hash: None,
    }
}

fn record(id: u64, status: RunStatus, pid: u32, stages: Vec<StageRecord>) -> RunRecord {
    RunRecord {
        id,
        status,
        config: "blissful-infra.yaml".into(),
        started_ms: id as i64 * 1000,
        ended_ms: None,
        pid,
        strict: false,
        force: false,
        only_stage: None,
        stages,
    }
}

fn store() -> (tempfile::TempDir, RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(&StatePaths::at(dir.path()));
    (dir, store)
}

#[test]
fn jenkins_runs_map_into_run_records() {
    let run = Run {
        number: 12,
        name: "#12".into(),
        status: Status::InProgress,
        start_ms: 1_000,
        duration_ms: 5_000,
        stages: vec![
            Stage {
                id: "6".into(),
                name: "Build".into(),
                status: Status::Success,
                start_ms: 1_000,
                duration_ms: 2_000,
            },
            Stage {
                id: "7".into(),
                name: "Test".into(),
                status: Status::Unstable,
                start_ms: 3_000,
                duration_ms: 1_000,
            },
            Stage {
                id: "8".into(),
                name: "Deploy".into(),
                status: Status::PausedPendingInput,
                start_ms: 4_000,
                duration_ms: 500,
            },
        ],
        stages_dropped: 0,
    };
    let r = from_jenkins(&run, "team/shop");
    assert_eq!((r.id, r.status, r.ended_ms), (12, RunStatus::Running, None));
    assert_eq!(r.config, "team/shop");
    assert_eq!(r.stages[0].duration_ms(), Some(2_000));
    assert_eq!(r.stages[1].status, StageStatus::Failed);
    assert_eq!(r.stages[1].reason.as_deref(), Some("unstable"));
    assert_eq!(r.stages[2].status, StageStatus::Running);
    assert_eq!(r.stages[2].ended_ms, None);
    assert_eq!(expected_durations(&[r]).get("Build"), Some(&2_000));
}

#[test]
fn the_store_is_polled_for_new_and_changed_runs_only() {
    let (_d, store) = store();
    let mut runs = LocalRuns::new(store.clone());
    assert_eq!(runs.poll().unwrap(), None, "no store yet: nothing to say");
    let me = std::process::id();
    let done = record(
        1,
        RunStatus::Passed,
        me,
        vec![stage("build", StageStatus::Passed, Some((1, 5)))],
    );
    store.claim().unwrap();
    store.save(&done).unwrap();
    let mut going = record(
        2,
        RunStatus::Running,
        me,
        vec![stage("build", StageStatus::Running, Some((9, 9)))],
    );
    store.claim().unwrap();
    store.save(&going).unwrap();
    let list = runs.poll().unwrap().expect("two runs");
    assert_eq!(list.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 1]);
    assert!(runs.busy());
    assert_eq!(runs.poll().unwrap(), None, "nothing changed");
    going.stages[0].status = StageStatus::Failed;
    going.status = RunStatus::Failed;
    store.save(&going).unwrap();
    let list = runs.poll().unwrap().expect("run 2 changed");
    assert_eq!(list[0].status, RunStatus::Failed);
    assert!(!runs.busy());
}

#[test]
fn a_run_whose_process_is_gone_shows_as_interrupted() {
    let (_d, store) = store();
    // pid 0 is never a live process.
    let run = record(
        1,
        RunStatus::Running,
        0,
        vec![stage("test", StageStatus::Running, Some((1, 1)))],
    );
    store.claim().unwrap();
    store.save(&run).unwrap();
    let mut runs = LocalRuns::new(store.clone());
    let list = runs.poll().unwrap().unwrap();
    assert_eq!(list[0].status, RunStatus::Interrupted);
    assert_eq!(list[0].stages[0].status, StageStatus::NotRun);
    assert!(!runs.busy());
    assert_eq!(runs.poll().unwrap(), None, "said once");
    // The store itself is left as it was.
    assert_eq!(store.load(1).unwrap().status, RunStatus::Running);
}

fn texts(u: &LogUpdate) -> Vec<String> {
    match u {
        LogUpdate::Replace(l) | LogUpdate::Append(l) => l.iter().map(|p| p.text()).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_log_file_is_read_as_it_grows_and_again_when_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.log");
    let mut tail = FileTail::new(path.clone());
    assert!(tail.read_new().is_err(), "no file yet");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"one\ntw").unwrap();
    let first = tail.read_new().unwrap().unwrap();
    assert!(matches!(first, LogUpdate::Replace(_)));
    assert_eq!(texts(&first), vec!["one"]);
    assert_eq!(tail.read_new().unwrap(), None);
    f.write_all(b"o\n\x1b]0;pwned\x07three\x1b[2J\n").unwrap();
    let more = tail.read_new().unwrap().unwrap();
    assert!(matches!(more, LogUpdate::Append(_)));
    assert_eq!(texts(&more), vec!["two", "three"]);
    // The runner replaces the file (a rename) at the end of the stage.
    let tmp = dir.path().join("new");
    std::fs::write(&tmp, "final\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let again = tail.read_new().unwrap().unwrap();
    assert!(matches!(again, LogUpdate::Replace(_)));
    assert_eq!(texts(&again), vec!["final"]);
}

#[test]
fn a_huge_log_file_is_shown_from_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let line = "x".repeat(99) + "\n";
    let n = (follow::MAX_START as usize / line.len()) + 100;
    std::fs::write(&path, line.repeat(n) + "last\n").unwrap();
    let mut tail = FileTail::new(path);
    let mut lines = texts(&tail.read_new().unwrap().unwrap());
    assert!(lines[0].contains("are not shown"), "{}", lines[0]);
    while let Some(u) = tail.read_new().unwrap() {
        lines.extend(texts(&u));
    }
    assert_eq!(lines.last().map(String::as_str), Some("last"));
    assert!(lines.iter().skip(1).all(|l| l == "last" || l.len() == 99));
}

#[tokio::test]
async fn the_newest_log_asked_for_is_the_one_followed() {
    let (_d, store) = store();
    for (id, text) in [(1, "from run one\n"), (2, "from run two\n")] {
        std::fs::create_dir_all(store.run_dir(id)).unwrap();
        std::fs::write(store.run_dir(id).join("build.log"), text).unwrap();
    }
    let key = |id| LogKey {
        run: BuildRef {
            origin: Origin::Local,
            id,
        },
        stage: Some("build".into()),
        file: Some("build.log".into()),
    };
    let (wtx, wrx) = watch::channel(Some(key(1)));
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(follow::run(store.clone(), None, wrx, tx));
    let got = rx.recv().await.unwrap();
    let BuildsEvent::Log { key: k, update } = got else {
        panic!()
    };
    assert_eq!(
        (k, texts(&update)),
        (key(1), vec!["from run one".to_string()])
    );
    wtx.send_replace(Some(key(2)));
    let got = rx.recv().await.unwrap();
    let BuildsEvent::Log { key: k, update } = got else {
        panic!()
    };
    assert_eq!(
        (k, texts(&update)),
        (key(2), vec!["from run two".to_string()])
    );
    // A name from run.json cannot point outside the run's directory.
    let mut evil = key(1);
    evil.file = Some("../2/build.log".into());
    wtx.send_replace(Some(evil));
    let got = rx.recv().await.unwrap();
    assert!(
        matches!(
            got,
            BuildsEvent::Log {
                update: LogUpdate::Problem(_),
                ..
            }
        ),
        "{got:?}"
    );
    task.abort();
}
