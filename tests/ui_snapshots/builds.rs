//! The Pipeline pane's build runs: a local run whose test stage failed, a
//! running stage whose log streams in, a Jenkins run, and Jenkins down.

use blissful_infra::app::builds::PipelineTab;
use blissful_infra::app::msg::Msg;
use blissful_infra::config::PipelineStage;
use blissful_infra::highlight::{Highlighter, Painted};
use blissful_infra::pipeline::results::{Coverage, FailedTest, JunitSummary, TrivySummary};
use blissful_infra::pipeline::{RunRecord, RunStatus, StageRecord, StageStatus as St};
use blissful_infra::sources::builds::{BuildRef, BuildsEvent, LogKey, LogUpdate, Origin};

use super::*;

fn stage(name: &str, status: St, start: i64, ms: Option<i64>) -> StageRecord {
    StageRecord {
        name: name.into(),
        command: format!("make {name}"),
        parallel_group: None,
        optional: false,
        status,
        reason: None,
        started_ms: (status != St::Pending && status != St::NotRun).then_some(start),
        ended_ms: ms.map(|m| start + m),
        exit_code: None,
        junit: None,
        coverage: None,
        trivy: None,
        result_errors: Vec::new(),
        log: matches!(status, St::Passed | St::Failed | St::Running).then(|| format!("{name}.log")),
        log_lines: 0,
        log_dropped: 0,
        inputs_hash: None,
    }
}

fn run(
    id: u64,
    status: RunStatus,
    start: i64,
    took: Option<i64>,
    stages: Vec<StageRecord>,
) -> RunRecord {
    RunRecord {
        id,
        status,
        config: "/home/dev/shop/blissful-infra.yaml".into(),
        started_ms: start,
        ended_ms: took.map(|t| start + t),
        pid: 4242,
        strict: false,
        force: false,
        only_stage: None,
        stages,
    }
}

fn failed_run() -> RunRecord {
    let t = NOW - 180_000;
    let mut build = stage("build", St::Passed, t, Some(4_200));
    build.coverage = None;
    let mut test = stage("test", St::Failed, t + 4_200, Some(9_800));
    test.junit = Some(JunitSummary {
        tests: 42,
        passed: 39,
        failed: 2,
        errors: 0,
        skipped: 1,
        failures: vec![
            FailedTest {
                name: "com.acme.CartTest.removes".into(),
                message: "expected 2 but was 3".into(),
                kind: "failure".into(),
            },
            FailedTest {
                name: "com.acme.CartTest.empties".into(),
                message: "NullPointerException".into(),
                kind: "failure".into(),
            },
        ],
        failures_dropped: 0,
    });
    test.coverage = Some(Coverage {
        percent: 81.3,
        lines_hit: Some(650),
        lines_found: Some(800),
    });
    test.reason = Some("2 of 42 tests failed: com.acme.CartTest.removes".into());
    let mut scan = stage("scan", St::Skipped, t + 14_000, Some(0));
    scan.started_ms = None;
    scan.ended_ms = None;
    scan.reason = Some("skipped: trivy not installed".into());
    let mut image = stage("image", St::Passed, t + 14_000, Some(2_100));
    image.trivy = Some(TrivySummary {
        high: 2,
        medium: 1,
        ..TrivySummary::default()
    });
    let mut deploy = stage("deploy", St::NotRun, 0, None);
    deploy.reason = Some("not run: an earlier stage failed".into());
    run(
        7,
        RunStatus::Failed,
        t,
        Some(16_100),
        vec![build, test, scan, image, deploy],
    )
}

fn builds_app() -> App {
    let mut cfg = Config::default();
    cfg.pipeline.stages = ["build", "test", "scan", "image", "deploy"]
        .iter()
        .map(|n| PipelineStage {
            name: n.to_string(),
            command: format!("make {n}"),
            ..PipelineStage::default()
        })
        .collect();
    let keymap = Keymap::build(&cfg.keymap).expect("keymap");
    let mut app = App::new(Arc::new(cfg), "sandbox", false, keymap, NOW);
    app.focus = PaneId::Pipeline;
    app.zoomed = true;
    assert_eq!(app.builds.tab, PipelineTab::Builds);
    app
}

fn runs(app: &mut App, origin: Origin, runs: Vec<RunRecord>) {
    let expected = blissful_infra::sources::builds::expected_durations(&runs);
    app.update(Msg::Builds(BuildsEvent::Runs {
        origin,
        runs,
        expected,
    }));
}

fn log(app: &mut App, lines: &[&str]) {
    let key = app.builds.log.key.clone().expect("a log is followed");
    let mut h = Highlighter::new();
    let painted: Vec<Painted> = lines.iter().map(|l| h.paint(l)).collect();
    app.update(Msg::Builds(BuildsEvent::Log {
        key,
        update: LogUpdate::Append(painted),
    }));
}

#[test]
fn a_failed_test_stage_shows_its_failing_test_first() {
    let mut app = builds_app();
    runs(&mut app, Origin::Local, vec![failed_run()]);
    log(
        &mut app,
        &[
            "+ ./gradlew test",
            "> Task :test",
            "CartTest > removes FAILED",
            "    org.opentest4j.AssertionFailedError: expected: <2> but was: <3>",
            "42 tests completed, 2 failed, 1 skipped",
        ],
    );
    for (w, h) in SIZES {
        let text = buffer_text(&snapshot("builds_failed_test", &app, w, h));
        let failed = text
            .find("FAILED com.acme.CartTest.removes: expected 2 but was 3")
            .unwrap_or_else(|| panic!("{text}"));
        let log = text
            .find("42 tests completed")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            failed < log,
            "the failing test comes before the log: {text}"
        );
    }
    let text = buffer_text(&render(&app, &Theme::default(), 120, 40));
    assert!(
        text.contains("tests 39 passed, 2 failed, 1 skipped · coverage 81.3%"),
        "{text}"
    );
    assert!(text.contains("skipped: trivy not installed"), "{text}");
    assert!(
        text.contains("findings 0 critical, 2 high, 1 medium, 0 low"),
        "{text}"
    );
}

#[test]
fn a_running_stage_streams_its_log_with_colour() {
    let mut app = builds_app();
    let earlier = failed_run();
    let t = NOW - 6_000;
    let mut test = stage("test", St::Running, t + 2_000, None);
    test.reason = None;
    let going = run(
        8,
        RunStatus::Running,
        t,
        None,
        vec![
            stage("build", St::Passed, t, Some(2_000)),
            test,
            stage("scan", St::Pending, 0, None),
        ],
    );
    let mut green = earlier.clone();
    green.id = 6;
    green.status = RunStatus::Passed;
    green.started_ms -= 600_000;
    green.stages[1].status = St::Passed;
    runs(&mut app, Origin::Local, vec![going, earlier, green]);
    assert_eq!(
        app.builds
            .log
            .key
            .as_ref()
            .and_then(|k| k.stage.clone())
            .as_deref(),
        Some("test"),
        "the running stage is followed"
    );
    log(
        &mut app,
        &[
            "diff --git a/k8s/app.yaml b/k8s/app.yaml",
            "@@ -3,2 +3,2 @@",
            "-  replicas: 1",
            "+  replicas: 3",
        ],
    );
    log(&mut app, &[" name: shop", "ok: render passed"]);
    let buf = snapshot("builds_running_stream", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("● test"), "{text}");
    assert!(
        text.contains("% "),
        "progress against the last green run: {text}"
    );
    // The added line is drawn in the theme's ok colour.
    let theme = Theme::default();
    let row = (0..buf.area.height)
        .find(|y| buffer_row(&buf, *y).contains("+  replicas: 3"))
        .expect("the added line");
    let x = (0..buf.area.width)
        .find(|x| buf[(*x, row)].symbol() == "+")
        .expect("its +");
    assert_eq!(buf[(x, row)].fg, theme.ok().fg.unwrap_or(Color::Reset));
}

fn jenkins_run() -> RunRecord {
    let t = NOW - 95_000;
    let mut test = stage("Test", St::Running, t + 30_000, None);
    test.command = String::new();
    test.log = None;
    let mut build = stage("Build", St::Passed, t, Some(30_000));
    build.log = None;
    let mut deploy = stage("Deploy", St::Pending, 0, None);
    deploy.log = None;
    let mut r = run(142, RunStatus::Running, t, None, vec![build, test, deploy]);
    r.config = "team/shop".into();
    r.pid = 0;
    r
}

#[test]
fn a_jenkins_run_shows_its_stages_and_console() {
    let mut app = builds_app();
    runs(&mut app, Origin::Local, vec![failed_run()]);
    runs(&mut app, Origin::Jenkins, vec![jenkins_run()]);
    let key = app.builds.log.key.clone().expect("followed");
    assert_eq!(
        key,
        LogKey {
            run: BuildRef {
                origin: Origin::Jenkins,
                id: 142
            },
            stage: None,
            file: None
        }
    );
    log(
        &mut app,
        &[
            "Started by user alice",
            "[Pipeline] stage (Test)",
            r#"{"level":"info","msg":"tests started","suite":"cart"}"#,
        ],
    );
    let text = buffer_text(&snapshot("builds_jenkins", &app, 120, 40));
    assert!(text.contains("jenkins #142"), "{text}");
    assert!(text.contains("console of #142"), "{text}");
    assert!(text.contains("local   #7"), "{text}");
}

#[test]
fn jenkins_down_is_said_in_plain_words() {
    let mut app = builds_app();
    runs(&mut app, Origin::Local, vec![failed_run()]);
    app.update(Msg::Builds(BuildsEvent::State {
        source: "jenkins",
        state: blissful_infra::runtime::SourceState::retrying(
            "Jenkins refused the credentials of alice (HTTP 401): the API token in $JENKINS_TOKEN is wrong, expired or not for this user",
            std::time::Duration::from_secs(8),
        ),
    }));
    let text = buffer_text(&snapshot("builds_jenkins_down", &app, 120, 40));
    assert!(
        text.contains("✗ jenkins: Jenkins refused the credentials of alice (HTTP 401)"),
        "{text}"
    );
    assert!(text.contains("retry in 8s"), "{text}");
}
