//! Crash reports: when any thread panics, the terminal is restored (see
//! `install_panic_hook`) and a report with the backtrace goes to the state
//! directory, with secrets redacted, so a crash over SSH leaves something to
//! read. The console loop also stops: a task that panicked may have left its
//! part of the screen or of the state behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::domain::redact::redact;
use crate::domain::sanitize_lines::strip_lines;

static CRASH_DIR: OnceLock<PathBuf> = OnceLock::new();
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Where crash reports go (the state directory), once it is known.
pub fn set_crash_dir(dir: &Path) {
    let _ = CRASH_DIR.set(dir.to_path_buf());
}

/// Whether any thread of this process has panicked.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::SeqCst)
}

/// Record the panic and write its report; returns the report's path.
pub(super) fn on_panic(info: &std::panic::PanicHookInfo<'_>) -> Option<PathBuf> {
    PANICKED.store(true, Ordering::SeqCst);
    let dir = CRASH_DIR.get()?;
    let report = report_text(
        info,
        &std::backtrace::Backtrace::force_capture().to_string(),
    );
    write_report(dir, &report).ok()
}

/// The panic's message, where and on which thread.
fn parts(info: &std::panic::PanicHookInfo<'_>) -> (String, String, String) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "(unknown)".into());
    let thread = std::thread::current()
        .name()
        .unwrap_or("(unnamed)")
        .to_string();
    (message, location, thread)
}

/// What goes to stderr (the terminal, or `daemon.log` for a daemon) in
/// place of the default panic message: the same facts, redacted and
/// without escape sequences. The backtrace is in the report.
pub(super) fn stderr_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let (message, location, thread) = parts(info);
    strip_lines(&redact(&format!(
        "thread '{thread}' panicked at {location}:\n{message}\n"
    )))
}

fn report_text(info: &std::panic::PanicHookInfo<'_>, backtrace: &str) -> String {
    let (message, location, thread) = parts(info);
    let text = format!(
        "blissful-infra {} crashed\ntime: {}\npid: {}\nthread: {thread}\nat: {location}\nmessage: {message}\n\nbacktrace:\n{backtrace}\n",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().to_rfc3339(),
        std::process::id(),
    );
    // A panic message can quote a log line or a config value.
    strip_lines(&redact(&text))
}

/// Write `report` as `crash-<time>-<pid>.txt` (0600), whole or not at all.
fn write_report(dir: &Path, report: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!(
        "crash-{}-{}.txt",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let path = dir.join(name);
    crate::durable::replace(&path, report.as_bytes()).map_err(|e| e.source)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_written_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_report(dir.path(), "blissful-infra crashed\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "blissful-infra crashed\n"
        );
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("crash-") && names[0].ends_with(".txt"));
    }
}
