//! Unicode that makes ratatui and the terminal disagree about where text
//! ends (stale cells, text drawn right-to-left over its neighbours), made
//! safe for a grid of cells. Runs after [`super::sanitize`], which has
//! already removed C0/C1 controls and escape sequences.
//!
//! - U+2028 (line separator) becomes `␤`, U+2029 (paragraph separator) `¶`.
//! - Bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)
//!   become `�`: they reorder what follows, so a line could show text that
//!   is not there (`abc` + RLO + `terces` reads `secret`).
//! - Emoji sequences whose width depends on the terminal are broken into
//!   parts whose width every terminal agrees on: ZWJ (U+200D), variation
//!   selectors (U+FE0E, U+FE0F), skin-tone modifiers (U+1F3FB-U+1F3FF), the
//!   keycap mark (U+20E3) and tag characters (U+E0020-U+E007F, also used to
//!   hide text) are dropped; a regional-indicator flag becomes its letters in
//!   brackets (`[US]`), a lone indicator its letter.

use std::borrow::Cow;

pub const LINE_SEPARATOR_MARK: char = '␤';
pub const PARAGRAPH_SEPARATOR_MARK: char = '¶';
pub const BIDI_MARK: char = '\u{fffd}';

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Joiners and modifiers dropped so emoji sequences fall apart into parts
/// of known width.
fn is_dropped(c: char) -> bool {
    matches!(
        c,
        '\u{200d}' | '\u{fe0e}' | '\u{fe0f}' | '\u{20e3}' | '\u{1f3fb}'..='\u{1f3ff}' | '\u{e0020}'..='\u{e007f}'
    )
}

fn regional_letter(c: char) -> Option<char> {
    let n = (c as u32).checked_sub(0x1f1e6)?;
    (n < 26).then(|| char::from(b'A' + n as u8))
}

/// True when `c` is one [`layout_safe`] changes. Every such character lies
/// above U+05FF, which gives ASCII and most text a fast path.
fn needs_change(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
        || is_bidi_control(c)
        || is_dropped(c)
        || regional_letter(c).is_some()
}

/// Text whose every character ratatui and terminals measure alike, with
/// separators and bidi controls visible (see module docs).
pub fn layout_safe(s: &str) -> Cow<'_, str> {
    // All affected characters are encoded with a lead byte >= 0xD8.
    if s.bytes().all(|b| b < 0xd8) || !s.chars().any(needs_change) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{2028}' => out.push(LINE_SEPARATOR_MARK),
            '\u{2029}' => out.push(PARAGRAPH_SEPARATOR_MARK),
            c if is_bidi_control(c) => out.push(BIDI_MARK),
            c if is_dropped(c) => {}
            c => match regional_letter(c) {
                Some(first) => match chars.peek().copied().and_then(regional_letter) {
                    Some(second) => {
                        chars.next();
                        out.push('[');
                        out.push(first);
                        out.push(second);
                        out.push(']');
                    }
                    None => out.push(first),
                },
                None => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

/// The control picture for a control character: `␛` for ESC, `␍` for CR,
/// `␊` for LF, `␉` for tab, `␡` for DEL, and U+FFFD for C1 controls.
pub fn control_picture(c: char) -> Option<char> {
    match c as u32 {
        n @ 0..=0x1f => char::from_u32(0x2400 + n),
        0x7f => Some('␡'),
        0x80..=0x9f => Some('\u{fffd}'),
        _ => None,
    }
}

/// Control characters decoded from inside a JSON string (`\u001b`, `\r`)
/// shown as control pictures rather than dropped, so `secret\rHIDDEN` reads
/// `secret␍HIDDEN` and an escape sequence reads `␛[2J`; then [`layout_safe`].
pub fn visible_controls(s: &str) -> Cow<'_, str> {
    // Printable ASCII, the usual value, needs nothing: one vectorisable pass.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(s);
    }
    if !s.chars().any(char::is_control) {
        return layout_safe(s);
    }
    let shown: String = s.chars().map(|c| control_picture(c).unwrap_or(c)).collect();
    Cow::Owned(layout_safe(&shown).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        for t in ["", "hello", "ünïcödé ✓ 日本語 🚀", "a\tb", "Ωμέγα ∑"] {
            assert!(matches!(layout_safe(t), Cow::Borrowed(_)), "{t}");
        }
    }

    #[test]
    fn line_and_paragraph_separators_are_visible() {
        assert_eq!(layout_safe("a\u{2028}b"), "a␤b");
        assert_eq!(layout_safe("a\u{2029}b"), "a¶b");
    }

    #[test]
    fn bidi_controls_are_visible() {
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
        ] {
            assert_eq!(layout_safe(&format!("abc{c}terces")), "abc\u{fffd}terces");
        }
    }

    #[test]
    fn zwj_sequences_fall_apart_into_their_emoji() {
        // Family: man ZWJ woman ZWJ girl.
        assert_eq!(
            layout_safe("x\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}y"),
            "x\u{1f468}\u{1f469}\u{1f467}y"
        );
        // Woman running, with VS16 on the sign.
        assert_eq!(
            layout_safe("\u{1f3c3}\u{200d}\u{2640}\u{fe0f}"),
            "\u{1f3c3}\u{2640}"
        );
    }

    #[test]
    fn variation_selectors_modifiers_and_keycaps_are_dropped() {
        assert_eq!(layout_safe("\u{2764}\u{fe0f}!"), "\u{2764}!");
        assert_eq!(layout_safe("\u{2764}\u{fe0e}"), "\u{2764}");
        assert_eq!(layout_safe("\u{1f44d}\u{1f3fd}"), "\u{1f44d}");
        assert_eq!(layout_safe("1\u{fe0f}\u{20e3}"), "1");
        // A subdivision flag and text hidden in tag characters.
        assert_eq!(
            layout_safe("\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}"),
            "\u{1f3f4}"
        );
    }

    #[test]
    fn flags_become_letters() {
        assert_eq!(layout_safe("from \u{1f1fa}\u{1f1f8} ok"), "from [US] ok");
        assert_eq!(
            layout_safe("\u{1f1e9}\u{1f1ea}\u{1f1eb}\u{1f1f7}"),
            "[DE][FR]"
        );
        assert_eq!(layout_safe("\u{1f1ff}!"), "Z!");
    }

    #[test]
    fn json_controls_become_pictures() {
        assert_eq!(visible_controls("secret\rHIDDEN"), "secret␍HIDDEN");
        assert_eq!(
            visible_controls("a\u{1b}]52;c;QQ==\u{7}\u{1b}[2Jb"),
            "a␛]52;c;QQ==␇␛[2Jb"
        );
        assert_eq!(visible_controls("x\u{7f}\u{9b}y\n"), "x␡\u{fffd}y␊");
        assert_eq!(visible_controls("rlo\u{202e}\tz"), "rlo\u{fffd}␉z");
        assert_eq!(visible_controls("plain"), "plain");
    }
}
