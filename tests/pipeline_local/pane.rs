//! The console's Pipeline pane fed from the real store: runs made by the
//! real binary, read by the builds source (`sources::builds`), folded
//! into `App` by its update, drawn by the real render functions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::{Command, Msg};
use blissful_infra::app::state::{App, PaneId};
use blissful_infra::config::{Config, PipelineStage};
use blissful_infra::paths::StatePaths;
use blissful_infra::pipeline::{RunStatus, RunStore};
use blissful_infra::sources::builds::{BuildsConfig, BuildsEvent, BuildsFeed};
use blissful_infra::ui::Theme;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::*;

fn console(names: &[&str]) -> App {
    let mut cfg = Config::default();
    cfg.pipeline.stages = names
        .iter()
        .map(|n| PipelineStage {
            name: n.to_string(),
            command: "true".into(),
            ..PipelineStage::default()
        })
        .collect();
    let keymap = Keymap::build(&cfg.keymap).unwrap();
    let mut app = App::new(Arc::new(cfg), "sandbox", false, keymap, 0);
    app.focus = PaneId::Pipeline;
    app.zoomed = true;
    app
}

/// The console loop's part: events into the app, log requests to the feed.
struct Pane {
    app: App,
    feed: BuildsFeed,
    rx: mpsc::Receiver<BuildsEvent>,
}

impl Pane {
    fn open(p: &Project, names: &[&str]) -> Pane {
        let (tx, rx) = mpsc::channel(64);
        let store = RunStore::new(&StatePaths::at(&p.state));
        let feed = BuildsFeed::start(
            BuildsConfig {
                store,
                jenkins: None,
            },
            tx,
        );
        Pane {
            app: console(names),
            feed,
            rx,
        }
    }

    /// Fold events in until `done` holds (10 s at most).
    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = tokio::time::timeout(left, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("{what}: not seen in 10 s:\n{}", self.screen()))
                .expect("the feed runs");
            self.app.now = blissful_infra::clock::now_ms();
            for cmd in self.app.update(Msg::Builds(ev)) {
                if let Command::FollowBuildLog(key) = cmd {
                    self.feed.follow(key);
                }
            }
        }
    }

    fn screen(&self) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| blissful_infra::ui::draw(f, &self.app, &Theme::default()))
            .unwrap();
        let buf = t.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
                row.trim_end().to_string() + "\n"
            })
            .collect()
    }
}

fn log_has(app: &App, text: &str) -> bool {
    app.builds.log.lines.iter().any(|l| l.text().contains(text))
}

#[test]
fn the_pane_shows_the_failing_test_first_from_the_real_store() {
    let p = Project::new(
        "    - name: build\n      command: echo compiling\n    - name: test\n      command: mkdir -p reports && cp fixtures/fail.xml reports/TEST-cart.xml && echo 'running 2 tests' && exit 1\n      junit: [reports/TEST-*.xml]\n",
    );
    p.write("fixtures/fail.xml", JUNIT_FAIL);
    assert_eq!(p.run(&["pipeline", "--local"]).status.code(), Some(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut pane = Pane::open(&p, &["build", "test"]);
        pane.until("the failed test stage's log", |a| {
            log_has(a, "running 2 tests")
        })
        .await;
        let (_, run) = pane.app.builds.selected_run().unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(
            pane.app.builds.selected_stage().map(|s| s.name.as_str()),
            Some("test"),
            "the failed stage is the one shown"
        );
        let screen = pane.screen();
        let failed = screen
            .find("FAILED com.acme.CartTest.removes: expected 2 but was 3")
            .unwrap_or_else(|| panic!("{screen}"));
        let log = screen
            .find("running 2 tests")
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(failed < log, "the failing test comes first:\n{screen}");
        assert!(screen.contains("local   #1"), "{screen}");
        assert!(screen.contains("tests 1 passed, 1 failed"), "{screen}");
    });
}

#[test]
fn a_running_stage_streams_its_log_into_the_pane() {
    let p = Project::new(
        "    - name: slow\n      command: echo first-line; while [ ! -e go ]; do sleep 0.05; done; echo second-line\n",
    );
    let mut child = Reaped(
        p.cmd(&["pipeline", "--local"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut pane = Pane::open(&p, &["slow"]);
        pane.until("the first line while the stage runs", |a| {
            log_has(a, "first-line")
        })
        .await;
        let (_, run) = pane.app.builds.selected_run().unwrap();
        assert_eq!(run.status, RunStatus::Running, "the stage is still going");
        assert!(!log_has(&pane.app, "second-line"));
        assert!(pane.screen().contains("● slow"), "{}", pane.screen());
        p.write("go", "");
        pane.until("the end of the run", |a| {
            log_has(a, "second-line")
                && a.builds
                    .selected_run()
                    .is_some_and(|(_, r)| r.status == RunStatus::Passed)
        })
        .await;
    });
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

/// The run is killed if the test fails before it ends (its stage waits
/// for a file that would never come).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
