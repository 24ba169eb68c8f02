//! Keymap built from the action table plus config overrides.
//! Clashes are refused when the keymap is built, never silently resolved.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions::{Action, ActionSpec, Scope, ACTIONS};
use super::state::PaneId;
use crate::config::KeyBinding;

/// A key with modifiers, parsed from strings like `d`, `G`, `ctrl-c`, `tab`, `backtab`, `f5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub code: ChordKey,
    pub ctrl: bool,
    pub alt: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChordKey {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    F(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("keymap: unknown action `{0}`")]
    UnknownAction(String),
    #[error("keymap: cannot parse key `{key}` for action `{action}`")]
    BadKey { action: String, key: String },
    #[error("keymap: key `{key}` is bound to both `{first}` and `{second}`")]
    Clash { key: String, first: String, second: String },
}

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<(KeyChord, &'static ActionSpec)>,
}

impl KeyChord {
    pub fn parse(s: &str) -> Option<KeyChord> {
        let _ = s;
        None
    }
    pub fn from_event(ev: &KeyEvent) -> Option<KeyChord> {
        let _ = (ev, KeyCode::Enter, KeyModifiers::NONE);
        None
    }
    pub fn display(&self) -> String {
        String::new()
    }
}

impl Keymap {
    /// Defaults from the action table with `overrides` (action id -> keys) applied.
    pub fn build(overrides: &BTreeMap<String, KeyBinding>) -> Result<Keymap, Vec<KeymapError>> {
        let _ = (overrides, ACTIONS);
        Ok(Keymap { bindings: Vec::new() })
    }
    /// The action for a key when `focus` has focus (pane keys win over none).
    pub fn lookup(&self, chord: KeyChord, focus: PaneId) -> Option<Action> {
        let _ = (chord, focus, Scope::Global);
        None
    }
    /// Keys bound to an action, for help and hints (e.g. `["d"]`).
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, s)| s.action == action)
            .map(|(k, _)| k.display())
            .collect()
    }
}
