use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::app::keymap::Keymap;
use crate::app::msg::{Command, Msg};
use crate::app::state::{App, Mode, PaneId};
use crate::config::{Config, PipelineStage};
use crate::pipeline::results::{FailedTest, JunitSummary};

fn stage(name: &str, status: StageStatus) -> StageRecord {
    StageRecord {
        name: name.into(),
        command: "true".into(),
        parallel_group: None,
        optional: false,
        status,
        reason: None,
        started_ms: (status != StageStatus::Pending).then_some(1_000),
        ended_ms: None,
        exit_code: None,
        junit: None,
        coverage: None,
        trivy: None,
        result_errors: Vec::new(),
        log: (status != StageStatus::Pending).then(|| format!("{name}.log")),
        log_lines: 0,
        log_dropped: 0,
        inputs_hash: None,
    }
}

fn run(id: u64, started: i64, status: RunStatus, stages: Vec<StageRecord>) -> RunRecord {
    RunRecord {
        id,
        status,
        config: "blissful-infra.yaml".into(),
        started_ms: started,
        ended_ms: None,
        pid: 4242,
        strict: false,
        force: false,
        only_stage: None,
        stages,
    }
}

fn failed_test_stage() -> StageRecord {
    let mut s = stage("test", StageStatus::Failed);
    s.junit = Some(JunitSummary {
        tests: 2,
        passed: 1,
        failed: 1,
        failures: vec![FailedTest {
            name: "CartTest.removes".into(),
            message: "expected 2 but was 3".into(),
            kind: "failure".into(),
        }],
        ..JunitSummary::default()
    });
    s
}

fn app(read_only: bool) -> App {
    let mut cfg = Config::default();
    cfg.pipeline.stages = ["build", "test"]
        .iter()
        .map(|n| PipelineStage {
            name: n.to_string(),
            command: "true".into(),
            ..PipelineStage::default()
        })
        .collect();
    let keymap = Keymap::build(&cfg.keymap).unwrap();
    let mut app = App::new(Arc::new(cfg), "sandbox", read_only, keymap, 10_000);
    app.focus = PaneId::Pipeline;
    app
}

fn runs(origin: Origin, runs: Vec<RunRecord>) -> Msg {
    Msg::Builds(BuildsEvent::Runs {
        origin,
        runs,
        expected: BTreeMap::new(),
    })
}

/// `n` stands for the run key (s), `s` for rerun (S), `x` for cancel (ctrl-x).
fn key(app: &mut App, c: char) -> Vec<Command> {
    let (code, mods) = match c {
        'n' => (KeyCode::Char('s'), KeyModifiers::NONE),
        's' => (KeyCode::Char('S'), KeyModifiers::SHIFT),
        'x' => (KeyCode::Char('x'), KeyModifiers::CONTROL),
        c => (KeyCode::Char(c), KeyModifiers::NONE),
    };
    app.update(Msg::Key(KeyEvent::new(code, mods)))
}

fn local_key(id: u64, stage: &str) -> LogKey {
    LogKey {
        run: BuildRef {
            origin: Origin::Local,
            id,
        },
        stage: Some(stage.into()),
        file: Some(format!("{stage}.log")),
    }
}

fn line(s: &str) -> Painted {
    Painted::Sgr(s.into())
}

#[test]
fn a_project_with_stages_opens_on_the_builds_tab_and_t_switches() {
    let mut a = app(false);
    assert_eq!(a.builds.tab, PipelineTab::Builds);
    key(&mut a, 't');
    assert_eq!(a.builds.tab, PipelineTab::Rollouts);
    let plain = App::new(
        Arc::new(Config::default()),
        "sandbox",
        false,
        Keymap::build(&Default::default()).unwrap(),
        0,
    );
    assert_eq!(plain.builds.tab, PipelineTab::Rollouts);
}

#[test]
fn runs_of_both_origins_list_newest_first_and_the_failed_stage_is_followed() {
    let mut a = app(false);
    let cmds = a.update(runs(
        Origin::Local,
        vec![run(
            2,
            5_000,
            RunStatus::Failed,
            vec![stage("build", StageStatus::Passed), failed_test_stage()],
        )],
    ));
    assert_eq!(
        cmds,
        vec![Command::FollowBuildLog(Some(local_key(2, "test")))]
    );
    a.update(runs(
        Origin::Jenkins,
        vec![run(17, 3_000, RunStatus::Passed, vec![])],
    ));
    let order: Vec<(Origin, u64)> = a.builds.runs().iter().map(|(o, r)| (*o, r.id)).collect();
    assert_eq!(order, vec![(Origin::Local, 2), (Origin::Jenkins, 17)]);
    // j selects the Jenkins run: its console is followed.
    let cmds = key(&mut a, 'j');
    let jenkins = LogKey {
        run: BuildRef {
            origin: Origin::Jenkins,
            id: 17,
        },
        stage: None,
        file: None,
    };
    assert_eq!(cmds, vec![Command::FollowBuildLog(Some(jenkins))]);
}

#[test]
fn a_running_stage_is_followed_and_its_log_streams_in_bounded() {
    let mut a = app(false);
    a.update(runs(
        Origin::Local,
        vec![run(
            3,
            1,
            RunStatus::Running,
            vec![
                stage("build", StageStatus::Running),
                stage("test", StageStatus::Pending),
            ],
        )],
    ));
    let k = local_key(3, "build");
    assert_eq!(a.builds.log.key, Some(k.clone()));
    let log = |u| {
        Msg::Builds(BuildsEvent::Log {
            key: k.clone(),
            update: u,
        })
    };
    a.update(log(LogUpdate::Replace(vec![line("one")])));
    a.update(log(LogUpdate::Append(vec![line("two")])));
    // A line of a log no longer followed is left out.
    a.update(Msg::Builds(BuildsEvent::Log {
        key: local_key(1, "build"),
        update: LogUpdate::Append(vec![line("stale")]),
    }));
    let texts: Vec<String> = a.builds.log.lines.iter().map(Painted::text).collect();
    assert_eq!(texts, vec!["one", "two"]);
    a.update(log(LogUpdate::Append(
        (0..MAX_LOG_LINES).map(|i| line(&i.to_string())).collect(),
    )));
    assert_eq!(a.builds.log.lines.len(), MAX_LOG_LINES);
    assert_eq!(a.builds.log.dropped, 2);
    a.update(log(LogUpdate::Problem("no log written yet".into())));
    assert_eq!(a.builds.log.problem.as_deref(), Some("no log written yet"));
    // J moves to the next stage, which has no log yet: nothing to follow.
    let cmds = key(&mut a, 'J');
    assert_eq!(cmds, vec![Command::FollowBuildLog(None)]);
    assert!(a.builds.log.lines.is_empty());
}

#[test]
fn n_asks_then_runs_the_pipeline_once() {
    let mut a = app(false);
    assert!(key(&mut a, 'n').is_empty());
    let Mode::Confirm(c) = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert!(c.lines[0].contains("Run the 2 stages"), "{:?}", c.lines);
    let cmds = key(&mut a, 'y');
    assert!(
        cmds.contains(&Command::RunPipeline { only_stage: None }),
        "{cmds:?}"
    );
    assert!(a.builds.job_running);
    key(&mut a, 'n');
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.flash.as_ref().unwrap().text.contains("still going"));
    a.update(Msg::PipelineJobDone(Err(
        "pipeline run 1 failed at test".into()
    )));
    assert!(!a.builds.job_running);
}

#[test]
fn read_only_refuses_running_with_the_reason() {
    let mut a = app(true);
    assert!(key(&mut a, 'n').is_empty());
    assert_eq!(a.mode, Mode::Normal);
    let text = &a.flash.as_ref().unwrap().text;
    assert!(
        text.contains("read-only mode: run pipeline is disabled"),
        "{text}"
    );
    assert!(text.contains("deploy, push"), "{text}");
    key(&mut a, 's');
    assert!(a
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("rerun stage is disabled"));
}

#[test]
fn s_reruns_only_a_failed_local_stage() {
    let mut a = app(false);
    a.update(runs(
        Origin::Local,
        vec![run(
            2,
            5,
            RunStatus::Failed,
            vec![stage("build", StageStatus::Passed), failed_test_stage()],
        )],
    ));
    key(&mut a, 's');
    assert!(matches!(a.mode, Mode::Confirm(_)));
    let cmds = key(&mut a, 'y');
    assert!(cmds.contains(&Command::RunPipeline {
        only_stage: Some("test".into())
    }));
    // A passed stage is not rerun.
    a.update(Msg::PipelineJobDone(Ok("done".into())));
    key(&mut a, 'K');
    key(&mut a, 's');
    assert_eq!(a.mode, Mode::Normal);
    assert!(a
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("only a failed stage"));
    // Nor a Jenkins one.
    a.update(runs(
        Origin::Jenkins,
        vec![run(
            9,
            50,
            RunStatus::Failed,
            vec![stage("Test", StageStatus::Failed)],
        )],
    ));
    key(&mut a, 's');
    assert!(a.flash.as_ref().unwrap().text.contains("rerun in Jenkins"));
}

#[test]
fn x_asks_before_cancelling_the_running_local_run() {
    let mut a = app(false);
    key(&mut a, 'x');
    assert!(a
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("no local pipeline run"));
    a.update(runs(
        Origin::Local,
        vec![run(
            5,
            5,
            RunStatus::Running,
            vec![stage("build", StageStatus::Running)],
        )],
    ));
    key(&mut a, 'x');
    let Mode::Confirm(c) = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert!(
        c.lines.iter().any(|l| l.contains("process groups")),
        "{:?}",
        c.lines
    );
    let cmds = key(&mut a, 'y');
    assert!(cmds.contains(&Command::CancelPipeline { id: 5, pid: 4242 }));
}

#[test]
fn source_states_are_kept_with_the_others() {
    let mut a = app(false);
    a.update(Msg::Builds(BuildsEvent::State {
        source: "jenkins",
        state: SourceState::Degraded("Jenkins refused the credentials of bob (HTTP 401)".into()),
    }));
    assert!(
        matches!(a.sources.get("jenkins"), Some(SourceState::Degraded(r)) if r.contains("401"))
    );
}
