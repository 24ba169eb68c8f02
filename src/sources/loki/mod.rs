//! A Loki source: `query_range` for history, the tail WebSocket for live
//! lines, LogQL built from the log pane's filter.
//!
//! # Calling it
//!
//! History (what `blissful-infra logs --since 15m --grep timeout` needs):
//!
//! ```no_run
//! # async fn f(cfg: &blissful_infra::config::Config) -> Result<(), blissful_infra::sources::loki::LokiError> {
//! use std::time::Duration;
//! use blissful_infra::sources::loki::{history, LogQuery};
//! let filter = LogQuery {
//!     project: cfg.project.clone(),
//!     env: Some("staging".into()),
//!     grep: Some("timeout".into()),
//!     ..Default::default()
//! };
//! // The newest 500 lines of the last 15 minutes, oldest first.
//! let lines = history(&cfg.loki, &filter, Duration::from_secs(15 * 60), 500).await?;
//! # Ok(()) }
//! ```
//!
//! Live (`--follow`, the console's log pane): [`spawn_log_source`] sends the
//! same history, then every new line, as `RuntimeEvent::Log` into a bounded
//! channel, with its state as `RuntimeEvent::Source { name: "loki", .. }`
//! and losses as `RuntimeEvent::Lagged { count }`. It reconnects by itself
//! and ends when the receiver is dropped.
//!
//! Lower level: [`LokiClient`] (`query_range`, paged reads, `labels`,
//! `ready`, opening the tail) and [`logql::build`].
//!
//! Everything read from Loki (lines, labels, error bodies) is hostile: lines
//! go through `sanitize_str`, labels and errors through `strip_all`.

mod answer;
mod client;
mod error;
mod history;
pub mod logql;
pub mod map;
mod mapper;
mod range;
mod source;
mod tail;

pub(crate) use super::error_chain;
pub(crate) use answer::{flatten, RawStream};
pub use answer::{parse_streams, Entry};
pub use client::LokiClient;
pub(crate) use client::{read_body, BodyError};
pub(crate) use error::status_error;
pub use error::LokiError;
pub(crate) use history::{duration_ns, now_ns};
pub use history::{history, MAX_HISTORY};
pub use logql::{LogQlError, LogQuery};
pub use map::StreamColumns;
pub use mapper::LineMapper;
pub use range::{Direction, Paged};
pub use source::{spawn_log_source, LiveOptions, SOURCE_NAME};
pub use tail::{parse_frame, TailFrame, TailStream};
