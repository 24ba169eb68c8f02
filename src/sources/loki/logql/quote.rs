//! Values and label names as LogQL needs them: quoted strings, checked names.

use super::LogQlError;
use crate::domain::sanitize::strip_all;

/// `s` as a double-quoted LogQL string (Go syntax): backslash, quote and
/// every control character are escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A valid LogQL label name.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn label_name(s: &str) -> Result<&str, LogQlError> {
    if is_label_name(s) {
        Ok(s)
    } else {
        Err(LogQlError::LabelName(strip_all(s)))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Undo [`quote`] the way Go's `strconv.Unquote` reads the escapes it uses.
    pub(in crate::sources::loki::logql) fn unquote(s: &str) -> String {
        let body = s.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
        let mut out = String::new();
        let mut it = body.chars();
        while let Some(c) = it.next() {
            assert_ne!(c, '"', "unescaped quote in {s:?}");
            assert!(!c.is_control(), "raw control {c:?} in {s:?}");
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next().unwrap() {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = it.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => panic!("unexpected escape \\{other} in {s:?}"),
            }
        }
        out
    }

    #[test]
    fn quote_escapes_every_control() {
        for s in [
            "plain",
            "",
            "\\",
            "\"",
            "\u{0}\u{7}\u{1b}\u{7f}\u{85}\u{9b}",
            "é✓🚀",
        ] {
            let q = quote(s);
            assert_eq!(unquote(&q), s, "{q}");
        }
        assert_eq!(quote("a\u{1b}b"), r#""a\u001bb""#);
    }
}
