//! Process exit codes.

pub const OK: i32 = 0;
/// Analysis failed and the change was rolled back, or the action failed.
pub const FAILED: i32 = 1;
/// The action was refused: read-only mode, unknown environment, not allowed.
pub const REFUSED: i32 = 2;
/// No sandbox is running (or it stopped while we waited).
pub const UNAVAILABLE: i32 = 3;
/// Bad command-line usage.
pub const USAGE: i32 = 64;
/// Stopped waiting on Ctrl-C (the action goes on in the sandbox).
pub const INTERRUPTED: i32 = 130;
