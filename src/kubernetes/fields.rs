//! Reading an object the cluster sent: every accessor takes a missing field
//! or a value of the wrong type as absent, and every string meant for a
//! view comes out without controls, escapes or bidi overrides, and bounded.

use serde_json::Value;

use crate::domain::sanitize::strip_all;
use crate::domain::unicode::layout_safe;

/// Longest text kept from an object (messages, names, reasons).
pub const MAX_TEXT_CHARS: usize = 512;
/// Longest query or URL kept from an AnalysisRun.
pub const MAX_QUERY_CHARS: usize = 2048;
/// Appended where a text was cut.
pub const CUT_MARK: char = '…';

/// The value at `path` below `v`, when every step is an object key.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

/// The string at `path`, unchanged: only for comparing, never for showing.
pub fn raw<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// The string at `path`, cleaned and bounded; `None` when absent or empty.
pub fn text(v: &Value, path: &[&str]) -> Option<String> {
    text_max(v, path, MAX_TEXT_CHARS)
}

/// Like [`text`] with a bound of its own.
pub fn text_max(v: &Value, path: &[&str], max: usize) -> Option<String> {
    raw(v, path)
        .map(|s| clean_max(s, max))
        .filter(|s| !s.is_empty())
}

/// A hostile string made fit for a terminal cell grid, at most
/// [`MAX_TEXT_CHARS`] characters (plus the cut mark).
pub fn clean(s: &str) -> String {
    clean_max(s, MAX_TEXT_CHARS)
}

/// [`clean`] with a bound of its own; outer whitespace is trimmed.
pub fn clean_max(s: &str, max: usize) -> String {
    let stripped = strip_all(s);
    let safe = layout_safe(&stripped);
    let trimmed = safe.trim();
    match trimmed.char_indices().nth(max) {
        Some((i, _)) => {
            let mut out = trimmed[..i].to_owned();
            out.push(CUT_MARK);
            out
        }
        None => trimmed.to_owned(),
    }
}

/// A non-negative integer at `path` (JSON numbers only).
pub fn uint(v: &Value, path: &[&str]) -> Option<u64> {
    at(v, path).and_then(Value::as_u64)
}

/// [`uint`] narrowed to `u32` (larger counts are taken as garbage).
pub fn count(v: &Value, path: &[&str]) -> Option<u32> {
    uint(v, path).and_then(|n| u32::try_from(n).ok())
}

/// `true` only when the value at `path` is the JSON boolean `true`.
pub fn flag(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A field that Kubernetes types as int-or-string (e.g. `failureLimit`,
/// which may hold `"{{args.limit}}"`), rendered as text.
pub fn int_or_string(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(clean(s)).filter(|s| !s.is_empty()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_read_as_absent() {
        let v = json!({"a": {"n": "5", "s": 7, "b": "true", "l": {}}});
        assert_eq!(uint(&v, &["a", "n"]), None);
        assert_eq!(text(&v, &["a", "s"]), None);
        assert!(!flag(&v, &["a", "b"]));
        assert!(list(&v, &["a", "l"]).is_empty());
        assert_eq!(at(&v, &["a", "n", "deeper"]), None);
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        let s = "x".repeat(MAX_TEXT_CHARS + 10);
        let c = clean(&s);
        assert_eq!(c.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(c.ends_with(CUT_MARK));
        assert_eq!(clean("  short \n"), "short");
    }
}
