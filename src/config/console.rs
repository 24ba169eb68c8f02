//! `console:`: the terminal console's buffers, redraw rates and what it does
//! when its terminal goes away.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampMode {
    Local,
    Utc,
}

/// What a console attached to a running daemon (`up`) does when its
/// terminal goes away (SIGHUP, an SSH connection dropping, the pty closed).
/// A console that embeds the runtime always stops it, undoing its faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDisconnect {
    /// Rollouts and faults go on in the daemon, to their planned end.
    #[default]
    Keep,
    /// Undo the faults this console started; rollouts go on.
    UndoFaults,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Lines kept in the log buffer; older lines are dropped and counted.
    pub log_buffer_lines: usize,
    pub timestamps: TimestampMode,
    /// Upper bound on redraws per second while data streams.
    pub max_fps: u32,
    /// Redraws per second for data-only changes once no key was pressed for
    /// a few seconds; keeps an idle console cheap over SSH.
    pub idle_fps: u32,
    /// Points kept per metric series.
    pub metric_points: usize,
    /// `keep` or `undo_faults`: see [`OnDisconnect`].
    pub on_disconnect: OnDisconnect,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            log_buffer_lines: 50_000,
            timestamps: TimestampMode::Local,
            max_fps: 20,
            idle_fps: 1,
            metric_points: 300,
            on_disconnect: OnDisconnect::Keep,
        }
    }
}
