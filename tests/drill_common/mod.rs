//! Shared helpers of the failure drills (`tests/state_dir_full.rs`,
//! `tests/rollout_kill_drill.rs`): the real `blissful-infra daemon` as a
//! child process of the test (so it can be SIGKILLed), the CLI against it,
//! and a look at processes through `/proc`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

/// A `blissful-infra daemon` started by the test. Its output goes to
/// `log`, outside the state directory (the drills fill and remount that).
pub struct Daemon {
    /// Where `blissful-infra.yaml` is (the working directory).
    pub dir: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
    pub child: Child,
}

impl Daemon {
    /// Start the daemon on `state` with the config in `dir`; `env` is set
    /// for the daemon only (a drill hook). Waits until `status` answers.
    pub fn start(dir: &Path, state: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = dir.join(format!("daemon-{}.log", fastrand::u32(..)));
        let out = std::fs::File::create(&log).expect("daemon log");
        let err = out.try_clone().expect("daemon log");
        let mut cmd = Command::new(BIN);
        cmd.arg("daemon")
            .current_dir(dir)
            .env("BLISSFUL_INFRA_STATE_DIR", state)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starting blissful-infra daemon");
        let mut d = Daemon {
            dir: dir.to_path_buf(),
            state: state.to_path_buf(),
            log,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.run(&["status", "--output", "json"]).status.success() {
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("the daemon exited ({status}): {}", d.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never answered: {}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Run the CLI against this daemon.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env("BLISSFUL_INFRA_STATE_DIR", &self.state)
            .env("NO_COLOR", "1")
            .output()
            .expect("running blissful-infra")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `status --output json` of environment `env`.
    pub fn env_status(&self, env: &str) -> serde_json::Value {
        let out = self.run(&["status", "--output", "json"]);
        let all: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status is not JSON ({e}): {}", text(&out)));
        all.as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == env).cloned())
            .unwrap_or_else(|| panic!("no environment {env} in {all}"))
    }

    /// Wait (up to `secs`) until `ok` holds for `env`'s status; returns it.
    pub fn wait_status(
        &self,
        env: &str,
        secs: u64,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.env_status(env);
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never happened; last status {s:#}\ndaemon log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// SIGKILL the daemon and reap it.
    pub fn sigkill(&mut self) {
        // SAFETY: signalling our own child, which we have not reaped yet.
        unsafe { libc::kill(self.pid() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }

    /// Wait for the daemon to exit by itself (a drill hook killed it).
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    /// SIGTERM: the daemon stops its runtime cleanly (for Docker without
    /// taking the Compose project down, as `down` would).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: signalling our own child, which we have not reaped yet.
            unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Pids of the instances in a status, by instance id.
pub fn instance_pids(status: &serde_json::Value) -> Vec<(String, u32)> {
    status["instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    let pid = i["detail"]["pid"].as_u64()?;
                    Some((i["id"].as_str()?.to_string(), pid as u32))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent has not reaped it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// Pids whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && alive(pid) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Wait until none of `pids` is alive.
pub fn wait_all_gone(pids: &[u32], secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while pids.iter().any(|p| alive(*p)) {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        assert!(Instant::now() < deadline, "{what}: still alive: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The audit journal's entries (every line must parse).
pub fn audit_entries(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn audit line ({e}): {l:?}")))
        .collect()
}
