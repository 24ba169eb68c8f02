//! One runtime per state directory: a second start is refused with exit 2,
//! naming the process that holds `runtime.lock`; `down` frees it again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

const CONFIG: &str = r#"
project: lock-test
environments:
  - { name: staging, replicas: 1, router_port: 0, metrics_port: 0 }
"#;

/// A project directory with its own state directory; `down` on drop.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("blissful-infra.yaml"), CONFIG).expect("config");
        Project { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("BLISSFUL_INFRA_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run blissful-infra")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The daemon's pid from `up`'s "… running in the background (pid N); …".
fn daemon_pid(up: &Output) -> u32 {
    let out = String::from_utf8_lossy(&up.stdout);
    let rest = out
        .split("(pid ")
        .nth(1)
        .unwrap_or_else(|| panic!("no pid in {}", text(up)));
    rest.split(')').next().unwrap().parse().unwrap()
}

fn lock_record(state: &Path) -> serde_json::Value {
    let raw = std::fs::read_to_string(state.join("runtime.lock")).expect("runtime.lock");
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

#[test]
fn a_second_start_is_refused_naming_the_owner_until_down() {
    let p = Project::new();
    let up = p.run(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let pid = daemon_pid(&up);

    let record = lock_record(&p.state());
    assert_eq!(record["pid"], pid, "{record}");
    assert_eq!(record["command"], "up", "{record}");
    assert_eq!(record["runtime"], "sandbox", "{record}");
    assert!(record["since"].as_str().is_some_and(|s| s.ends_with('Z')));

    // A daemon started by hand on the same state directory.
    let second = p.run(&["daemon"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    let expected = format!(
        "error: the state directory {} is in use by pid {pid} (blissful-infra up, sandbox runtime, since ",
        p.state().display()
    );
    assert!(err.contains(&expected), "{}", text(&second));
    assert!(err.contains("stop it with `blissful-infra down`"), "{err}");

    // `up` again finds it running, and says whose it is.
    let again = p.run(&["up"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(out.contains("already running"), "{out}");
    assert!(
        out.contains(&format!("pid {pid} (blissful-infra up")),
        "{out}"
    );

    let down = p.run(&["down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert!(!p.state().join("runtime.lock").exists());

    let fresh = p.run(&["up"]);
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
    let new_pid = daemon_pid(&fresh);
    assert_ne!(new_pid, pid);
    assert_eq!(lock_record(&p.state())["pid"], new_pid);
}

#[test]
fn a_dead_owners_lock_file_is_taken_over() {
    let p = Project::new();
    std::fs::create_dir_all(p.state()).unwrap();
    // Left by a process that was killed: nobody holds the lock any more.
    std::fs::write(
        p.state().join("runtime.lock"),
        r#"{"pid":1,"command":"up","runtime":"sandbox","since":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let up = p.run(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert_eq!(lock_record(&p.state())["pid"], daemon_pid(&up));
}

#[test]
fn two_ups_racing_one_wins_the_other_is_refused() {
    let p = Project::new();
    let spawn = || {
        p.command(&["up"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn up")
    };
    let (first, second) = (spawn(), spawn());
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let all = outs.iter().map(text).collect::<Vec<_>>().join("\n---\n");
    // Both pass the socket probe (nothing serves yet); exactly one daemon
    // takes the lock, and the other `up` reports its daemon's refusal.
    let mut codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    codes.sort();
    assert_eq!(codes, [Some(0), Some(2)], "{all}");
    let winners: Vec<_> = outs
        .iter()
        .filter(|o| {
            o.status.code() == Some(0)
                && String::from_utf8_lossy(&o.stdout).contains("running in the background")
        })
        .collect();
    assert_eq!(winners.len(), 1, "{all}");
    let pid = daemon_pid(winners[0]);
    assert_eq!(lock_record(&p.state())["pid"], pid, "{all}");
    let loser = outs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains(&format!("is in use by pid {pid} (blissful-infra up")),
        "{all}"
    );
    // The loser's `up` did not cut the winner's log short.
    let running = format!("running (pid {pid})");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(p.state().join("daemon.log")).unwrap_or_default();
        if log.contains(&running) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log}\n---\n{all}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
