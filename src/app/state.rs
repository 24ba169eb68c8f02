//! Console state. Owned by exactly one task (the console loop in `launch::console_loop`); render functions
//! only read it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::config::{Config, TimestampMode};
use crate::domain::analysis::Verdict;
use crate::domain::chaos::{Experiment, ScenarioKind};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::log_index::LogIndex;
use crate::domain::logs::LogStore;
use crate::domain::metrics::MetricSeries;
use crate::domain::pipeline::PipelineRun;
use crate::domain::EpochMillis;
use crate::runtime::{Capabilities, Intent, SourceState};

use super::keymap::Keymap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PaneId {
    Environments,
    Logs,
    Pipeline,
    Metrics,
    Chaos,
    Agent,
}

impl PaneId {
    pub const ALL: [PaneId; 6] = [
        PaneId::Environments,
        PaneId::Logs,
        PaneId::Pipeline,
        PaneId::Metrics,
        PaneId::Chaos,
        PaneId::Agent,
    ];
    pub fn title(self) -> &'static str {
        match self {
            PaneId::Environments => "Environments",
            PaneId::Logs => "Logs",
            PaneId::Pipeline => "Pipeline",
            PaneId::Metrics => "Metrics",
            PaneId::Chaos => "Chaos",
            PaneId::Agent => "Agent",
        }
    }
    /// 1-based digit shown in titles and used to focus the pane.
    pub fn digit(self) -> usize {
        PaneId::ALL.iter().position(|p| *p == self).unwrap_or(0) + 1
    }
}

/// A destructive action waiting for confirmation.
#[derive(Clone, Debug, PartialEq)]
pub enum PendingAction {
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
    },
    /// The eight FMEA steps for one scenario, from the Chaos pane.
    ChaosSuite {
        env: String,
        scenario: ScenarioKind,
    },
    UndoFaults {
        ids: Vec<String>,
    },
    /// A promotion the resilience gate refused: only a typed override lets it through.
    PromoteOverGate {
        from: String,
        to: String,
        why: String,
    },
    /// A rollout intent; an abort's reason is edited in the dialog.
    Intent {
        env: String,
        intent: Intent,
    },
    /// Run the local pipeline (one stage of it with `only_stage`).
    RunPipeline {
        only_stage: Option<String>,
    },
    /// Cancel local pipeline run `id` (run by process `pid`).
    CancelPipeline {
        id: u64,
        pid: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfirmDialog {
    pub action: PendingAction,
    pub title: String,
    pub lines: Vec<String>,
    /// For protected environments the user must type this name.
    pub require_typed: Option<String>,
    pub typed: String,
    /// An abort's reason, edited in the dialog (tab moves between it and
    /// the typed name of a protected environment).
    pub reason: Option<String>,
    pub editing_reason: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerPurpose {
    DeployVersion,
    ChaosScenario,
    CompareVersion,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Picker {
    pub purpose: PickerPurpose,
    pub title: String,
    pub env: String,
    /// (value, description)
    pub items: Vec<(String, String)>,
    pub selected: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Palette {
    pub input: String,
    /// Error from the last attempt to run the input.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Help {
        scroll: u16,
    },
    Palette(Palette),
    LogFilter {
        input: String,
        error: Option<String>,
    },
    Confirm(ConfirmDialog),
    Picker(Picker),
    /// Typing into the agent's textarea.
    AgentInput,
    /// The comparison view (old vs new side by side, the verdict table).
    Comparison {
        scroll: u16,
    },
}

/// The comparison started from the console: its stages, both sides' live
/// numbers, and in the end the report.
#[derive(Clone, Debug)]
pub struct ComparisonView {
    /// Where an automatic promotion would go (the selected environment).
    pub env: String,
    pub old: String,
    pub new: String,
    pub run: PipelineRun,
    pub old_series: MetricSeries,
    pub new_series: MetricSeries,
    /// `None` while it runs.
    pub outcome: Option<Result<Box<crate::compare::ComparisonReport>, String>>,
}

impl ComparisonView {
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct LogView {
    /// Follow the newest line; off = paused.
    pub follow: bool,
    /// While paused: the store's end sequence when the pause began.
    pub paused_end: u64,
    /// Lines scrolled up from the bottom of the (paused) view.
    pub scroll_from_bottom: usize,
    pub filter_text: String,
    pub filter: Option<regex::Regex>,
    pub wrap: bool,
    pub timestamps: TimestampMode,
    /// Show only the selected environment's lines.
    pub only_selected_env: bool,
    /// The trace/request id the filter follows (`T`), shown in the title.
    pub trace: Option<String>,
}

impl LogView {
    pub fn new(timestamps: TimestampMode) -> Self {
        LogView {
            follow: true,
            paused_end: 0,
            scroll_from_bottom: 0,
            filter_text: String::new(),
            filter: None,
            wrap: false,
            timestamps,
            only_selected_env: false,
            trace: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatRole {
    User,
    Assistant,
    System,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    /// Sanitised text (LLM output is hostile too).
    pub text: String,
}

pub struct AgentChat {
    pub messages: VecDeque<ChatMessage>,
    pub state: SourceState,
    /// An answer is streaming in.
    pub streaming: bool,
    pub model: String,
    pub input: tui_textarea::TextArea<'static>,
    pub scroll_from_bottom: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Success,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub text: String,
    pub severity: Severity,
    /// Gone at this [`crate::clock::steady_ms`] time (a step of the wall
    /// clock neither keeps it for an hour nor drops it at once).
    pub until: EpochMillis,
}

/// Key for a metric series: (environment, version).
pub type SeriesKey = (String, String);

pub struct App {
    pub config: Arc<Config>,
    pub runtime_name: String,
    pub read_only: bool,
    /// What the runtime can do, read once at start; `None` until then
    /// (every action is offered and the runtime refuses with its reason).
    pub capabilities: Option<Capabilities>,
    pub keymap: Keymap,
    pub now: EpochMillis,
    /// Monotonic time ([`crate::clock::steady_ms`]) for what expires.
    pub steady: EpochMillis,

    pub envs: Vec<EnvironmentStatus>,
    pub selected_env: usize,
    /// The user picked an environment (until then the first one is selected).
    pub env_chosen: bool,

    pub logs: LogStore,
    pub log_view: LogView,
    /// The lines that pass the Logs pane's filter (see `app::logs`).
    pub log_index: LogIndex,

    /// Newest last; bounded.
    pub pipelines: VecDeque<PipelineRun>,
    pub pipeline_scroll: usize,
    /// Local and Jenkins build runs (the Pipeline pane's other tab).
    pub builds: crate::app::builds::BuildsView,

    pub metrics: BTreeMap<SeriesKey, MetricSeries>,
    /// Last analysis verdict per environment, with the step it judged.
    pub verdicts: BTreeMap<String, (usize, Verdict)>,

    /// Newest last; bounded.
    pub experiments: VecDeque<Experiment>,
    pub chaos_selected: usize,
    /// The last FMEA suite started from the console.
    pub suite: Option<crate::app::suite::SuiteView>,

    pub agent: AgentChat,

    pub sources: BTreeMap<String, SourceState>,
    /// The last comparison started from the console.
    pub comparison: Option<ComparisonView>,
    /// The filter the external log source was last asked for (env, regex).
    pub log_source_filter: (Option<String>, Option<String>),
    pub focus: PaneId,
    pub zoomed: bool,
    pub mode: Mode,
    pub flash: Option<Flash>,
    pub should_quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
}

/// Bounds on what the console keeps.
pub const MAX_PIPELINES: usize = 50;
pub const MAX_EXPERIMENTS: usize = 100;
pub const MAX_CHAT_MESSAGES: usize = 200;
/// An answer longer than this is cut (the model is not trusted to stop):
/// wrapping a megabyte on every frame would stall the console.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl AgentChat {
    pub fn new(model: &str) -> Self {
        let mut input = tui_textarea::TextArea::default();
        input.set_placeholder_text("Ask about the focused environment (Enter sends, Esc leaves)");
        AgentChat {
            messages: VecDeque::new(),
            state: SourceState::Connecting,
            streaming: false,
            model: model.to_string(),
            input,
            scroll_from_bottom: 0,
        }
    }
}

impl App {
    pub fn new(
        config: Arc<Config>,
        runtime_name: &str,
        read_only: bool,
        keymap: Keymap,
        now: EpochMillis,
    ) -> Self {
        let log_view = LogView::new(config.console.timestamps);
        let agent = AgentChat::new(&config.agent.model);
        App {
            logs: LogStore::new(config.console.log_buffer_lines),
            runtime_name: runtime_name.to_string(),
            read_only,
            capabilities: None,
            keymap,
            now,
            steady: now,
            envs: Vec::new(),
            selected_env: 0,
            env_chosen: false,
            log_view,
            log_index: LogIndex::default(),
            pipelines: VecDeque::new(),
            pipeline_scroll: 0,
            builds: crate::app::builds::BuildsView::new(
                if config.pipeline.stages.is_empty() && !config.jenkins.enabled() {
                    crate::app::builds::PipelineTab::Rollouts
                } else {
                    crate::app::builds::PipelineTab::Builds
                },
            ),
            metrics: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            experiments: VecDeque::new(),
            chaos_selected: 0,
            suite: None,
            agent,
            sources: BTreeMap::new(),
            comparison: None,
            log_source_filter: (None, None),
            focus: PaneId::Environments,
            zoomed: false,
            mode: Mode::Normal,
            flash: None,
            should_quit: false,
            dirty: true,
            config,
        }
    }

    pub fn selected_env(&self) -> Option<&EnvironmentStatus> {
        self.envs.get(self.selected_env)
    }
}
