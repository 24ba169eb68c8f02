//! Entry points for the fuzz targets in `fuzz/` (not part of the API):
//! the few pure functions they need that are private elsewhere, and the
//! output checks they share with the unit tests.

use std::sync::Arc;

use crate::domain::logs::LogLine;
use crate::domain::sanitize::strip_all;
use crate::domain::unicode::layout_safe;

/// A Docker log body (the text after the engine's timestamp) as the
/// follower records it: cut at its bound, sanitised, parsed.
pub fn docker_body_line(body: &[u8], ts_ns: Option<i64>, labels: [&Arc<str>; 3]) -> LogLine {
    crate::docker::runtime::body_line(body, ts_ns, labels)
}

/// `Ok` when `out` can go to a terminal as it is: no C0 control but `\t`,
/// no DEL, no C1, and (only when `keep_sgr`) an ESC only as the start of an
/// `ESC [ digits/semicolons m` whose numbers are in the sanitiser's
/// allow-list. An independent check of what the sanitiser promises.
pub fn check_terminal_safe(out: &str, keep_sgr: bool) -> Result<(), String> {
    for ch in out.chars() {
        let c = ch as u32;
        if c < 0x20 && ch != '\t' && ch != '\x1b' {
            return Err(format!("C0 {c:#x} in {out:?}"));
        }
        if c == 0x7f || (0x80..=0x9f).contains(&c) {
            return Err(format!("control {c:#x} in {out:?}"));
        }
    }
    let b = out.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != 0x1b {
            i += 1;
            continue;
        }
        if !keep_sgr {
            return Err(format!("ESC where none may stay: {out:?}"));
        }
        if b.get(i + 1) != Some(&b'[') {
            return Err(format!("ESC not CSI in {out:?}"));
        }
        let mut k = i + 2;
        while k < b.len() && (b[k].is_ascii_digit() || b[k] == b';') {
            k += 1;
        }
        if b.get(k) != Some(&b'm') {
            return Err(format!("ESC not SGR in {out:?}"));
        }
        check_sgr_params(&out[i + 2..k]).map_err(|e| format!("{e} in {out:?}"))?;
        i = k + 1;
    }
    Ok(())
}

/// The parameters of one SGR, each allowed (colours, bold, underline...).
fn check_sgr_params(params: &str) -> Result<(), String> {
    let mut nums = Vec::new();
    for p in params.split(';') {
        let n = if p.is_empty() {
            Some(0)
        } else {
            p.parse::<u32>().ok()
        };
        nums.push(n.ok_or_else(|| format!("parameter {p:?}"))?);
    }
    let mut j = 0;
    while j < nums.len() {
        match (nums[j], nums.get(j + 1)) {
            (38 | 48, Some(5)) => {
                if nums.get(j + 2).is_none_or(|v| *v > 255) {
                    return Err("bad 256-colour".into());
                }
                j += 3;
            }
            (38 | 48, Some(2)) => {
                let rgb = nums.get(j + 2..j + 5).ok_or("short rgb")?;
                if rgb.iter().any(|v| *v > 255) {
                    return Err("bad rgb".into());
                }
                j += 5;
            }
            (v, _) => {
                if matches!(v, 5 | 6 | 8 | 38 | 48) || v > 107 {
                    return Err(format!("parameter {v}"));
                }
                j += 1;
            }
        }
    }
    Ok(())
}

/// `Ok` when `s` is fit for one cell of a table: terminal-safe without any
/// escape, already layout-safe (no bidi control or separator), trimmed,
/// and at most `max_chars` characters plus a cut mark.
pub fn check_cell_text(s: &str, max_chars: usize) -> Result<(), String> {
    check_terminal_safe(s, false)?;
    if strip_all(s) != s || layout_safe(s) != s {
        return Err(format!("not clean: {s:?}"));
    }
    if s.trim() != s {
        return Err(format!("not trimmed: {s:?}"));
    }
    if s.chars().count() > max_chars + 1 {
        return Err(format!(
            "{} chars, more than {max_chars}",
            s.chars().count()
        ));
    }
    Ok(())
}
