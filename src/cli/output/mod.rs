//! Pure formatting for CLI output: tables, log lines, progress lines and
//! JSON documents. Every string that came from the runtime is sanitised here
//! before it can reach a terminal. Tables, JSON and the error report live in
//! [`crate::report`] so adapters can share them without importing `cli/`.

mod ephemeral;
mod experiments;
mod fmea;
mod logs;
mod rollout;
mod status;

pub use crate::report::{json_document, json_line, report_error, Table};
pub use ephemeral::ephemeral_table;
pub use experiments::{experiment_progress_line, experiment_table};
pub use fmea::{catalogue_table, fmea_table, RuntimeSupport};
pub use logs::{clean, format_log_line, LogStyle};
pub use rollout::{accepted_line, outcome_lines, verdict_line, verdict_lines, ProgressTracker};
pub use status::status_table;
