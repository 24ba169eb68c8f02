//! Neutralise control and escape sequences in untrusted text (logs, container
//! output, cluster strings, LLM answers) before it reaches a terminal.
//!
//! Rules, applied to one logical line:
//! - Printable text (including any non-control Unicode) and `\t` are kept.
//! - One trailing line terminator (`\n`, `\r\n` or `\r`) is dropped; inner
//!   `\n` / `\r\n` are shown as the two characters `\n`, an inner lone `\r`
//!   as `\r`, so a line can never move the cursor or overwrite itself.
//! - Every other C0 control (NUL, BEL, BS, VT, FF, ...), DEL and every C1
//!   control (U+0080..=U+009F) is removed.
//! - Escape sequences are removed whole: CSI (`ESC [` ... final byte), OSC
//!   (`ESC ]` ... BEL or ST; unterminated ones swallow the rest of the line),
//!   DCS/SOS/PM/APC (`ESC P`/`X`/`^`/`_` ... ST), nF sequences such as
//!   `ESC ( B`, and two-byte sequences such as `ESC c`, `ESC 7`, `ESC =`.
//!   The 8-bit introducers U+009B (CSI), U+009D (OSC), U+0090 (DCS),
//!   U+0098 (SOS), U+009E (PM) and U+009F (APC) start the same sequences.
//!   An ESC inside a string sequence ends it (as terminals do) and is then
//!   read as the start of a new sequence.
//! - Only SGR sequences `ESC [ params m` survive, byte for byte, and only when
//!   every parameter is allow-listed: 0 (also empty), 1, 2, 3, 4, 7 (reverse),
//!   22, 23, 24, 27, 30-37, 39, 40-47, 49, 90-97, 100-107, `38;5;N` / `48;5;N`
//!   and `38;2;R;G;B` / `48;2;R;G;B` with components 0..=255. Anything else
//!   (blink 5/6, conceal 8, colon sub-parameters, private markers, ...) drops
//!   the whole sequence. Conceal is refused because it hides text from the
//!   reader.
//!
//! Invalid UTF-8 becomes U+FFFD (so raw 8-bit C1 bytes can never reach the
//! terminal as controls).
//!
//! Lines without any control character take a fast path that copies the input
//! once and inspects each byte once.

use std::borrow::Cow;

pub use super::sanitize_lines::strip_lines;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const DEL: u8 = 0x7f;
/// UTF-8 lead byte of U+0080..=U+00BF; C1 controls are `0xC2 0x80..=0x9F`.
const C2: u8 = 0xc2;

/// Sanitise raw bytes into a printable string (see module docs).
pub fn sanitize_bytes(input: &[u8]) -> String {
    match String::from_utf8_lossy(input) {
        Cow::Borrowed(s) => sanitize_str(s),
        Cow::Owned(s) => {
            if needs_work(s.as_bytes()) {
                clean(&s, true)
            } else {
                s
            }
        }
    }
}

/// Sanitise text, keeping allow-listed SGR sequences.
pub fn sanitize_str(input: &str) -> String {
    if needs_work(input.as_bytes()) {
        clean(input, true)
    } else {
        input.to_owned()
    }
}

/// Like [`sanitize_str`] but removes SGR sequences too: for plain output (a
/// CLI writing to a pipe) and for matching text against a filter.
pub fn strip_all(input: &str) -> String {
    if needs_work(input.as_bytes()) {
        clean(input, false)
    } else {
        input.to_owned()
    }
}

/// True when `input` holds something [`sanitize_str`] would change: a C0
/// control other than `\t`, DEL, or a C1 control.
pub fn needs_sanitizing(input: &str) -> bool {
    needs_work(input.as_bytes())
}

#[inline]
fn needs_work(b: &[u8]) -> bool {
    // Cheap, vectorisable pre-scan; 0xC2 is only a candidate (it also leads
    // ordinary Latin-1 letters), so confirm it below.
    if !b
        .iter()
        .any(|&c| (c < 0x20 && c != b'\t') || c == DEL || c == C2)
    {
        return false;
    }
    b.iter().enumerate().any(|(i, &c)| {
        (c < 0x20 && c != b'\t')
            || c == DEL
            || (c == C2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// The slow path: a small state machine over bytes. Cuts happen only at ASCII
/// bytes or at the lead byte of a two-byte C1 character, so every slice copied
/// out is valid UTF-8.
fn clean(input: &str, keep_sgr: bool) -> String {
    let input = trim_line_end(input);
    let b = input.as_bytes();
    let n = b.len();
    let mut out = String::with_capacity(n);
    let mut run = 0; // start of the pending run of plain text
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c == ESC {
            out.push_str(&input[run..i]);
            let end = escape_end(b, i + 1);
            if keep_sgr && end.sgr_ok {
                out.push_str(&input[i..end.next]);
            }
            i = end.next;
            run = i;
        } else if c == C2 && i + 1 < n && (0x80..=0x9f).contains(&b[i + 1]) {
            out.push_str(&input[run..i]);
            i = match b[i + 1] {
                0x9b => csi_end(b, i + 2).next,
                0x9d => string_end(b, i + 2, true),
                0x90 | 0x98 | 0x9e | 0x9f => string_end(b, i + 2, false),
                _ => i + 2,
            };
            run = i;
        } else if c == b'\n' || c == b'\r' {
            out.push_str(&input[run..i]);
            if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                out.push_str("\\n");
                i += 2;
            } else {
                out.push_str(if c == b'\n' { "\\n" } else { "\\r" });
                i += 1;
            }
            run = i;
        } else if (c < 0x20 && c != b'\t') || c == DEL {
            out.push_str(&input[run..i]);
            i += 1;
            run = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&input[run..n]);
    out
}

fn trim_line_end(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .or_else(|| s.strip_suffix('\r'))
        .unwrap_or(s)
}

struct SeqEnd {
    /// Index of the first byte after the sequence (or of a byte that aborted
    /// it and must be read again).
    next: usize,
    /// The sequence is an SGR whose parameters are all allow-listed.
    sgr_ok: bool,
}

/// `j` is the index just after an ESC.
fn escape_end(b: &[u8], j: usize) -> SeqEnd {
    let plain = |next| SeqEnd {
        next,
        sgr_ok: false,
    };
    let Some(&d) = b.get(j) else {
        return plain(j);
    };
    match d {
        b'[' => csi_end(b, j + 1),
        b']' => plain(string_end(b, j + 1, true)),
        b'P' | b'X' | b'^' | b'_' => plain(string_end(b, j + 1, false)),
        // nF: intermediates then one final byte (`ESC ( B`, `ESC # 8`).
        0x20..=0x2f => {
            let mut k = j + 1;
            while k < b.len() && (0x20..=0x2f).contains(&b[k]) {
                k += 1;
            }
            if k < b.len() && (0x30..=0x7e).contains(&b[k]) {
                k += 1;
            }
            plain(k)
        }
        // Two-byte sequences: `ESC 7`, `ESC c`, `ESC =`, `ESC M`, ...
        0x30..=0x7e => plain(j + 1),
        // A lone ESC: drop it and read what follows as usual.
        _ => plain(j),
    }
}

/// `k` is the index just after `ESC [` (or U+009B). Parameter bytes, then
/// intermediate bytes, then a final byte; any other byte aborts the sequence.
fn csi_end(b: &[u8], start: usize) -> SeqEnd {
    let mut k = start;
    while k < b.len() && (0x30..=0x3f).contains(&b[k]) {
        k += 1;
    }
    let params_end = k;
    while k < b.len() && (0x20..=0x2f).contains(&b[k]) {
        k += 1;
    }
    match b.get(k) {
        Some(&f) if (0x40..=0x7e).contains(&f) => SeqEnd {
            next: k + 1,
            sgr_ok: f == b'm' && params_end == k && sgr_allowed(&b[start..params_end]),
        },
        _ => SeqEnd {
            next: k,
            sgr_ok: false,
        },
    }
}

/// End of an OSC/DCS/SOS/PM/APC string starting at `k`: after BEL (OSC only),
/// `ESC \` or U+009C; at another ESC (which is read again); else the end.
fn string_end(b: &[u8], mut k: usize, bel_ends: bool) -> usize {
    while k < b.len() {
        match b[k] {
            BEL if bel_ends => return k + 1,
            ESC => {
                return if b.get(k + 1) == Some(&b'\\') {
                    k + 2
                } else {
                    k
                };
            }
            C2 if b.get(k + 1) == Some(&0x9c) => return k + 2,
            _ => k += 1,
        }
    }
    k
}

/// Every parameter of an SGR (`params` between `ESC [` and `m`) is allowed.
fn sgr_allowed(params: &[u8]) -> bool {
    if !params.iter().all(|&c| c.is_ascii_digit() || c == b';') {
        return false;
    }
    let mut nums = params.split(|&c| c == b';').map(parse_param);
    while let Some(p) = nums.next() {
        let Some(p) = p else {
            return false;
        };
        let ok = match p {
            0..=4 | 7 | 22..=24 | 27 | 30..=37 | 39 | 40..=47 | 49 | 90..=97 | 100..=107 => true,
            38 | 48 => match nums.next() {
                Some(Some(5)) => byte_param(nums.next()),
                Some(Some(2)) => (0..3).all(|_| byte_param(nums.next())),
                _ => false,
            },
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn byte_param(p: Option<Option<u32>>) -> bool {
    matches!(p, Some(Some(0..=255)))
}

/// A decimal parameter; empty means 0. Overlong numbers are refused.
fn parse_param(s: &[u8]) -> Option<u32> {
    if s.len() > 5 {
        return None;
    }
    Some(s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Independent check of the output invariant (shared with the fuzz
    /// targets).
    fn assert_safe(out: &str, keep_sgr: bool) {
        if let Err(e) = crate::fuzzing::check_terminal_safe(out, keep_sgr) {
            panic!("{e}");
        }
    }

    fn s(input: &str) -> String {
        let out = sanitize_str(input);
        assert_safe(&out, true);
        out
    }

    #[test]
    fn plain_text_is_returned_unchanged() {
        for t in [
            "",
            "hello world",
            "tab\there",
            "ünïcödé ✓ 日本語 🚀",
            "a\u{a0}b é",
        ] {
            assert_eq!(sanitize_str(t), t);
            assert_eq!(strip_all(t), t);
            assert!(!needs_sanitizing(t));
        }
    }

    #[test]
    fn line_terminators() {
        assert_eq!(s("done\n"), "done");
        assert_eq!(s("done\r\n"), "done");
        assert_eq!(s("done\r"), "done");
        assert_eq!(s("a\nb"), "a\\nb");
        assert_eq!(s("a\r\nb\n"), "a\\nb");
        assert_eq!(s("a\rb"), "a\\rb");
        assert_eq!(s("a\n\n"), "a\\n");
        assert_eq!(s("\n"), "");
    }

    #[test]
    fn c0_controls_and_del_are_dropped() {
        assert_eq!(s("ding\x07dong"), "dingdong");
        assert_eq!(s("abc\x08\x08\x08xyz"), "abcxyz");
        assert_eq!(s("nul\0byte"), "nulbyte");
        assert_eq!(s("v\x0bf\x0c so\x0esi\x0f"), "vf sosi");
        assert_eq!(s("del\x7fete"), "delete");
        assert_eq!(s("keep\ttab"), "keep\ttab");
    }

    #[test]
    fn osc_sequences_are_removed() {
        // OSC 52 clipboard write, BEL- and ST-terminated.
        assert_eq!(s("a\x1b]52;c;ZWNobyBwd25lZA==\x07b"), "ab");
        assert_eq!(s("a\x1b]52;c;ZWNobyBwd25lZA==\x1b\\b"), "ab");
        // OSC 8 hyperlink: the link text stays, the target goes.
        assert_eq!(
            s("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ here"),
            "click here"
        );
        // Window title.
        assert_eq!(s("\x1b]0;pwned\x07ok"), "ok");
        assert_eq!(s("\x1b]2;pwned\x1b\\ok"), "ok");
        // Unterminated: the rest of the line is swallowed.
        assert_eq!(s("before\x1b]0;title with no end"), "before");
        // 8-bit ST terminates too.
        assert_eq!(s("x\x1b]0;t\u{9c}y"), "xy");
    }

    #[test]
    fn csi_sequences_are_removed() {
        assert_eq!(s("a\x1b[2Jb"), "ab");
        assert_eq!(s("a\x1b[Hb"), "ab");
        assert_eq!(s("a\x1b[10;10Hb"), "ab");
        assert_eq!(s("a\x1b[Ab\x1b[3Bc\x1b[K"), "abc");
        assert_eq!(s("query\x1b[6n"), "query");
        assert_eq!(s("\x1b[?1049halt screen\x1b[?1049l"), "alt screen");
        assert_eq!(s("\x1b[?25l\x1b[?1000h\x1b[?2004h"), "");
        assert_eq!(s("\x1b[>c\x1b[c\x1b[5i"), "");
        // Intermediate bytes (`ESC [ 2 SP q`, cursor shape).
        assert_eq!(s("\x1b[2 qx"), "x");
        // Unterminated CSI at the end vanishes.
        assert_eq!(s("tail\x1b[12;"), "tail");
    }

    #[test]
    fn other_escape_sequences_are_removed() {
        assert_eq!(s("\x1bcreset"), "reset");
        assert_eq!(s("\x1b7save\x1b8"), "save");
        assert_eq!(s("\x1b=\x1b>keypad"), "keypad");
        assert_eq!(s("\x1b(Bcharset\x1b)0"), "charset");
        assert_eq!(s("\x1b#8fill"), "fill");
        assert_eq!(s("\x1bMup\x1bDdown"), "updown");
        // DCS (e.g. a DECRQSS query), SOS, PM, APC.
        assert_eq!(s("a\x1bP$qm\x1b\\b"), "ab");
        assert_eq!(s("a\x1bXsos\x1b\\b\x1b^pm\x1b\\c\x1b_apc\x1b\\d"), "abcd");
        assert_eq!(s("a\x1bPunterminated dcs"), "a");
        // A lone ESC at the end or before a non-ASCII char.
        assert_eq!(s("end\x1b"), "end");
        assert_eq!(s("\x1bé"), "é");
    }

    #[test]
    fn c1_controls_are_removed() {
        // 8-bit CSI and OSC as valid UTF-8 (0xC2 0x9B / 0xC2 0x9D).
        assert_eq!(s("a\u{9b}2Jb"), "ab");
        assert_eq!(s("a\u{9b}31mred"), "ared");
        assert_eq!(s("a\u{9d}0;title\u{7}b"), "ab");
        assert_eq!(s("a\u{90}dcs\u{9c}b"), "ab");
        assert_eq!(s("a\u{85}b\u{84}c\u{8d}d"), "abcd");
        assert_eq!(sanitize_bytes(b"a\xc2\x9b2Jb"), "ab");
        assert_eq!(sanitize_bytes(b"a\xc2\x9d52;c;QQ==\x07b"), "ab");
        // Latin-1 letters share the 0xC2 lead byte and must survive.
        assert_eq!(s("a\u{a9}b\u{bf}"), "a\u{a9}b\u{bf}");
    }

    #[test]
    fn raw_8bit_and_invalid_utf8_become_replacement_chars() {
        let out = sanitize_bytes(b"a\x9b2Jb\x9d0;t\x07c");
        assert_eq!(out, "a\u{fffd}2Jb\u{fffd}0;tc");
        assert_safe(&out, true);
        assert_eq!(
            sanitize_bytes(b"\xff\xfe ok \xc3\x28"),
            "\u{fffd}\u{fffd} ok \u{fffd}("
        );
        assert_eq!(
            sanitize_bytes(b"bad \xe2\x28\xa1 \x1b[2J"),
            "bad \u{fffd}(\u{fffd} "
        );
    }

    #[test]
    fn kubernetes_event_payload_is_neutralised() {
        // CVE-2021-25743 style: escape sequences hidden in an event message
        // that rename the window, clear the screen and fake a success line.
        let msg = "Back-off restarting failed container\x1b]0;kubectl: all good\x07\
                   \x1b[2J\x1b[H\x1b[32mAll pods healthy\x1b[0m\x1b[8mrm -rf /\x1b[0m\r\n";
        assert_eq!(
            s(msg),
            "Back-off restarting failed container\x1b[32mAll pods healthy\x1b[0mrm -rf /\x1b[0m"
        );
        assert_eq!(
            strip_all(msg),
            "Back-off restarting failed containerAll pods healthyrm -rf /"
        );
    }

    #[test]
    fn nested_and_interrupted_sequences() {
        // An ESC inside an OSC ends it and starts a new sequence.
        assert_eq!(s("\x1b]0;title\x1b[31mred\x1b[0m"), "\x1b[31mred\x1b[0m");
        // A control inside a CSI aborts it; the rest is text.
        assert_eq!(s("\x1b[2\nJ"), "\\nJ");
        // ESC ESC: the first is lone and dropped.
        assert_eq!(s("\x1b\x1b[2Jx"), "x");
        // ESC [ ESC ] ...: CSI aborted by ESC, the OSC is removed.
        assert_eq!(s("a\x1b[\x1b]0;t\x07b"), "ab");
        // Stripping cannot assemble a new sequence from the leftovers.
        assert_eq!(s("\x1b\x00[2J"), "[2J");
        assert_eq!(s("\x1b\x07]0;x\x07"), "]0;x");
        assert_eq!(s("\x1b[\x1b[\x1b[31"), "");
    }

    #[test]
    fn allow_listed_sgr_survives_unchanged() {
        for seq in [
            "\x1b[m",
            "\x1b[0m",
            "\x1b[1m",
            "\x1b[1;31m",
            "\x1b[2;3;4m",
            "\x1b[7m",
            "\x1b[22;23;24;27m",
            "\x1b[30;47m",
            "\x1b[39;49m",
            "\x1b[90m",
            "\x1b[107m",
            "\x1b[38;5;208m",
            "\x1b[48;5;0m",
            "\x1b[38;2;255;128;0m",
            "\x1b[1;38;2;0;0;0;48;5;255m",
            "\x1b[;1m",
        ] {
            let line = format!("before {seq}coloured\x1b[0m after");
            assert_eq!(s(&line), line, "{seq:?}");
            assert_eq!(strip_all(&line), "before coloured after", "{seq:?}");
        }
    }

    #[test]
    fn non_allow_listed_sgr_is_dropped_whole() {
        for seq in [
            "\x1b[5m",
            "\x1b[6m",
            "\x1b[8m",
            "\x1b[1;5m",
            "\x1b[31;8m",
            "\x1b[38;5;256m",
            "\x1b[38;5m",
            "\x1b[38;2;1;2m",
            "\x1b[38;2;1;2;300m",
            "\x1b[48;3;1m",
            "\x1b[38:2::1:2:3m",
            "\x1b[4:3m",
            "\x1b[?1m",
            "\x1b[999999999999m",
            "\x1b[1 m",
            "\x1b[53m",
        ] {
            let line = format!("x{seq}y");
            assert_eq!(s(&line), "xy", "{seq:?}");
        }
    }

    #[test]
    fn sanitizing_is_idempotent_on_samples() {
        for t in [
            "a\x1b[31mb\x1b[0m\nc\r",
            "\x1b]8;;u\x1b\\l\x1b]8;;\x1b\\",
            "x\u{9b}1my\x1b[38;5;9mz",
        ] {
            let once = sanitize_str(t);
            assert_eq!(sanitize_str(&once), once);
        }
    }

    #[test]
    fn random_bytes_never_produce_unsafe_output() {
        let mut rng = fastrand::Rng::with_seed(0x5eed_b115);
        // Bias towards the interesting bytes so sequences actually form.
        const ALPHABET: &[u8] = b"\x1b\x1b\x1b[[]]\\;;0123456789m?P_^X(#\x07\x08\x00\r\n\t\x7f\xc2\x9b\x9d\x9c\x90\x80\x85\xe2\xffabcJH";
        for _ in 0..20_000 {
            let len = rng.usize(0..64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.bool() {
                        ALPHABET[rng.usize(..ALPHABET.len())]
                    } else {
                        rng.u8(..)
                    }
                })
                .collect();
            let out = sanitize_bytes(&bytes);
            assert_safe(&out, true);
            assert_eq!(sanitize_str(&out), out, "not idempotent for {bytes:?}");
            let plain = strip_all(&String::from_utf8_lossy(&bytes));
            assert_safe(&plain, false);
        }
    }

    #[test]
    fn fast_path_agrees_with_slow_path() {
        let mut rng = fastrand::Rng::with_seed(42);
        for _ in 0..5_000 {
            let len = rng.usize(0..40);
            let text: String = (0..len)
                .map(|_| match rng.u8(0..4) {
                    0 => rng.char('\u{20}'..='\u{7e}'),
                    1 => rng.char('\u{a0}'..='\u{2fff}'),
                    2 => '\t',
                    _ => rng.char('\u{1f300}'..='\u{1f5ff}'),
                })
                .collect();
            assert!(!needs_sanitizing(&text));
            assert_eq!(clean(&text, true), text);
            assert_eq!(sanitize_str(&text), text);
        }
    }
}
