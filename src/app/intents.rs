//! The console's rollout verbs (pause, resume, abort, retry, undo to a
//! revision, promote a step or --full, restart): each opens the confirm dialog and,
//! once confirmed, sends one intent through the port.

use crossterm::event::{KeyCode, KeyEvent};

use super::actions::Action;
use super::msg::{Command, RuntimeCommand};
use super::state::{App, ConfirmDialog, Mode, PendingAction, Severity};
use crate::runtime::Intent;

impl App {
    /// The intent `action` sends for `env`; an abort starts with the
    /// default reason, edited in the dialog.
    pub(super) fn intent_for(&self, action: Action) -> Option<Intent> {
        Some(match action {
            Action::PauseRollout => Intent::Pause,
            Action::ResumeRollout => Intent::Resume,
            Action::AbortRollout => Intent::Abort {
                reason: format!("aborted by {}", current_user()),
            },
            Action::RetryRollout => Intent::Retry,
            Action::UndoRevision => Intent::Undo { to_revision: None },
            Action::PromoteStep => Intent::Promote { full: false },
            Action::PromoteFull => Intent::Promote { full: true },
            Action::RestartEnv => Intent::Restart,
            _ => return None,
        })
    }

    /// Ask to send `action`'s intent to the selected environment.
    pub(super) fn ask_intent(&mut self, action: Action) {
        let Some(env) = self.selected_env().map(|e| e.name.clone()) else {
            self.flash("no environment selected", Severity::Warning);
            return;
        };
        if let Some(intent) = self.intent_for(action) {
            self.ask(PendingAction::Intent { env, intent });
        }
    }

    /// What the dialog says about an intent.
    pub(super) fn intent_lines(&self, env: &str, intent: &Intent) -> Vec<String> {
        let e = self.envs.iter().find(|e| e.name == env);
        let version = |v: Option<&crate::domain::environment::Version>| {
            v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
        };
        let canary = version(e.and_then(|e| e.traffic.canary.as_ref()));
        let stable = version(e.and_then(|e| e.traffic.stable.as_ref()));
        match intent {
            Intent::Pause => vec![format!(
                "Hold {env}'s rollout of {canary} at its current weight."
            )],
            Intent::Resume => vec![format!("Go on with {env}'s rollout of {canary}.")],
            Intent::Abort { .. } => vec![
                format!("Abort {env}'s rollout of {canary}: all traffic back to {stable}."),
                "The reason is shown as `Aborted: <reason>`.".into(),
            ],
            Intent::Retry => vec![format!(
                "Start {env}'s aborted rollout again from its first step."
            )],
            Intent::Undo { to_revision } => {
                let to = match to_revision {
                    Some(n) => format!("revision {n}"),
                    None => format!(
                        "the previous version ({})",
                        version(e.and_then(|e| e.previous.as_ref()))
                    ),
                };
                vec![format!("Undo {env} from {stable} to {to}.")]
            }
            Intent::Promote { full: true } => vec![format!(
                "Promote {canary} in {env} now: skip the remaining steps and analysis."
            )],
            Intent::Promote { full: false } => vec![format!(
                "Move {env}'s rollout of {canary} to its next step now."
            )],
            Intent::Restart => vec![format!("Restart {env}'s instances, one at a time.")],
            other => vec![format!("{} {env}.", other.describe())],
        }
    }

    /// Keys while an abort's reason is being edited; `None` when the key
    /// is not the reason's (the dialog handles it).
    pub(super) fn on_reason_key(
        &mut self,
        c: &mut ConfirmDialog,
        key: &KeyEvent,
    ) -> Option<Vec<Command>> {
        let reason = c.reason.as_mut()?;
        match key.code {
            KeyCode::Tab if c.require_typed.is_some() => c.editing_reason = !c.editing_reason,
            KeyCode::Backspace if c.editing_reason => {
                reason.pop();
            }
            KeyCode::Char(ch) if c.editing_reason => reason.push(ch),
            _ => return None,
        }
        self.mode = Mode::Confirm(c.clone());
        Some(Vec::new())
    }
}

/// The confirmed intent, with the reason as edited (empty: the default).
pub(super) fn confirmed_intent(env: String, intent: Intent, c: &ConfirmDialog) -> RuntimeCommand {
    let intent = match (intent, &c.reason) {
        (Intent::Abort { reason: default }, Some(edited)) => Intent::Abort {
            reason: if edited.trim().is_empty() {
                default
            } else {
                edited.trim().to_string()
            },
        },
        (intent, _) => intent,
    };
    RuntimeCommand::Intent { env, intent }
}

fn current_user() -> String {
    crate::runtime::Actor::current("console").user
}

/// The action (and so the help text and the title) of an intent's dialog.
pub(super) fn intent_action(intent: &Intent) -> Action {
    match intent {
        Intent::Pause => Action::PauseRollout,
        Intent::Resume => Action::ResumeRollout,
        Intent::Abort { .. } => Action::AbortRollout,
        Intent::Retry => Action::RetryRollout,
        Intent::Undo { .. } => Action::UndoRevision,
        Intent::Promote { full: false } => Action::PromoteStep,
        Intent::Promote { full: true } => Action::PromoteFull,
        Intent::Restart => Action::RestartEnv,
        Intent::Deploy { .. } => Action::Deploy,
        Intent::Switch { .. } => Action::SwitchTraffic,
    }
}

/// Palette verbs for intents: `pause <env>`, `abort <env> [reason…]`,
/// `undo <env> [revision]`, `promote <env> --full`, …
pub(super) fn palette_intent(words: &[&str]) -> Option<(Action, String, Option<Intent>)> {
    let (verb, env, rest) = match words {
        [verb, env, rest @ ..] => (*verb, env.to_string(), rest),
        _ => return None,
    };
    let (action, intent) = match (verb, rest) {
        ("pause", []) => (Action::PauseRollout, Some(Intent::Pause)),
        ("resume", []) => (Action::ResumeRollout, Some(Intent::Resume)),
        ("retry", []) => (Action::RetryRollout, Some(Intent::Retry)),
        ("restart", []) => (Action::RestartEnv, Some(Intent::Restart)),
        ("promote", ["--full"]) => (Action::PromoteFull, Some(Intent::Promote { full: true })),
        ("promote", []) => (Action::PromoteStep, Some(Intent::Promote { full: false })),
        ("abort", []) => (Action::AbortRollout, None),
        ("abort", reason) => (
            Action::AbortRollout,
            Some(Intent::Abort {
                reason: reason.join(" "),
            }),
        ),
        ("undo", []) => (
            Action::UndoRevision,
            Some(Intent::Undo { to_revision: None }),
        ),
        ("undo", [n]) => (
            Action::UndoRevision,
            Some(Intent::Undo {
                to_revision: Some(n.parse().ok()?),
            }),
        ),
        _ => return None,
    };
    Some((action, env, intent))
}
