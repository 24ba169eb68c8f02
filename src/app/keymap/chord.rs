//! Key chords: parsed from strings like `d`, `G`, `ctrl-c`, `tab`, `f5`,
//! matched against terminal key events.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

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

impl KeyChord {
    pub const fn plain(code: ChordKey) -> KeyChord {
        KeyChord {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// Parse `d`, `G`, `?`, `space`, `enter`, `f5`, `ctrl-c`, `alt-x`, `ctrl-alt-d`.
    /// Single characters are case-sensitive; names and modifiers are not.
    /// With ctrl, letters are folded to lowercase because terminals cannot
    /// tell ctrl-C from ctrl-c.
    pub fn parse(s: &str) -> Option<KeyChord> {
        let mut rest = s.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            // A single remaining char is the key itself, even `-`.
            if rest.chars().count() <= 1 {
                break;
            }
            if let Some(r) = strip_prefix_ci(rest, "ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = strip_prefix_ci(rest, "alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return None,
            (Some(c), None) if c.is_control() => return None,
            (Some(c), None) => ChordKey::Char(c),
            _ => named_key(&rest.to_ascii_lowercase())?,
        };
        Some(KeyChord { code, ctrl, alt }.normalized())
    }

    /// The chord for a key press; releases and keys without a name here give `None`.
    /// Shift is ignored: it is already in the character (`G`) or the key (`BackTab`).
    pub fn from_event(ev: &KeyEvent) -> Option<KeyChord> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let shift = ev.modifiers.contains(KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) if c.is_control() => return None,
            KeyCode::Char(c) => ChordKey::Char(c),
            KeyCode::Enter => ChordKey::Enter,
            KeyCode::Esc => ChordKey::Esc,
            KeyCode::Tab if shift => ChordKey::BackTab,
            KeyCode::Tab => ChordKey::Tab,
            KeyCode::BackTab => ChordKey::BackTab,
            KeyCode::Backspace => ChordKey::Backspace,
            KeyCode::Up => ChordKey::Up,
            KeyCode::Down => ChordKey::Down,
            KeyCode::Left => ChordKey::Left,
            KeyCode::Right => ChordKey::Right,
            KeyCode::PageUp => ChordKey::PageUp,
            KeyCode::PageDown => ChordKey::PageDown,
            KeyCode::Home => ChordKey::Home,
            KeyCode::End => ChordKey::End,
            KeyCode::F(n @ 1..=12) => ChordKey::F(n),
            _ => return None,
        };
        Some(
            KeyChord {
                code,
                ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
                alt: ev.modifiers.contains(KeyModifiers::ALT),
            }
            .normalized(),
        )
    }

    /// The config spelling, e.g. `ctrl-c`, `G`, `enter`, `space`, `f5`.
    pub fn display(&self) -> String {
        let mut out = String::new();
        if self.ctrl {
            out.push_str("ctrl-");
        }
        if self.alt {
            out.push_str("alt-");
        }
        match self.code {
            ChordKey::Char(' ') => out.push_str("space"),
            ChordKey::Char(c) => out.push(c),
            ChordKey::F(n) => {
                out.push('f');
                out.push_str(&n.to_string());
            }
            other => out.push_str(key_name(other)),
        }
        out
    }

    fn normalized(mut self) -> KeyChord {
        if let ChordKey::Char(c) = self.code {
            if self.ctrl && c.is_ascii_uppercase() {
                self.code = ChordKey::Char(c.to_ascii_lowercase());
            }
        }
        self
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

const NAMED: &[(&str, ChordKey)] = &[
    ("enter", ChordKey::Enter),
    ("esc", ChordKey::Esc),
    ("tab", ChordKey::Tab),
    ("backtab", ChordKey::BackTab),
    ("backspace", ChordKey::Backspace),
    ("up", ChordKey::Up),
    ("down", ChordKey::Down),
    ("left", ChordKey::Left),
    ("right", ChordKey::Right),
    ("pageup", ChordKey::PageUp),
    ("pagedown", ChordKey::PageDown),
    ("home", ChordKey::Home),
    ("end", ChordKey::End),
];

fn named_key(lower: &str) -> Option<ChordKey> {
    if let Some((_, k)) = NAMED.iter().find(|(n, _)| *n == lower) {
        return Some(*k);
    }
    match lower {
        "space" => return Some(ChordKey::Char(' ')),
        "escape" => return Some(ChordKey::Esc),
        "return" => return Some(ChordKey::Enter),
        "shift-tab" => return Some(ChordKey::BackTab),
        "pgup" => return Some(ChordKey::PageUp),
        "pgdown" | "pgdn" => return Some(ChordKey::PageDown),
        _ => {}
    }
    let n: u8 = lower.strip_prefix('f')?.parse().ok()?;
    (1..=12).contains(&n).then_some(ChordKey::F(n))
}

fn key_name(k: ChordKey) -> &'static str {
    NAMED
        .iter()
        .find(|(_, c)| *c == k)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}
