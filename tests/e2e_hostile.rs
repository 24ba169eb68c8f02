//! End-to-end: a hostile service, config and argument corpus, shown by the
//! real binary in tmux. No ESC, BEL, C1 or bidi character may reach the
//! terminal: the pane title and tmux's paste buffers stay as they were, and
//! the screen tmux holds is the frame the console drew (the layout is intact).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use support::hostile::{
    assert_layout_matches_frame, assert_terminal_state_untouched, console_in_tmux, ConsoleInTmux,
    MARKERS, SERVICE_CORPUS,
};
use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

fn console_config(dir: &Path) -> String {
    let script = dir.join("hostile-service.sh");
    std::fs::write(
        &script,
        format!(
            "{SERVICE_CORPUS}exec '{BIN}' sample-service --port \"$PORT\" --version \"$VERSION\" --instance \"$INSTANCE\"\n"
        ),
    )
    .expect("write the service script");
    format!(
        r#"
project: hostile
environments:
  - name: staging
    replicas: 1
    router_port: 0
    metrics_port: 0
traffic:
  rate_per_sec: 0
service:
  command: "sh {}"
"#,
        script.display()
    )
}

#[test]
fn a_hostile_service_leaves_the_terminal_and_the_layout_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ConsoleInTmux {
        tmux: t,
        title,
        frame_file,
    } = console_in_tmux(dir.path(), &console_config(dir.path()));
    let long = Duration::from_secs(40);
    t.keys(&["2"]); // the Logs pane, zoomed, so every corpus line is on screen
    t.keys(&["Enter"]);
    let markers = MARKERS;
    let screen = t.wait_for("every corpus line in the Logs pane", long, |sc| {
        markers.iter().all(|m| sc.contains(m))
    });
    // Each line once: the snapshot a console loads and the subscription it
    // opened before do not both show the lines logged in between.
    for m in markers {
        assert_eq!(
            screen.matches(m).count(),
            1,
            "{m} not shown once:\n{screen}"
        );
    }
    // What was hidden is shown: the text behind `\r` and the markers after
    // every escape.
    assert!(screen.contains("HIDDEN"), "{screen}");
    // A bare CR or a backspace does not hide what came before it.
    assert!(screen.contains("HIDDEN-CR"), "{screen}");
    assert!(screen.contains("secret"), "{screen}");
    assert!(screen.contains("abcXYZ"), "{screen}");
    assert_terminal_state_untouched(&t, &title);
    assert_layout_matches_frame(&t, &frame_file);

    // Unzoomed, the six panes share the screen; the layout still holds.
    t.keys(&["Enter"]);
    t.wait_for("the six panes", long, |sc| {
        sc.contains("Environments") && sc.contains("Metrics")
    });
    assert_terminal_state_untouched(&t, &title);
    assert_layout_matches_frame(&t, &frame_file);

    t.keys(&["q"]);
    t.wait_for("exit", long, |sc| sc.contains("EXITED:0"));
    assert_terminal_state_untouched(&t, &title);
}

/// A config value and arguments carrying escapes, echoed back in errors by
/// the CLI in a plain shell pane.
#[test]
fn a_hostile_config_and_arguments_leave_the_terminal_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("hostile.yaml"),
        "project: demo\nenvironments:\n  - name: staging\n    initial_version: \"v1\\e]52;c;aGFja2Vk\\a\\e]0;HACKED\\a\\e[2J\\u009b2J\\u202e\"\n",
    )
    .expect("write config");
    let script = format!(
        r#"cd {dir}
unset RUST_BACKTRACE NO_COLOR
export BLISSFUL_INFRA_STATE_DIR={dir}/state
echo '== config up'
{BIN} --config hostile.yaml up
echo '== config status'
{BIN} --config hostile.yaml status
echo '== argument scenario'
{BIN} chaos --env staging --scenario "$(printf 'x\033]0;HACKED\007\033]52;c;aGFja2Vk\007')"
echo '== argument env'
{BIN} deploy --env "$(printf 'st\302\2332J\342\200\256ing\033[2J')" --version v2
echo '== DONE'
"#,
        dir = dir.path().display(),
    );
    std::fs::write(dir.path().join("run.sh"), script).expect("write script");
    let t = TmuxSession::start(
        200,
        60,
        &format!("sh {}/run.sh; sleep 60", dir.path().display()),
    );
    let title = t.pane_title();
    let screen = t.wait_for("every command to finish", Duration::from_secs(60), |sc| {
        sc.contains("== DONE")
    });
    // Nothing cleared the screen or moved the cursor: every heading is still
    // there, in order, each at the start of its line.
    let headings: Vec<&str> = screen.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(
        headings,
        vec![
            "== config up",
            "== config status",
            "== argument scenario",
            "== argument env",
            "== DONE"
        ],
        "{screen}"
    );
    // Each command said what was wrong instead of failing silently.
    let errors = screen.lines().filter(|l| l.contains("error")).count();
    assert!(errors >= 4, "expected an error per command:\n{screen}");
    assert_terminal_state_untouched(&t, &title);
}
