//! A command's own error, on stderr and (in JSON mode) as a document on stdout.

use serde::Serialize;

use super::{json_document, OutputMode};
use crate::domain::sanitize::strip_lines;

#[derive(Serialize)]
struct KindErrorDoc<'a> {
    error: KindError<'a>,
}

#[derive(Serialize)]
struct KindError<'a> {
    kind: &'a str,
    message: &'a str,
}

/// Report a command's own error: `error: …` on stderr and, in JSON mode,
/// `{"error":{"kind":…,"message":…}}` on stdout. Returns `code`. The message
/// often quotes a file or an argument, so it is stripped of escapes first.
pub fn report_error(
    kind: &str,
    message: &str,
    code: i32,
    mode: OutputMode,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let message = strip_lines(message);
    let _ = writeln!(err, "error: {message}");
    if mode == OutputMode::Json {
        let doc = KindErrorDoc {
            error: KindError {
                kind,
                message: &message,
            },
        };
        if let Ok(s) = json_document(&doc) {
            let _ = out.write_all(s.as_bytes());
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_message_reaches_neither_stream_raw() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = report_error(
            "usage",
            "unknown scenario `x\x1b]0;T\x07`\nsecond\u{9b}2J line",
            64,
            OutputMode::Json,
            &mut out,
            &mut err,
        );
        assert_eq!(code, 64);
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        assert_eq!(err, "error: unknown scenario `x`\nsecond line\n");
        for s in [&out, &err] {
            assert!(!s.contains('\x1b') && !s.contains('\x07') && !s.contains('\u{9b}'));
            assert!(!s.contains("\\u001b") && !s.contains("\\u0007"), "{s}");
        }
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["error"]["message"], "unknown scenario `x`\nsecond line");
    }
}
