//! JSON documents that are safe to print: every string (keys too) is
//! stripped of escape sequences and control characters before it is
//! serialised, so neither the raw document nor `jq -r` can carry an ESC,
//! BEL or C1 control to a terminal.

use serde::Serialize;
use serde_json::Value;

use crate::domain::sanitize::strip_lines;

/// One pretty-printed JSON document, newline-terminated.
pub fn json_document<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let clean = clean_value(serde_json::to_value(value)?);
    let mut s = escape_for_terminal(serde_json::to_string_pretty(&clean)?);
    s.push('\n');
    Ok(s)
}

/// One compact JSON object on one line (for streams).
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let clean = clean_value(serde_json::to_value(value)?);
    let mut s = escape_for_terminal(serde_json::to_string(&clean)?);
    s.push('\n');
    Ok(s)
}

/// Strip escapes and controls from every string in `value`, keeping line
/// breaks (they are encoded as `\n` and harmless when `jq -r` prints them).
pub fn clean_value(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(strip_lines(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(clean_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (strip_lines(&k), clean_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Escape characters that are legal in JSON strings but misleading on a
/// terminal (bidi overrides, line separators) and any control the sanitiser
/// left. They can only occur inside strings, where `\uXXXX` means the same.
fn escape_for_terminal(json: String) -> String {
    let unsafe_char = |c: char| matches!(c, '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !json.chars().any(unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_values_and_keys_lose_escapes_and_stay_valid() {
        let hostile = serde_json::json!({
            "name": "prod\x1b[2J",
            "version": "v1\x1b]52;c;aGVsbG8=\x07\x1b]0;T\x07",
            "k\x07ey": ["a\x1b[31mb", "c\u{9b}2Jd", "multi\nline\x07"],
            "n": 3,
        });
        for doc in [
            json_document(&hostile).unwrap(),
            json_line(&hostile).unwrap(),
        ] {
            for bad in ['\x1b', '\x07', '\u{9b}'] {
                assert!(!doc.contains(bad), "{doc:?}");
            }
            for bad in ["\\u001b", "\\u0007", "\\u009b"] {
                assert!(!doc.contains(bad), "{doc}");
            }
            let back: Value = serde_json::from_str(&doc).unwrap();
            assert_eq!(back["name"], "prod");
            assert_eq!(back["version"], "v1");
            assert_eq!(back["key"][0], "ab");
            assert_eq!(back["key"][1], "cd");
            assert_eq!(back["key"][2], "multi\nline");
            assert_eq!(back["n"], 3);
        }
        assert_eq!(json_line(&hostile).unwrap().matches('\n').count(), 1);
    }

    #[test]
    fn bidi_and_separators_are_escaped_not_raw() {
        let doc = json_document(&vec!["e\u{202e}f", "g\u{2028}h"]).unwrap();
        assert!(!doc.contains('\u{202e}') && !doc.contains('\u{2028}'));
        assert!(doc.contains("\\u202e") && doc.contains("\\u2028"), "{doc}");
        let back: Vec<String> = serde_json::from_str(&doc).unwrap();
        assert_eq!(back, vec!["e\u{202e}f", "g\u{2028}h"]);
    }
}
