//! A Jenkins source: a job's Pipeline runs and stages (the Pipeline Stage
//! View plugin's `wfapi` endpoints), a build's result and parameters
//! (`api/json`), its console read progressively, and triggering a build
//! (with the CSRF crumb when Jenkins issues one).
//!
//! - [`JenkinsClient`]: one request each (`runs`, `run`, `build`,
//!   `console`, `trigger`); GETs of runs and builds are conditional
//!   (`If-None-Match`), a 304 reuses the body Jenkins sent before.
//! - [`spawn_run_watch`]: a task that follows one run and sends
//!   [`JenkinsEvent`]s, with its state and backoff (see `watch`).
//! - [`model`] and [`ConsoleTail`]: pure types and mapping, no IO.
//!
//! The API token is read from the variable `jenkins.token_env` names and is
//! never printed, logged or written. Everything Jenkins sends is hostile:
//! names, statuses, values and console text are cleaned and bounded.

mod client;
mod console;
mod error;
pub mod model;
mod watch;

pub use client::{JenkinsClient, MAX_CONSOLE_CHUNK};
pub use console::{clean_line, Chunk, ConsoleTail, DEFAULT_TAIL_LINES, MAX_LINE_BYTES};
pub use error::JenkinsError;
pub use model::{Build, Param, Queued, Run, Stage, Status};
pub use watch::{spawn_run_watch, JenkinsEvent, WatchOptions, SOURCE_NAME};
