//! `blissful-infra compare --old <ref> --new <ref>`: run two versions side by
//! side under identical load and decide, with statistics, whether the new one
//! is better, worse, or indistinguishable.
//!
//! How a run goes:
//! 1. A **separate** sandbox runtime starts in a fresh state directory
//!    `<state>/compare-<pid>`, with exactly two environments, `compare-old`
//!    and `compare-new` (replicas from the project config, ephemeral router
//!    ports, no background traffic). It never touches a running sandbox.
//! 2. Once every instance of both is Ready, the built-in load generator
//!    ([`crate::perf::generator`]) drives the same load at both routers at the
//!    same time (warmup first, not recorded), keeping a bounded reservoir of
//!    raw latencies per side; CPU and memory come from the runtime's metric
//!    events in the measured window.
//! 3. With `comparison.include_chaos`, the FMEA suite then runs against
//!    each version's environment in turn ([`resilience`]) for a score per
//!    version.
//! 4. The statistics in [`crate::domain::comparison`] (Mann-Whitney U, a
//!    bootstrap CI of the p95 difference, a two-proportion test on errors)
//!    and the `comparison:` rules give the verdict: relative thresholds,
//!    absolute limits (`comparison.thresholds`, CPU and memory included),
//!    the resilience score, and `critical_metrics` deciding which failures
//!    fail and which only warn.
//! 5. The runtime is shut down and its state directory removed, always: on
//!    success, on errors and on Ctrl-C.
//!
//! `<ref>` is a version name of the built-in sample service for now (`v1`,
//! `v2`, `v3-slow`, ...; behaviours come from `service.versions`) or whatever
//! `service.command` makes of `$VERSION`. Git refs built from a worktree come
//! with the templates work.
//!
//! Exit codes: 0 the new version is not worse (no critical metric failed;
//! warnings allowed), 1 a critical metric failed or the run failed, 64 bad flags, 130 interrupted.

pub mod report;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::config::{Config, EnvironmentConfig};
use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::comparison::{
    assess_with, bootstrap_quantile_diff, mann_whitney, two_proportion_p, Evidence, Reservoir,
    Rules, SideStats, Verdict, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, RESERVOIR_CAPACITY,
};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::metrics::MetricPoint;
use crate::domain::pipeline::StageStatus;
use crate::domain::sanitize::sanitize_str;
use crate::paths::StatePaths;
use crate::perf::generator::{self, Live};
use crate::perf::{
    parse_duration, parse_endpoint, Endpoint, LoadSpec, Pacing, RunStats, Stop, Target,
};
use crate::report::{exit, OutputMode};
use crate::runtime::{Actor, Runtime, RuntimeEvent};
use crate::sandbox::{SandboxOptions, SandboxRuntime};

mod git;

pub use report::{
    ChaosLine, ComparisonReport, LoadDescription, Promotion, ResilienceLine, ScenarioLine,
    SideSeries,
};

/// Stages of a comparison, as shown in the Pipeline pane and the console's
/// comparison view.
pub const STAGES: [&str; 5] = ["start both", "warm-up", "measure", "statistics", "verdict"];
pub const STAGE_START: usize = 0;
pub const STAGE_WARMUP: usize = 1;
pub const STAGE_MEASURE: usize = 2;
pub const STAGE_STATISTICS: usize = 3;
pub const STAGE_VERDICT: usize = 4;

/// Which of the two versions a point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

/// Progress of a comparison for whoever watches it (the console, or the CLI
/// relaying it to consoles attached to the sandbox).
#[derive(Clone, Debug, PartialEq)]
pub enum CompareEvent {
    StageStarted(usize),
    StageEnded {
        index: usize,
        status: StageStatus,
        detail: String,
    },
    /// One second of load on one side (client-side numbers).
    Point {
        side: Side,
        point: MetricPoint,
    },
}

/// Sends progress without ever waiting: a watcher that falls behind loses
/// points (counted), never the comparison.
#[derive(Clone, Debug, Default)]
pub struct Watcher {
    tx: Option<mpsc::Sender<CompareEvent>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Watcher {
    pub fn new(tx: mpsc::Sender<CompareEvent>) -> Self {
        Watcher {
            tx: Some(tx),
            dropped: Arc::default(),
        }
    }

    fn send(&self, ev: CompareEvent) {
        if let Some(tx) = &self.tx {
            if tx.try_send(ev).is_err() {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn started(&self, index: usize) {
        self.send(CompareEvent::StageStarted(index));
    }

    fn ended(&self, index: usize, status: StageStatus, detail: impl Into<String>) {
        self.send(CompareEvent::StageEnded {
            index,
            status,
            detail: detail.into(),
        });
    }

    /// Progress events the watcher could not take.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Environment names inside the comparison sandbox.
pub const OLD_ENV: &str = "compare-old";
pub const NEW_ENV: &str = "compare-new";
/// How long both environments get to become Ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on stopping the comparison sandbox.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Metric points kept per environment (one a second: an hour).
const MAX_POINTS_PER_ENV: usize = 3600;
/// Experiment snapshots kept (only the latest per id matters).
const MAX_EXPERIMENTS: usize = 64;
/// Longest accepted version name.
const MAX_VERSION_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Interrupted,
}

impl CompareError {
    fn kind(&self) -> &'static str {
        match self {
            CompareError::Usage(_) => "usage",
            CompareError::Failed(_) => "failed",
            CompareError::Interrupted => "interrupted",
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CompareError::Usage(_) => exit::USAGE,
            CompareError::Failed(_) => exit::FAILED,
            CompareError::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// Flags of `blissful-infra compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// The version running today (a sample-service version such as v1).
    #[arg(long)]
    pub old: String,
    /// The candidate version (e.g. v2, v3-slow).
    #[arg(long)]
    pub new: String,
    /// How long to measure (e.g. 10s, 500ms, 2m); default
    /// `comparison.test_duration`, else 10s.
    #[arg(long, short, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Connections per side, each with one request in flight; default
    /// `comparison.concurrent_users`, else 4.
    #[arg(long, short)]
    pub concurrency: Option<usize>,
    /// Open loop: requests per second per side, whatever the answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Load sent to both sides first and not recorded; default
    /// `comparison.warmup_duration`, else 2s.
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Per-request timeout, connecting included.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Environment of the running sandbox to deploy the new version to when
    /// it clearly wins and `comparison.auto_promote` is on.
    #[arg(long, short)]
    pub env: Option<String>,
    /// Inject this chaos scenario into both sides when measuring starts
    /// (pod-kill, network-latency, error-injection, connection-drop, cpu-stress).
    #[arg(long)]
    pub chaos: Option<String>,
}

impl CompareArgs {
    /// The flags' defaults for comparing `old` with `new` (the console's `C`):
    /// durations and users come from `comparison:`; `env` is where an
    /// automatic promotion would go.
    pub fn for_versions(old: &str, new: &str, env: Option<&str>) -> CompareArgs {
        CompareArgs {
            old: old.to_string(),
            new: new.to_string(),
            duration: None,
            concurrency: None,
            rate: None,
            warmup: None,
            timeout: Duration::from_secs(10),
            env: env.map(str::to_string),
            chaos: None,
        }
    }
}

/// What the command needs besides its flags.
#[derive(Clone, Debug)]
pub struct CompareContext {
    pub config: Config,
    /// Directory of the config file (`service.workdir` is relative to it).
    pub config_dir: PathBuf,
    /// The `blissful-infra` binary (runs the built-in sample service).
    pub service_program: PathBuf,
    /// The normal state directory: the comparison runs in a subdirectory,
    /// promotion talks to the sandbox of this one.
    pub state: StatePaths,
    pub read_only: bool,
}

mod cmd;
mod isolated;
mod measure;
mod planning;
mod promote;
mod resilience;
#[cfg(test)]
mod tests;

pub use cmd::{cmd_compare, run};
pub use planning::comparison_config;

use isolated::*;
use measure::*;
use planning::*;
use promote::*;
use resilience::*;
