//! Keymap built from the action table plus config overrides.
//! Clashes are refused when the keymap is built, never silently resolved.

use std::collections::BTreeMap;

use super::actions::{spec_by_id, Action, ActionSpec, Scope, ACTIONS};
use super::state::PaneId;
use crate::config::KeyBinding;

mod chord;
#[cfg(test)]
mod tests;

pub use chord::{ChordKey, KeyChord};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("keymap: unknown action `{0}`")]
    UnknownAction(String),
    #[error("keymap: cannot parse key `{key}` for action `{action}`")]
    BadKey { action: String, key: String },
    #[error("keymap: key `{key}` is bound to both `{first}` and `{second}`")]
    Clash {
        key: String,
        first: String,
        second: String,
    },
}

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<(KeyChord, &'static ActionSpec)>,
}

fn scopes_overlap(a: Scope, b: Scope) -> bool {
    match (a, b) {
        (Scope::Pane(x), Scope::Pane(y)) => x == y,
        _ => true,
    }
}

impl Keymap {
    /// Defaults from the action table with `overrides` (action id -> keys) applied.
    /// An override replaces all default keys of its action. Every problem is
    /// reported, not only the first.
    pub fn build(overrides: &BTreeMap<String, KeyBinding>) -> Result<Keymap, Vec<KeymapError>> {
        let mut errors: Vec<KeymapError> = overrides
            .keys()
            .filter(|id| spec_by_id(id).is_none())
            .map(|id| KeymapError::UnknownAction(id.clone()))
            .collect();
        let mut bindings: Vec<(KeyChord, &'static ActionSpec)> = Vec::new();
        for spec in ACTIONS {
            let keys: Vec<&str> = match overrides.get(spec.id) {
                Some(b) => b.keys(),
                None => spec.default_keys.to_vec(),
            };
            for key in keys {
                let Some(chord) = KeyChord::parse(key) else {
                    errors.push(KeymapError::BadKey {
                        action: spec.id.to_string(),
                        key: key.to_string(),
                    });
                    continue;
                };
                // The same key twice for one action is harmless.
                if bindings
                    .iter()
                    .any(|(c, s)| *c == chord && s.action == spec.action)
                {
                    continue;
                }
                for (c, other) in &bindings {
                    if *c == chord && scopes_overlap(other.scope, spec.scope) {
                        errors.push(KeymapError::Clash {
                            key: chord.display(),
                            first: other.id.to_string(),
                            second: spec.id.to_string(),
                        });
                    }
                }
                bindings.push((chord, spec));
            }
        }
        if errors.is_empty() {
            Ok(Keymap { bindings })
        } else {
            Err(errors)
        }
    }

    /// The action for a key when `focus` has focus: a binding of the focused
    /// pane first, else a global one. Build refuses clashes, so at most one
    /// of each can match.
    pub fn lookup(&self, chord: KeyChord, focus: PaneId) -> Option<Action> {
        let pane = self
            .bindings
            .iter()
            .find(|(c, s)| *c == chord && s.scope == Scope::Pane(focus));
        pane.or_else(|| {
            self.bindings
                .iter()
                .find(|(c, s)| *c == chord && s.scope == Scope::Global)
        })
        .map(|(_, s)| s.action)
    }

    /// Keys bound to an action, for help and hints (e.g. `["d"]`).
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, s)| s.action == action)
            .map(|(k, _)| k.display())
            .collect()
    }

    /// Every binding, in action-table order (for the help overlay).
    pub fn bindings(&self) -> impl Iterator<Item = (KeyChord, &'static ActionSpec)> + '_ {
        self.bindings.iter().copied()
    }
}
