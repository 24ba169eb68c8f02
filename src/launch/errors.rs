//! How a failed command reports itself on stderr. Error text often quotes a
//! config value, an argument or a daemon's log, so it is sanitised here, at
//! the point of printing. Colour only on a terminal without `NO_COLOR`; the
//! source location and backtrace only with `RUST_BACKTRACE`.

use std::fmt::Display;
use std::io::IsTerminal;

use crate::domain::sanitize::{sanitize_str, strip_lines};

/// Whether stderr may carry colour.
pub(super) fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Whether the user asked for backtraces (and so for source locations).
fn backtrace_wanted() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Install color-eyre's hooks with the rules above.
pub(super) fn install_error_hook() {
    let detail = backtrace_wanted();
    let theme = if stderr_color() {
        color_eyre::config::Theme::dark()
    } else {
        color_eyre::config::Theme::new()
    };
    let installed = color_eyre::config::HookBuilder::default()
        .theme(theme)
        .display_location_section(detail)
        .display_env_section(detail)
        .install();
    if let Err(e) = installed {
        eprintln!(
            "warning: could not install error reporter: {}",
            strip_lines(&e.to_string())
        );
    }
}

/// `error: <message>` with every escape sequence removed.
pub(super) fn print_error(message: impl Display) {
    eprintln!("{}", error_text(&message.to_string()));
}

fn error_text(message: &str) -> String {
    format!("error: {}", strip_lines(message))
}

/// The top-level error of a command: its chain of causes, plainly, or
/// color-eyre's full report when backtraces are wanted.
pub(super) fn print_report(e: &color_eyre::Report) {
    if backtrace_wanted() {
        let full = format!("{e:?}");
        let clean = if stderr_color() {
            full.split('\n')
                .map(sanitize_str)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            strip_lines(&full)
        };
        eprintln!("Error: {clean}");
        return;
    }
    eprintln!("{}", report_text(e));
}

fn report_text(e: &color_eyre::Report) -> String {
    let mut out = error_text(&e.to_string());
    for cause in e.chain().skip(1) {
        out.push_str("\n  caused by: ");
        out.push_str(&strip_lines(&cause.to_string()));
    }
    out
}

/// The last `max_lines` lines of a log, sanitised (a daemon's log may
/// quote hostile config values or service output).
pub(super) fn log_tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    strip_lines(&lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::{eyre, WrapErr};

    fn assert_clean(s: &str) {
        for bad in ['\x1b', '\x07', '\u{9b}', '\u{9d}'] {
            assert!(!s.contains(bad), "{s:?}");
        }
    }

    #[test]
    fn report_lists_causes_without_escapes_or_locations() {
        let inner: color_eyre::Result<()> =
            Err(eyre!("initial_version `v1\x1b]52;c;aGk=\x07` refused"));
        let e = inner
            .wrap_err("starting the sandbox\x1b]0;T\x07")
            .unwrap_err();
        let text = report_text(&e);
        assert_clean(&text);
        assert_eq!(
            text,
            "error: starting the sandbox\n  caused by: initial_version `v1` refused"
        );
        assert!(!text.contains("Location") && !text.contains("src/"));
    }

    #[test]
    fn error_text_and_log_tail_are_sanitised() {
        assert_eq!(
            error_text("unknown scenario `x\x1b]0;T\x07`"),
            "error: unknown scenario `x`"
        );
        let log = "one\ntwo \x1b[2J\u{9b}31m\x07\nthree\x1b]52;c;aGk=\x07\n";
        let tail = log_tail(log, 2);
        assert_clean(&tail);
        assert_eq!(tail, "two \nthree");
    }
}
