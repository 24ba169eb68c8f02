//! Find where a field is written in the YAML source, for error messages.

use super::check::S;

/// The plain scalar starting at 1-based `line`/`column`, for error messages.
pub(super) fn scalar_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let start = l.char_indices().nth(column.checked_sub(1)?)?.0;
    let rest = &l[start..];
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    let s = rest[..end].trim();
    (!s.is_empty() && s.len() <= 80).then_some(s)
}

/// One meaningful source line: indentation, text, and whether it is a
/// sequence-item marker (`- `) split off its content.
pub(super) struct SrcLine<'a> {
    line: usize,
    indent: usize,
    text: &'a str,
    marker: bool,
}

pub(super) fn src_lines(text: &str) -> Vec<SrcLine<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start_matches(' ');
        let mut indent = raw.len() - trimmed.len();
        let mut t = trimmed.trim_end();
        if t.is_empty() || t.starts_with('#') || t == "---" || t == "..." {
            continue;
        }
        // `- - key: v` is two markers and a mapping line.
        while t == "-" || t.starts_with("- ") {
            out.push(SrcLine {
                line: n + 1,
                indent,
                text: "-",
                marker: true,
            });
            let after = t[1..].trim_start_matches(' ');
            indent += t.len() - after.len();
            t = after;
        }
        if !t.is_empty() {
            out.push(SrcLine {
                line: n + 1,
                indent,
                text: t,
                marker: false,
            });
        }
    }
    out
}

fn is_key_line(text: &str, key: &str) -> bool {
    let unquoted = [text, text.trim_start_matches(['"', '\''])];
    unquoted.iter().any(|t| {
        t.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.trim_start_matches(['"', '\'']);
            rest == ":" || rest.starts_with(": ") || rest.starts_with(":\t")
        })
    })
}

/// Best-effort line of a field in block-style YAML: the deepest segment of
/// `path` that can be found (flow-style parts fall back to their parent).
pub(super) fn locate(text: &str, path: &[S]) -> Option<usize> {
    let lines = src_lines(text);
    let (mut lo, mut hi) = (0, lines.len());
    let mut best = None;
    for seg in path {
        if lo >= hi {
            return best;
        }
        let block_indent = lines[lo].indent;
        let at_level = (lo..hi).filter(|&i| lines[i].indent == block_indent);
        let found = match seg {
            S::K(k) => at_level
                .filter(|&i| !lines[i].marker)
                .find(|&i| is_key_line(lines[i].text, k)),
            S::I(n) => at_level.filter(|&i| lines[i].marker).nth(*n),
        };
        let Some(i) = found else {
            return best;
        };
        best = Some(lines[i].line);
        let li = &lines[i];
        // A key's block may hold `- ` items at the key's own indentation.
        let end = (i + 1..hi)
            .find(|&j| {
                let lj = &lines[j];
                lj.indent < li.indent || (lj.indent == li.indent && (li.marker || !lj.marker))
            })
            .unwrap_or(hi);
        lo = i + 1;
        hi = end;
    }
    best
}
