//! Checks the fuzz targets share: what any text that reaches the terminal
//! must look like. A violated invariant panics, which libFuzzer reports as
//! a crash with the input that caused it.

use std::fmt::Display;

use blissful_infra::domain::logs::LogLine;
use blissful_infra::domain::sanitize::sanitize_str;
use blissful_infra::fuzzing::{check_cell_text, check_terminal_safe};

/// Panics with `what` and the reason when `check` failed.
pub fn require(what: &str, check: Result<(), String>) {
    if let Err(e) = check {
        panic!("{what}: {e}");
    }
}

/// Text that may keep allow-listed colours, and nothing else: safe for the
/// terminal, and a fixed point of the sanitiser.
pub fn require_coloured_text(what: &str, text: &str) {
    require(what, check_terminal_safe(text, true));
    assert_eq!(
        sanitize_str(text),
        text,
        "{what}: sanitising again changed it"
    );
}

/// Text with no escape at all (labels, names, error messages).
pub fn require_plain_text(what: &str, text: &str) {
    require(what, check_terminal_safe(text, false));
}

/// An error's message as the console prints it: plain text.
pub fn require_plain_error(what: &str, e: &impl Display) {
    require_plain_text(what, &e.to_string());
}

/// A table cell: plain, layout-safe, trimmed, at most `max` characters.
pub fn require_cell(what: &str, text: &str, max: usize) {
    require(what, check_cell_text(text, max));
}

/// A log line as the Logs pane gets it: its text may keep colours, its
/// labels and its JSON view may not, and the view's key ranges lie on
/// character boundaries inside the view.
pub fn require_log_line(line: &LogLine) {
    require_coloured_text("log text", &line.text);
    require_plain_text("env", &line.env);
    require_plain_text("version", &line.version);
    require_plain_text("instance", &line.instance);
    if let Some(view) = line.json() {
        require_plain_text("json view", &view.shown);
        for &(start, end) in &view.keys {
            let (start, end) = (start as usize, end as usize);
            assert!(
                start <= end && view.shown.get(start..end).is_some(),
                "key range {start}..{end} outside {:?}",
                view.shown
            );
        }
    }
}
