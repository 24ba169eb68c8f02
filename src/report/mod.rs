//! What every command runner shares, whichever layer it lives in: process
//! exit codes, the output mode, aligned tables, safe JSON documents and the
//! error report. Adapters (`docker/`, `compare/`, `scaffold/`, `perf/`) and
//! `cli/` both use it, so no adapter has to import `cli/`.

pub mod error;
pub mod exit;
pub mod json;
pub mod table;

pub use error::report_error;
pub use json::{json_document, json_line};
pub use table::Table;

/// How a command prints its result: an aligned table or one JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    Table,
    Json,
}
