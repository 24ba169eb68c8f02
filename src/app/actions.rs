//! The one action table. It feeds the keymap, the help overlay, the command
//! palette and the confirm dialogs, so a key, its help text and its
//! confirmation can never disagree.

use serde::{Deserialize, Serialize};

use super::state::PaneId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Palette,
    FocusNext,
    FocusPrev,
    FocusEnvironments,
    FocusLogs,
    FocusPipeline,
    FocusMetrics,
    FocusChaos,
    FocusAgent,
    Zoom,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextEnv,
    PrevEnv,
    Deploy,
    Promote,
    Rollback,
    SwitchTraffic,
    Chaos,
    UndoFaults,
    LogFilter,
    ClearFilter,
    ToggleFollow,
    ToggleWrap,
    ToggleTimestamps,
    ToggleEnvFilter,
    AgentCompose,
}

/// Where an action's keys are live. Global keys may not clash with anything;
/// pane keys may only clash with keys of other panes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Global,
    Pane(PaneId),
}

#[derive(Clone, Copy, Debug)]
pub struct ActionSpec {
    pub action: Action,
    /// Name used in config (`keymap:`) and in the palette.
    pub id: &'static str,
    pub default_keys: &'static [&'static str],
    pub description: &'static str,
    pub scope: Scope,
    /// Destructive actions ask for confirmation, are refused in read-only
    /// mode and are written to the audit journal.
    pub destructive: bool,
    /// Help section heading.
    pub group: &'static str,
}

const fn spec(
    action: Action,
    id: &'static str,
    default_keys: &'static [&'static str],
    description: &'static str,
    scope: Scope,
    destructive: bool,
    group: &'static str,
) -> ActionSpec {
    ActionSpec {
        action,
        id,
        default_keys,
        description,
        scope,
        destructive,
        group,
    }
}

use Action as A;
use Scope::{Global as G, Pane as P};

pub const ACTIONS: &[ActionSpec] = &[
    spec(
        A::Quit,
        "quit",
        &["q", "ctrl-c"],
        "quit (the terminal is restored)",
        G,
        false,
        "General",
    ),
    spec(
        A::Help,
        "help",
        &["?"],
        "show this help",
        G,
        false,
        "General",
    ),
    spec(
        A::Palette,
        "palette",
        &[":"],
        "command palette (same verbs as the CLI)",
        G,
        false,
        "General",
    ),
    spec(
        A::FocusNext,
        "focus_next",
        &["tab"],
        "focus the next pane",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusPrev,
        "focus_prev",
        &["backtab"],
        "focus the previous pane",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusEnvironments,
        "focus_environments",
        &["1"],
        "focus Environments",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusLogs,
        "focus_logs",
        &["2"],
        "focus Logs",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusPipeline,
        "focus_pipeline",
        &["3"],
        "focus Pipeline",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusMetrics,
        "focus_metrics",
        &["4"],
        "focus Metrics",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusChaos,
        "focus_chaos",
        &["5"],
        "focus Chaos",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::FocusAgent,
        "focus_agent",
        &["6"],
        "focus Agent",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::Zoom,
        "zoom",
        &["enter"],
        "zoom the focused pane / restore",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::ScrollUp,
        "scroll_up",
        &["k", "up"],
        "scroll / select up",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::ScrollDown,
        "scroll_down",
        &["j", "down"],
        "scroll / select down",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::PageUp,
        "page_up",
        &["pageup", "ctrl-u"],
        "page up",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::PageDown,
        "page_down",
        &["pagedown", "ctrl-d"],
        "page down",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::Top,
        "top",
        &["g", "home"],
        "go to top",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::Bottom,
        "bottom",
        &["G", "end"],
        "go to bottom (logs: follow again)",
        G,
        false,
        "Navigation",
    ),
    spec(
        A::NextEnv,
        "next_env",
        &["]", "l", "right"],
        "select the next environment",
        G,
        false,
        "Environments",
    ),
    spec(
        A::PrevEnv,
        "prev_env",
        &["[", "h", "left"],
        "select the previous environment",
        G,
        false,
        "Environments",
    ),
    spec(
        A::Deploy,
        "deploy",
        &["d"],
        "deploy a version to the selected environment as a canary",
        G,
        true,
        "Delivery",
    ),
    spec(
        A::Promote,
        "promote",
        &["p"],
        "promote the selected environment's version to the next environment",
        G,
        true,
        "Delivery",
    ),
    spec(
        A::Rollback,
        "rollback",
        &["r"],
        "roll the selected environment back to its previous version",
        G,
        true,
        "Delivery",
    ),
    spec(
        A::SwitchTraffic,
        "switch_traffic",
        &["b"],
        "blue/green: switch all traffic to the canary or back",
        G,
        true,
        "Delivery",
    ),
    spec(
        A::Chaos,
        "chaos",
        &["c"],
        "run a chaos scenario against the selected environment",
        G,
        true,
        "Chaos",
    ),
    spec(
        A::UndoFaults,
        "undo_faults",
        &["u"],
        "undo every fault still applied",
        G,
        true,
        "Chaos",
    ),
    spec(
        A::LogFilter,
        "log_filter",
        &["/"],
        "filter logs by regex",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::ClearFilter,
        "clear_filter",
        &["esc"],
        "clear the log filter",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::ToggleFollow,
        "toggle_follow",
        &["f", "space"],
        "follow / pause (paused lines are counted)",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::ToggleWrap,
        "toggle_wrap",
        &["w"],
        "wrap long lines",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::ToggleTimestamps,
        "toggle_timestamps",
        &["t"],
        "local / UTC timestamps",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::ToggleEnvFilter,
        "toggle_env_filter",
        &["e"],
        "show only the selected environment's logs",
        P(PaneId::Logs),
        false,
        "Logs",
    ),
    spec(
        A::AgentCompose,
        "agent_compose",
        &["i", "a"],
        "write a question to the agent",
        P(PaneId::Agent),
        false,
        "Agent",
    ),
];

pub fn spec_of(action: Action) -> &'static ActionSpec {
    ACTIONS
        .iter()
        .find(|s| s.action == action)
        .unwrap_or(&ACTIONS[0])
}

pub fn spec_by_id(id: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|s| s.id == id)
}
