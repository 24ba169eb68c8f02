//! Failure drill: the SSH connection drops under the console. SIGHUP, a pty
//! whose master closes, and tmux's `kill-session`, against a console that
//! embeds the sandbox and one attached to a daemon (`up`).
//!
//! Each time the console must exit within a bound, write no crash report
//! and leave the terminal restored. An embedded console takes its runtime
//! down with it: no fault left in the journal, no instance process left.
//! An attached console leaves the daemon serving; the faults it started go
//! on (`console.on_disconnect: keep`, the default) or are undone
//! (`undo_faults`), and nobody else's fault is touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::daemon::{
    alive, crash_reports, journal_faults, processes_with_env, text, Daemon, BIN,
};
use support::pty::{tail, PtyChild};
use support::tmux::TmuxSession;

/// How long a console may take to exit once its terminal is gone.
const EXIT_BOUND: Duration = Duration::from_secs(20);
const LONG: Duration = Duration::from_secs(60);

fn config(on_disconnect: &str) -> String {
    format!(
        "project: drill
environments:
  - {{ name: staging, replicas: 1, router_port: 0, metrics_port: 0 }}
  - {{ name: production, replicas: 1, router_port: 0, metrics_port: 0 }}
traffic:
  rate_per_sec: 5
chaos:
  defaults:
    duration_secs: 600
console:
  on_disconnect: {on_disconnect}
"
    )
}

/// The console on a pty, writing what it draws to a frame dump.
struct Console {
    pty: PtyChild,
    frame: PathBuf,
}

impl Console {
    fn start(project: &Daemon) -> Console {
        let frame = project.path().join("frame.txt");
        let pty = PtyChild::spawn(
            BIN,
            &[],
            &[
                (
                    "BLISSFUL_INFRA_STATE_DIR",
                    project.state().display().to_string(),
                ),
                ("BLISSFUL_INFRA_FRAME_DUMP", frame.display().to_string()),
            ],
            project.path(),
            120,
            40,
        );
        Console { pty, frame }
    }

    fn wait_frame(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + LONG;
        loop {
            let f = std::fs::read_to_string(&self.frame).unwrap_or_default();
            if pred(&f) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; frame:\n{f}\noutput:\n{}",
                tail(&self.pty.output())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Start a network-latency fault on the selected environment (staging).
    fn start_fault(&self) {
        self.wait_frame("staging healthy", |f| healthy(f, "staging"));
        self.pty.type_keys("c");
        self.wait_frame("the chaos picker", |f| f.contains("Chaos against staging"));
        self.pty.type_keys("j");
        self.pty.type_keys("\r");
        self.wait_frame("the chaos confirmation", |f| {
            f.contains("Run network-latency against staging")
        });
        self.pty.type_keys("y");
    }

    fn exit_within_bound(&mut self) {
        let started = Instant::now();
        let status = self.pty.wait_exit(EXIT_BOUND).unwrap_or_else(|| {
            panic!(
                "the console did not exit within {EXIT_BOUND:?}; output:\n{}",
                tail(&self.pty.output())
            )
        });
        assert!(
            status.success(),
            "the console exits cleanly, got {status} after {:?}",
            started.elapsed()
        );
    }
}

fn healthy(frame: &str, env: &str) -> bool {
    frame
        .lines()
        .any(|l| l.contains(env) && l.contains("Healthy"))
}

fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Active faults of `env` in `status --output json`.
fn faults_of(d: &Daemon, env: &str) -> usize {
    d.status()
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == env))
        .and_then(|e| e["faults"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn assert_no_crash(state: &Path) {
    let reports = crash_reports(state);
    assert!(reports.is_empty(), "crash reports: {reports:?}");
}

fn state_marker(state: &Path) -> String {
    format!("BLISSFUL_INFRA_STATE_DIR={}", state.display())
}

#[test]
fn a_pty_closed_under_an_embedded_console_undoes_its_faults_and_stops_its_instances() {
    let project = Daemon::project(&config("keep"));
    let mut console = Console::start(&project);
    console.start_fault();
    wait_until("the fault in the journal", LONG, || {
        journal_faults(&project.state()) == 1
    });
    let marker = state_marker(&project.state());
    assert!(
        processes_with_env(&marker).len() > 1,
        "the console and its instances run"
    );

    console.pty.close_master();
    console.exit_within_bound();

    assert_eq!(
        journal_faults(&project.state()),
        0,
        "the fault is undone, not left applied"
    );
    // Instances stop with the runtime (own process group, death signal).
    wait_until("no instance left", Duration::from_secs(10), || {
        processes_with_env(&marker).is_empty()
    });
    assert_no_crash(&project.state());
}

#[test]
fn sighup_to_an_attached_console_restores_the_terminal_and_the_daemon_keeps_its_fault() {
    let daemon = Daemon::up(&config("keep"));
    daemon.wait_ready();
    let mut console = Console::start(&daemon);
    console.wait_frame("the attached console", |f| healthy(f, "staging"));
    assert!(!console.pty.cooked(), "the console runs in raw mode");
    console.start_fault();
    wait_until("the fault in the daemon", LONG, || {
        faults_of(&daemon, "staging") == 1
    });

    // SIGHUP with the terminal still there: the console puts it back.
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(console.pty.pid(), libc::SIGHUP) }, 0);
    console.exit_within_bound();
    assert!(console.pty.cooked(), "canonical mode and echo are back");
    let out = console.pty.output();
    let entered = out
        .rfind("\x1b[?1049h")
        .expect("the alternate screen was used");
    let after = &out[entered..];
    assert!(
        after.contains("\x1b[?1049l"),
        "alternate screen left: {}",
        tail(after)
    );
    assert!(after.contains("\x1b[?25h"), "cursor shown: {}", tail(after));

    // The daemon serves on and its fault runs to its planned end.
    assert_eq!(faults_of(&daemon, "staging"), 1);
    assert_eq!(journal_faults(&daemon.state()), 1);
    assert_no_crash(&daemon.state());
}

#[test]
fn a_pty_closed_under_an_attached_console_set_to_undo_faults_undoes_only_its_own() {
    let daemon = Daemon::up(&config("undo_faults"));
    daemon.wait_ready();
    // Somebody else's fault, from the command line.
    let cli = daemon.run(&[
        "chaos",
        "--env",
        "production",
        "--scenario",
        "error-injection",
        "--duration",
        "600",
        "--no-wait",
    ]);
    assert_eq!(cli.status.code(), Some(0), "{}", text(&cli));
    let mut console = Console::start(&daemon);
    console.start_fault();
    wait_until("the console's fault in the daemon", LONG, || {
        faults_of(&daemon, "staging") == 1
    });

    console.pty.close_master();
    console.exit_within_bound();

    assert_eq!(
        faults_of(&daemon, "staging"),
        0,
        "the console's fault is undone"
    );
    assert_eq!(
        faults_of(&daemon, "production"),
        1,
        "the CLI's fault is not"
    );
    assert_eq!(journal_faults(&daemon.state()), 1);
    let log = std::fs::read_to_string(daemon.state().join("console.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.starts_with("on disconnect: fault") && l.ends_with("undone")),
        "{log}"
    );
    let audit = std::fs::read_to_string(daemon.state().join("audit.jsonl")).unwrap_or_default();
    assert!(
        audit.lines().any(|l| l.contains("\"action\":\"undo\"")
            && l.contains("via console")
            && l.contains("\"outcome\":\"accepted\"")),
        "the undo is audited as the console's: {audit}"
    );
    assert_no_crash(&daemon.state());
}

/// The console in a tmux pane (`exec`, so the pane's pid is the console's).
fn tmux_console(project: &Daemon) -> (TmuxSession, i32) {
    let cmd = format!(
        "cd {} && BLISSFUL_INFRA_STATE_DIR={} TERM=xterm-256color exec {BIN}",
        project.path().display(),
        project.state().display()
    );
    let t = TmuxSession::start(120, 40, &cmd);
    let pid: i32 = t.pane_pid().parse().expect("pane pid");
    t.wait_for("staging healthy", LONG, |s| healthy(s, "staging"));
    (t, pid)
}

fn tmux_fault(t: &TmuxSession) {
    t.keys(&["c"]);
    t.wait_for("the chaos picker", LONG, |s| {
        s.contains("Chaos against staging")
    });
    t.keys(&["j", "Enter"]);
    t.wait_for("the chaos confirmation", LONG, |s| {
        s.contains("Run network-latency against staging")
    });
    t.keys(&["y"]);
}

fn kill_session(t: &TmuxSession, pid: i32) {
    let out = t.cmd(&["kill-session", "-t", &t.name]);
    assert!(out.status.success(), "kill-session: {out:?}");
    wait_until("the console to exit", EXIT_BOUND, || !alive(pid));
}

#[test]
fn tmux_kill_session_ends_an_attached_console_and_the_daemon_serves_on() {
    let daemon = Daemon::up(&config("keep"));
    daemon.wait_ready();
    let (t, pid) = tmux_console(&daemon);
    tmux_fault(&t);
    wait_until("the fault in the daemon", LONG, || {
        faults_of(&daemon, "staging") == 1
    });
    kill_session(&t, pid);
    assert_eq!(faults_of(&daemon, "staging"), 1, "the fault goes on");
    assert_no_crash(&daemon.state());
}

#[test]
fn tmux_kill_session_ends_an_embedded_console_with_nothing_left_behind() {
    let project = Daemon::project(&config("keep"));
    let (t, pid) = tmux_console(&project);
    tmux_fault(&t);
    wait_until("the fault in the journal", LONG, || {
        journal_faults(&project.state()) == 1
    });
    kill_session(&t, pid);
    assert_eq!(journal_faults(&project.state()), 0, "the fault is undone");
    let marker = state_marker(&project.state());
    wait_until("no instance left", Duration::from_secs(10), || {
        processes_with_env(&marker).is_empty()
    });
    assert_no_crash(&project.state());
}
