//! Sanitising text of several lines: an error, a log tail, a JSON value.

use super::sanitize::{needs_sanitizing, strip_all};

/// [`strip_all`] for text of several lines: each line is stripped on its own
/// and the `\n` between them kept. An escape sequence cannot span lines, so
/// a stray line break never hides the rest of a sequence from the sanitiser.
pub fn strip_lines(input: &str) -> String {
    if !needs_sanitizing(input) {
        return input.to_owned();
    }
    input
        .split('\n')
        .map(strip_all)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_lines_keeps_line_breaks_and_drops_every_escape() {
        assert_eq!(strip_lines("plain\ntext"), "plain\ntext");
        assert_eq!(
            strip_lines("v1\x1b]52;c;aGk=\x07\x1b]0;T\x07\r\nnext \x1b[31mred\x1b[0m\u{9b}2J\x07"),
            "v1\nnext red"
        );
        // An unterminated OSC swallows only the rest of its own line.
        assert_eq!(strip_lines("a\x1b]0;title\nb"), "a\nb");
    }
}
