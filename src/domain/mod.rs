//! Pure domain types and rules: no IO, no tokio, no ratatui.

pub mod analysis;
pub mod audit;
pub mod chaos;
pub mod comparison;
pub mod duration;
pub mod environment;
pub mod log_index;
pub mod log_ingest;
pub mod log_json;
pub mod log_overlap;
pub mod logs;
pub mod metrics;
pub mod observed;
pub mod pipeline;
pub mod redact;
pub mod rollout;
pub mod sanitize;
pub mod sanitize_lines;
pub mod unicode;

pub use environment::Version;

/// Milliseconds since the Unix epoch; domain timestamps stay plain numbers so
/// the domain needs no clock.
pub type EpochMillis = i64;
