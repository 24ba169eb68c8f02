//! Where blissful-infra keeps its state: audit journal, fault journal, rollout
//! journals, control socket, runtime lock. How it is written: `crate::durable`.

use std::path::PathBuf;

/// Overrides the state directory (tests and side-by-side sandboxes use it).
pub const STATE_DIR_ENV: &str = "BLISSFUL_INFRA_STATE_DIR";

#[derive(Clone, Debug)]
pub struct StatePaths {
    pub dir: PathBuf,
}

impl StatePaths {
    /// `$BLISSFUL_INFRA_STATE_DIR`, else the platform data directory from `directories`.
    pub fn resolve() -> Result<Self, std::io::Error> {
        let dir = match std::env::var_os(STATE_DIR_ENV) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => directories::ProjectDirs::from("dev", "blissful", "blissful-infra")
                .map(|p| p.data_dir().to_path_buf())
                .ok_or_else(|| {
                    std::io::Error::other(
                        "no home directory to keep state in; set BLISSFUL_INFRA_STATE_DIR",
                    )
                })?,
        };
        std::fs::create_dir_all(&dir)?;
        Ok(StatePaths { dir })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        StatePaths { dir: dir.into() }
    }

    pub fn audit_journal(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }
    pub fn fault_journal(&self) -> PathBuf {
        self.dir.join("faults.json")
    }
    /// The rollout journal of one environment (`rollout-<name>.json`);
    /// `name` is an environment (sandbox) or `docker-<project>`.
    pub fn rollout_journal(&self, name: &str) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("rollout-{safe}.json"))
    }
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("sandbox.sock")
    }
    /// Held (`flock`) by the process running a runtime here; names its owner.
    pub fn runtime_lock(&self) -> PathBuf {
        self.dir.join("runtime.lock")
    }
    pub fn daemon_log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }
    /// Finished chaos suites, one JSON line each, for the agent to learn from.
    pub fn chaos_knowledge(&self) -> PathBuf {
        self.dir.join("knowledge").join("chaos.jsonl")
    }
}
