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
