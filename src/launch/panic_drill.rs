//! `BLISSFUL_INFRA_PANIC_DRILL=render|task`: the console panics on purpose
//! once it is up, in a render function or in a background task. It drills
//! the crash path a user should never see but must survive: the terminal
//! restored, a crash report in the state directory, a daemon unharmed.
//! `BLISSFUL_INFRA_PANIC_DRILL_NOTE` is quoted in the panic message, as a
//! real panic may quote a log line or a config value: the drill then shows
//! that no secret in it reaches the report or the terminal.

use std::sync::OnceLock;

pub const PANIC_DRILL_VAR: &str = "BLISSFUL_INFRA_PANIC_DRILL";
pub const PANIC_DRILL_NOTE_VAR: &str = "BLISSFUL_INFRA_PANIC_DRILL_NOTE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PanicDrill {
    Render,
    Task,
}

/// The drill asked for, read once.
pub(super) fn drill() -> Option<PanicDrill> {
    static DRILL: OnceLock<Option<PanicDrill>> = OnceLock::new();
    *DRILL.get_or_init(|| match std::env::var(PANIC_DRILL_VAR).as_deref() {
        Ok("render") => Some(PanicDrill::Render),
        Ok("task") => Some(PanicDrill::Task),
        _ => None,
    })
}

/// Panic now: the drill's whole point.
#[allow(clippy::panic)]
pub(super) fn fire(what: &str) -> ! {
    match std::env::var(PANIC_DRILL_NOTE_VAR) {
        Ok(note) => panic!("panic drill ({PANIC_DRILL_VAR}): {what}: {note}"),
        Err(_) => panic!("panic drill ({PANIC_DRILL_VAR}): {what}"),
    }
}
