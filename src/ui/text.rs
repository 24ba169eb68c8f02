//! Text helpers shared by the panes: display widths, truncation with `…`,
//! wrapping, human durations, and SGR colour codes turned into styles.
//! Untrusted text passes through [`layout_safe`] on its way to a cell, so
//! ratatui and the terminal agree on every width (no stale cells).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::borrow::Cow;

pub use crate::domain::unicode::layout_safe;

pub const ELLIPSIS: char = '…';

/// A character with its style: the unit that truncation and wrapping work on.
pub type StyledChar = (char, Style);

/// Display width of a string in terminal columns.
pub fn str_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Display width of one character (0 for control characters).
pub fn char_width(c: char) -> usize {
    if c.is_control() {
        return 0;
    }
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Remove escape sequences whole and drop control characters (tabs become a
/// space) from untrusted text that is not meant to carry SGR codes, and make
/// it [`layout_safe`]: `stag\x1b]0;HACKED\x07ing` shows as `staging`.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return layout_safe(s);
    }
    let kept: String = crate::domain::sanitize::strip_all(s)
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    Cow::Owned(layout_safe(&kept).into_owned())
}

/// Cut `s` to at most `max` columns, ending with `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if str_width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw > max - 1 {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

/// Truncate and pad with spaces to exactly `width` columns (left-aligned).
pub fn fit(s: &str, width: usize) -> String {
    let t = truncate(s, width);
    let pad = width.saturating_sub(str_width(&t));
    let mut out = t.into_owned();
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// Truncate and pad with spaces to exactly `width` columns (right-aligned).
pub fn fit_right(s: &str, width: usize) -> String {
    let t = truncate(s, width);
    let pad = width.saturating_sub(str_width(&t));
    let mut out: String = std::iter::repeat_n(' ', pad).collect();
    out.push_str(&t);
    out
}

/// Flatten spans into styled characters (control characters are dropped,
/// the rest made [`layout_safe`]).
pub fn spans_to_chars(spans: &[Span<'_>]) -> Vec<StyledChar> {
    let mut out = Vec::new();
    for s in spans {
        for c in layout_safe(&s.content).chars() {
            match c {
                '\t' => out.push((' ', s.style)),
                '\n' => out.push(('\n', s.style)),
                c if c.is_control() => {}
                c => out.push((c, s.style)),
            }
        }
    }
    out
}

/// Group styled characters back into spans of equal style.
pub fn chars_to_spans(chars: &[StyledChar]) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut cur = String::new();
    let mut cur_style: Option<Style> = None;
    for &(c, st) in chars {
        if c == '\n' {
            continue;
        }
        if cur_style != Some(st) {
            if let Some(s) = cur_style {
                if !cur.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut cur), s));
                }
            }
            cur_style = Some(st);
        }
        cur.push(c);
    }
    if let Some(s) = cur_style {
        if !cur.is_empty() {
            spans.push(Span::styled(cur, s));
        }
    }
    spans
}

/// Truncate styled characters to `max` columns, ending with `…` (in the
/// style of the last kept character) when something was cut.
pub fn truncate_chars(chars: &[StyledChar], max: usize) -> Vec<StyledChar> {
    let total: usize = chars.iter().map(|(c, _)| char_width(*c)).sum();
    if total <= max {
        return chars.to_vec();
    }
    if max == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut w = 0;
    for &(c, st) in chars {
        let cw = char_width(c);
        if w + cw > max - 1 {
            break;
        }
        w += cw;
        out.push((c, st));
    }
    let style = out
        .last()
        .map(|(_, s)| *s)
        .or(chars.first().map(|(_, s)| *s));
    out.push((ELLIPSIS, style.unwrap_or_default()));
    out
}

/// Truncate a line made of spans to `max` columns with `…`.
pub fn truncate_line(line: Line<'_>, max: usize) -> Line<'static> {
    let style = line.style;
    let chars = spans_to_chars(&line.spans);
    let mut l = Line::from(chars_to_spans(&truncate_chars(&chars, max)));
    l.style = style;
    l
}

/// Break styled characters into rows: the first row is `first` columns wide,
/// later rows `next` wide. With `words`, rows break after a space when one
/// is available; a `\n` always breaks. Never returns an empty vector.
pub fn wrap_chars(
    chars: &[StyledChar],
    first: usize,
    next: usize,
    words: bool,
) -> Vec<Vec<StyledChar>> {
    let mut rows: Vec<Vec<StyledChar>> = vec![Vec::new()];
    let mut width = 0usize;
    let limit = |rows: &Vec<Vec<StyledChar>>| if rows.len() == 1 { first } else { next }.max(1);
    for &(c, st) in chars {
        if c == '\n' {
            rows.push(Vec::new());
            width = 0;
            continue;
        }
        let cw = char_width(c);
        if width + cw > limit(&rows) && width > 0 {
            let row_len = rows.last().map_or(0, Vec::len);
            let mut carry = Vec::new();
            if words && c != ' ' {
                if let Some(row) = rows.last_mut() {
                    // Move the unfinished word to the next row if the row has a space.
                    if let Some(sp) = row.iter().rposition(|(ch, _)| *ch == ' ') {
                        if sp + 1 < row_len {
                            carry = row.split_off(sp + 1);
                        }
                    }
                }
            }
            rows.push(carry);
            width = rows
                .last()
                .map_or(0, |r| r.iter().map(|(ch, _)| char_width(*ch)).sum());
            if c == ' ' && words {
                // A space at a row break is swallowed.
                continue;
            }
        }
        if let Some(row) = rows.last_mut() {
            row.push((c, st));
        }
        width += cw;
    }
    rows
}

/// `12,345`
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How long ago something happened, from an elapsed time in ms: `12s ago`.
pub fn format_ago(ms: i64) -> String {
    if ms < 1_000 {
        return "just now".to_string();
    }
    let s = ms / 1_000;
    if s < 60 {
        format!("{s}s ago")
    } else if s < 3_600 {
        format!("{}m ago", s / 60)
    } else if s < 86_400 {
        format!("{}h ago", s / 3_600)
    } else {
        format!("{}d ago", s / 86_400)
    }
}

/// A duration in ms, compact: `350ms`, `4.2s`, `42s`, `3m05s`, `1h02m`.
pub fn format_duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{}.{}s", ms / 1_000, (ms % 1_000) / 100)
    } else if ms < 60_000 {
        format!("{}s", ms / 1_000)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1_000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

fn basic_color(n: u16) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        _ => Color::Gray,
    }
}

fn bright_color(n: u16) -> Color {
    match n {
        0 => Color::DarkGray,
        1 => Color::LightRed,
        2 => Color::LightGreen,
        3 => Color::LightYellow,
        4 => Color::LightBlue,
        5 => Color::LightMagenta,
        6 => Color::LightCyan,
        _ => Color::White,
    }
}

/// Parse an extended colour (`5;n` or `2;r;g;b`) starting at `params[i]`;
/// returns the colour and how many parameters it used.
fn extended_color(params: &[Option<u16>]) -> (Option<Color>, usize) {
    let byte = |i: usize| {
        params
            .get(i)
            .copied()
            .flatten()
            .and_then(|v| u8::try_from(v).ok())
    };
    match params.first().copied().flatten() {
        Some(5) => (byte(1).map(Color::Indexed), 2),
        Some(2) => match (byte(1), byte(2), byte(3)) {
            (Some(r), Some(g), Some(b)) => (Some(Color::Rgb(r, g, b)), 4),
            _ => (None, 4),
        },
        _ => (None, 1),
    }
}

fn apply_sgr(style: &mut Style, base: Style, params: &[Option<u16>]) {
    if params.is_empty() {
        *style = base;
        return;
    }
    let mut i = 0;
    while i < params.len() {
        let Some(p) = params[i] else {
            // An empty parameter means 0 (reset), e.g. `ESC[;1m`.
            *style = base;
            i += 1;
            continue;
        };
        match p {
            0 => *style = base,
            1 => *style = style.add_modifier(Modifier::BOLD),
            2 => *style = style.add_modifier(Modifier::DIM),
            3 => *style = style.add_modifier(Modifier::ITALIC),
            4 => *style = style.add_modifier(Modifier::UNDERLINED),
            22 => *style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => *style = style.remove_modifier(Modifier::ITALIC),
            24 => *style = style.remove_modifier(Modifier::UNDERLINED),
            30..=37 => style.fg = Some(basic_color(p - 30)),
            39 => style.fg = base.fg,
            40..=47 => style.bg = Some(basic_color(p - 40)),
            49 => style.bg = base.bg,
            90..=97 => style.fg = Some(bright_color(p - 90)),
            100..=107 => style.bg = Some(bright_color(p - 100)),
            38 | 48 => {
                let (c, used) = extended_color(&params[i + 1..]);
                if let Some(c) = c {
                    if p == 38 {
                        style.fg = Some(c);
                    } else {
                        style.bg = Some(c);
                    }
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Turn text carrying SGR sequences (`ESC [ … m`) into styled spans on top
/// of `base`. No escape byte reaches the output: other escape sequences and
/// control characters are dropped, tabs become a space.
pub fn sgr_to_spans(text: &str, base: Style) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut style = base;
    let mut cur = String::new();
    let text = layout_safe(text);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut raw = String::new();
                let mut fin = None;
                for n in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&n) {
                        fin = Some(n);
                        break;
                    }
                    if raw.len() < 64 {
                        raw.push(n);
                    }
                }
                if fin == Some('m') {
                    let params: Vec<Option<u16>> = if raw.is_empty() {
                        Vec::new()
                    } else {
                        raw.split(';').map(|p| p.parse::<u16>().ok()).collect()
                    };
                    let mut next = style;
                    apply_sgr(&mut next, base, &params);
                    if next != style && !cur.is_empty() {
                        spans.push(Span::styled(std::mem::take(&mut cur), style));
                    }
                    style = next;
                }
            }
            '\t' => cur.push(' '),
            c if c.is_control() => {}
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        spans.push(Span::styled(cur, style));
    }
    spans
}

/// The text of spans without styles.
pub fn plain(spans: &[Span<'_>]) -> String {
    spans.iter().map(|s| s.content.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_and_fit() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 5), "hell…");
        assert_eq!(truncate("hello", 0), "");
        assert_eq!(truncate("hello", 1), "…");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit_right("7", 3), "  7");
        // Wide characters count as two columns.
        assert_eq!(str_width("日本"), 4);
        assert_eq!(truncate("日本語", 5), "日本…");
    }

    #[test]
    fn durations_and_ago() {
        assert_eq!(format_ago(-5), "just now");
        assert_eq!(format_ago(999), "just now");
        assert_eq!(format_ago(12_400), "12s ago");
        assert_eq!(format_ago(125_000), "2m ago");
        assert_eq!(format_ago(3 * 3_600_000 + 5), "3h ago");
        assert_eq!(format_ago(2 * 86_400_000), "2d ago");
        assert_eq!(format_duration_ms(-1), "0ms");
        assert_eq!(format_duration_ms(350), "350ms");
        assert_eq!(format_duration_ms(4_250), "4.2s");
        assert_eq!(format_duration_ms(42_000), "42s");
        assert_eq!(format_duration_ms(185_000), "3m05s");
        assert_eq!(format_duration_ms(3_720_000), "1h02m");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(12_345), "12,345");
        assert_eq!(format_count(1_234_567), "1,234,567");
    }

    #[test]
    fn sgr_colours_become_styles() {
        let base = Style::new().fg(Color::White);
        let spans = sgr_to_spans("a\x1b[31mred\x1b[1;4mbold\x1b[0m plain", base);
        assert_eq!(plain(&spans), "aredbold plain");
        assert_eq!(spans[0].style, base);
        assert_eq!(spans[1].style.fg, Some(Color::Red));
        assert!(spans[2]
            .style
            .add_modifier
            .contains(Modifier::BOLD | Modifier::UNDERLINED));
        assert_eq!(spans[2].style.fg, Some(Color::Red));
        assert_eq!(spans[3].style, base);
    }

    #[test]
    fn sgr_extended_and_resets() {
        let base = Style::new();
        let spans = sgr_to_spans(
            "\x1b[38;5;208mx\x1b[48;2;1;2;3my\x1b[39;49mz\x1b[92;101mw\x1b[22mv",
            base,
        );
        assert_eq!(spans[0].style.fg, Some(Color::Indexed(208)));
        assert_eq!(spans[1].style.bg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!((spans[2].style.fg, spans[2].style.bg), (None, None));
        assert_eq!(spans[3].style.fg, Some(Color::LightGreen));
        assert_eq!(spans[3].style.bg, Some(Color::LightRed));
        assert_eq!(plain(&spans), "xyzwv");
    }

    #[test]
    fn no_escape_byte_survives() {
        let hostile = "x\x1b]0;title\x07y\x1b[2Jz\x1b\x1b[H\u{9b}31m\r\n\x1b[";
        let spans = sgr_to_spans(hostile, Style::new());
        let text = plain(&spans);
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.starts_with('x') && text.contains('z'), "{text:?}");
        // `ESC c` is a terminal reset: removed whole, like every sequence.
        assert_eq!(clean("a\tb\x1bc\n"), "a b");
        assert_eq!(clean("stag\x1b]0;HACKED\x07ing\x1b[2J\u{9b}31m"), "staging");
    }

    #[test]
    fn untrusted_text_is_made_layout_safe() {
        assert_eq!(clean("a\u{202e}b\u{2028}c"), "a\u{fffd}b␤c");
        assert_eq!(clean("x\t\u{1f1fa}\u{1f1f8}"), "x [US]");
        let spans = sgr_to_spans("\x1b[31mrlo\u{202e}\u{2764}\u{fe0f}", Style::new());
        assert_eq!(plain(&spans), "rlo\u{fffd}\u{2764}");
        let chars = spans_to_chars(&[Span::raw("\u{1f468}\u{200d}\u{1f469}\u{2029}")]);
        let text: String = chars.iter().map(|(c, _)| *c).collect();
        assert_eq!(text, "\u{1f468}\u{1f469}¶");
        // Each character's width is what a terminal adds up.
        assert_eq!(chars.iter().map(|(c, _)| char_width(*c)).sum::<usize>(), 5);
    }

    #[test]
    fn wrapping_rows() {
        let chars: Vec<StyledChar> = "hello brave new world"
            .chars()
            .map(|c| (c, Style::new()))
            .collect();
        let rows = wrap_chars(&chars, 8, 8, true);
        let text: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|(c, _)| *c).collect())
            .collect();
        assert_eq!(text, vec!["hello ", "brave ", "new ", "world"]);
        let rows = wrap_chars(&chars, 10, 6, false);
        let text: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|(c, _)| *c).collect())
            .collect();
        assert_eq!(text, vec!["hello brav", "e new ", "world"]);
        let nl: Vec<StyledChar> = "a\nb".chars().map(|c| (c, Style::new())).collect();
        assert_eq!(wrap_chars(&nl, 5, 5, true).len(), 2);
        assert_eq!(wrap_chars(&[], 5, 5, true).len(), 1);
    }

    #[test]
    fn truncating_styled_lines() {
        let line = Line::from(vec![
            Span::raw("abc"),
            Span::styled("defgh", Style::new().fg(Color::Red)),
        ]);
        let t = truncate_line(line, 6);
        assert_eq!(plain(&t.spans), "abcde…");
        assert_eq!(t.spans.last().map(|s| s.style.fg), Some(Some(Color::Red)));
    }
}
