//! A project directory with a config and a state directory, and the real
//! binary run in it: `up` a daemon, run commands against it, `down` on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

pub struct Daemon {
    pub dir: tempfile::TempDir,
    /// Whether `down` runs on drop (set once `up` succeeded).
    running: bool,
}

impl Daemon {
    /// A project with `config`; nothing started yet.
    pub fn project(config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("blissful-infra.yaml"), config).expect("config");
        Daemon {
            dir,
            running: false,
        }
    }

    /// A project with `config` and its daemon running (`up`).
    pub fn up(config: &str) -> Daemon {
        let mut d = Daemon::project(config);
        let out = d.run(&["up"]);
        assert_eq!(out.status.code(), Some(0), "up failed: {}", text(&out));
        d.running = true;
        d
    }

    /// The binary with `args`, in the project, on its state directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("BLISSFUL_INFRA_STATE_DIR", self.state())
            .env_remove("NO_COLOR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run blissful-infra")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `status --output json`.
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0), "status failed: {}", text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)))
    }

    /// Wait until every instance of every environment is ready.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.status();
            let all_ready = status.as_array().is_some_and(|envs| {
                envs.iter().all(|e| {
                    e["instances"].as_array().is_some_and(|i| {
                        !i.is_empty() && i.iter().all(|i| i["phase"]["phase"] == "ready")
                    })
                })
            });
            if all_ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instances never became ready: {status}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running {
            let _ = self.run(&["down"]);
        }
    }
}

/// Exit code, stdout and stderr of a finished command, for messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The crash reports (`crash-*`) written in `state`.
pub fn crash_reports(state: &Path) -> Vec<String> {
    std::fs::read_dir(state)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("crash-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// Records in the sandbox's fault journal (none when it does not exist).
pub fn journal_faults(state: &Path) -> usize {
    std::fs::read_to_string(state.join("faults.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|j| j["faults"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Pids whose environment holds `needle` (instances inherit the state dir variable).
pub fn processes_with_env(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "{name}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
    }
    found
}

/// Whether `pid` is still running (a zombie is not).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}
