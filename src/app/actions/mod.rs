//! The one action table. It feeds the keymap, the help overlay, the command
//! palette and the confirm dialogs, so a key, its help text and its
//! confirmation can never disagree.

use serde::{Deserialize, Serialize};

use super::state::PaneId;
use crate::runtime::IntentKind;

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
    PauseRollout,
    ResumeRollout,
    AbortRollout,
    RetryRollout,
    UndoRevision,
    PromoteStep,
    PromoteFull,
    RestartEnv,
    Chaos,
    ChaosSuite,
    UndoFaults,
    LoadTest,
    Compare,
    ShowComparison,
    LogFilter,
    FollowTrace,
    ClearFilter,
    ToggleFollow,
    ToggleWrap,
    ToggleTimestamps,
    ToggleEnvFilter,
    AgentCompose,
    PipelineView,
    NextStage,
    PrevStage,
    RunPipeline,
    RerunStage,
    CancelPipeline,
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

pub(super) const fn spec(
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

mod table;

pub use table::ACTIONS;

pub fn spec_of(action: Action) -> &'static ActionSpec {
    ACTIONS
        .iter()
        .find(|s| s.action == action)
        .unwrap_or(&ACTIONS[0])
}

/// The port intent an action sends, when it sends one: the runtime's
/// capabilities for that intent decide whether the action is offered.
pub fn intent_kind(action: Action) -> Option<IntentKind> {
    Some(match action {
        Action::Deploy => IntentKind::Deploy,
        Action::Rollback | Action::UndoRevision => IntentKind::Undo,
        Action::SwitchTraffic => IntentKind::Switch,
        Action::PauseRollout => IntentKind::Pause,
        Action::ResumeRollout => IntentKind::Resume,
        Action::AbortRollout => IntentKind::Abort,
        Action::RetryRollout => IntentKind::Retry,
        Action::PromoteStep => IntentKind::Promote,
        Action::PromoteFull => IntentKind::PromoteFull,
        Action::RestartEnv => IntentKind::Restart,
        _ => return None,
    })
}

/// Why a destructive action is refused in read-only mode, beyond the rule.
pub fn read_only_why(action: Action) -> Option<&'static str> {
    match action {
        Action::RunPipeline | Action::RerunStage => {
            Some("the stages' commands may change things (deploy, push)")
        }
        Action::CancelPipeline => Some("it kills the stages' processes"),
        _ => None,
    }
}

pub fn spec_by_id(id: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|s| s.id == id)
}
