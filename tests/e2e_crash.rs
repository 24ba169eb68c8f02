//! End-to-end failure drill: the console panics on purpose
//! (`BLISSFUL_INFRA_PANIC_DRILL`), in a render function and in a background
//! task. The terminal must come back usable (main screen, cursor shown,
//! cooked mode), a crash report with a backtrace must be in the state
//! directory, and a daemon the console was attached to must keep running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use support::daemon::crash_reports as reports;
use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

const CONFIG: &str = "
project: drill
environments:
  - name: staging
    replicas: 1
    router_port: 0
    metrics_port: 0
traffic:
  rate_per_sec: 5
";

/// Run `script` in a pane; after it, print what the terminal looks like.
fn run(dir: &Path, script: &str) -> (TmuxSession, String) {
    let path = dir.join("drill.sh");
    std::fs::write(
        &path,
        format!(
            "cd {dir}\nunset RUST_BACKTRACE\nexport BLISSFUL_INFRA_STATE_DIR={dir}/state TERM=xterm-256color\n{script}\necho \"MODE:$(stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon')\"\necho DRILL-DONE\nsleep 60\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("blissful-infra.yaml"), CONFIG).unwrap();
    let t = TmuxSession::start(120, 40, &format!("sh {}", path.display()));
    let screen = t.wait_for("the drill to finish", Duration::from_secs(60), |s| {
        s.contains("DRILL-DONE")
    });
    (t, screen)
}

fn assert_terminal_restored(t: &TmuxSession, screen: &str) {
    let flags = t.cmd(&[
        "display-message",
        "-p",
        "-t",
        &t.name,
        "#{alternate_on}#{cursor_flag}",
    ]);
    let flags = String::from_utf8_lossy(&flags.stdout).trim().to_string();
    assert_eq!(flags, "01", "alternate screen off, cursor shown:\n{screen}");
    assert!(screen.contains("MODE:icanon"), "cooked mode:\n{screen}");
}

#[test]
fn a_panic_in_a_render_function_restores_the_terminal_and_leaves_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let (t, screen) = run(
        dir.path(),
        &format!("BLISSFUL_INFRA_PANIC_DRILL=render {BIN} demo; echo EXITED:$?"),
    );
    assert!(
        screen.contains("EXITED:101"),
        "a panic exits 101:\n{screen}"
    );
    assert!(
        screen.contains("blissful-infra crashed; report:"),
        "{screen}"
    );
    assert_terminal_restored(&t, &screen);
    let reports = reports(&dir.path().join("state"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert!(report.contains("panic drill"), "{report}");
    assert!(report.contains("a render function"), "{report}");
    assert!(report.contains("backtrace:"), "{report}");
    assert!(!report.contains('\x1b'), "{report}");
}

#[test]
fn a_panic_in_a_task_ends_the_console_and_the_daemon_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (t, screen) = run(
        dir.path(),
        &format!(
            "{BIN} up >/dev/null 2>&1\nBLISSFUL_INFRA_PANIC_DRILL=task {BIN}; echo EXITED:$?\n{BIN} status >/dev/null 2>&1; echo STATUS:$?\n{BIN} down >/dev/null 2>&1"
        ),
    );
    assert!(screen.contains("EXITED:1"), "the console fails:\n{screen}");
    assert!(screen.contains("a background task panicked"), "{screen}");
    // The daemon it was attached to still answers.
    assert!(screen.contains("STATUS:0"), "{screen}");
    assert_terminal_restored(&t, &screen);
    let reports = reports(&dir.path().join("state"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("a background task"), "{}", reports[0]);
}
