//! Messages into the app task and commands out of it.

use crossterm::event::KeyEvent;

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::{RuntimeEvent, SourceState};

/// Everything that can change console state arrives as one of these.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Resize,
    /// Periodic clock tick: `now` from the wall clock (shown times),
    /// `steady` from [`crate::clock::steady_ms`] (what expires).
    Tick {
        now: crate::domain::EpochMillis,
        steady: crate::domain::EpochMillis,
    },
    Runtime(Box<RuntimeEvent>),
    /// The runtime connection changed state (subscription lost, reconnected).
    RuntimeSource(SourceState),
    /// The runtime now calls itself this (`:ctx` switched the cluster).
    RuntimeRenamed(String),
    /// A command finished (success message or error text).
    ActionDone {
        label: String,
        result: Result<String, String>,
    },
    Agent(AgentEvent),
    /// Progress of the comparison started from the console.
    Compare(crate::compare::CompareEvent),
    /// The comparison ended: its report, or why it failed.
    CompareDone(Result<Box<crate::compare::ComparisonReport>, String>),
    /// On (re)attaching, the runtime had this many faults still applied.
    FaultsStillApplied(usize),
    /// Progress of the FMEA suite started from the console.
    Suite(crate::app::suite::SuiteMsg),
    /// The resilience gate refused a promotion from `from`; `why` says
    /// what it found (the app asks whether to override it).
    GateClosed {
        from: String,
        to: String,
        why: String,
    },
    /// The build runs source (local pipeline store, Jenkins).
    Builds(crate::sources::builds::BuildsEvent),
    /// The pipeline run started from the console ended (its summary, or why not).
    PipelineJobDone(Result<String, String>),
    /// SIGTERM, SIGHUP or SIGINT.
    Signal(&'static str),
}

pub use crate::agent::AgentEvent;

/// A destructive or remote operation, executed on its own task.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeCommand {
    Deploy {
        env: String,
        version: String,
    },
    Promote {
        from: String,
        to: String,
    },
    Rollback {
        env: String,
    },
    SwitchTraffic {
        env: String,
        to_canary: bool,
    },
    Chaos {
        env: String,
        scenario: ScenarioKind,
        params: FaultParams,
    },
    Undo {
        ids: Vec<String>,
    },
    /// One rollout intent (pause, resume, abort, retry, undo, promote --full, restart).
    Intent {
        env: String,
        intent: crate::runtime::Intent,
    },
    /// A promotion the resilience gate refused, overridden with a typed
    /// confirmation; `gate` is what the gate found (for the audit journal).
    PromoteOverGate {
        from: String,
        to: String,
        gate: String,
    },
}

impl RuntimeCommand {
    pub fn label(&self) -> String {
        match self {
            RuntimeCommand::Deploy { env, version } => format!("deploy {version} to {env}"),
            RuntimeCommand::Promote { from, to } => format!("promote {from} → {to}"),
            RuntimeCommand::Rollback { env } => format!("rollback {env}"),
            RuntimeCommand::SwitchTraffic { env, to_canary } => format!(
                "switch {env} traffic to {}",
                if *to_canary { "canary" } else { "stable" }
            ),
            RuntimeCommand::Chaos { env, scenario, .. } => format!("chaos {scenario} on {env}"),
            RuntimeCommand::Undo { ids } => format!("undo {} fault(s)", ids.len()),
            RuntimeCommand::Intent { env, intent } => format!("{} {env}", intent.describe()),
            RuntimeCommand::PromoteOverGate { from, to, .. } => {
                format!("promote {from} → {to} over the resilience gate")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Runtime(RuntimeCommand),
    /// Ask the agent; `history` is the conversation so far (role, text), already redacted.
    AskAgent {
        history: Vec<(String, String)>,
        context: String,
    },
    /// A load test (`perf`) against an environment's router, shown in the
    /// Pipeline and Metrics panes while it runs.
    LoadTest {
        env: String,
    },
    /// The Logs pane's filter changed: ask the external log source (Loki)
    /// for just these lines from now on (LogQL built from them).
    FilterLogSource {
        env: Option<String>,
        grep: Option<String>,
    },
    /// Compare `new` with `old` in a separate sandbox; `env` is where an
    /// automatic promotion would go.
    Compare {
        env: String,
        old: String,
        new: String,
    },
    /// The FMEA suite for `scenario` against `env` (its steps come back as
    /// `Msg::Suite`).
    ChaosSuite {
        env: String,
        scenario: ScenarioKind,
    },
    /// `:ctx`: list the kubeconfig's contexts, or switch to `name`.
    Context {
        name: Option<String>,
    },
    /// Follow this log in the Pipeline pane (`None`: none); the newest wins.
    FollowBuildLog(Option<crate::sources::builds::LogKey>),
    /// `pipeline --local` in this process (only `only_stage` with one).
    RunPipeline {
        only_stage: Option<String>,
    },
    /// Cancel local run `id`, run by process `pid`.
    CancelPipeline {
        id: u64,
        pid: u32,
    },
    Quit,
}
