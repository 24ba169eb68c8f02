//! blissful-infra: enterprise infrastructure in a local sandbox, driven from one terminal console.
//!
//! Layers (outer depends on inner, never the reverse):
//! - `domain`: pure types and rules (no IO, no tokio, no ratatui).
//! - `runtime`: the port every runtime implements (sandbox now; Docker and Kubernetes next).
//! - `sandbox`, `daemon`, `agent`: adapters (processes, sockets, HTTP).
//! - `app`: the one task that owns console state (Elm-style update).
//! - `ui`: pure render functions per pane.
//! - `cli`, `tui`: the edges (argument parsing, terminal setup, output formatting).

pub mod agent;
pub mod app;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod docker;
pub mod domain;
pub mod faults;
pub mod launch;
pub mod logparse;
pub mod paths;
pub mod perf;
pub mod report;
pub mod router;
pub mod runtime;
pub mod sandbox;
pub mod scaffold;
pub mod sources;
pub mod tui;
pub mod ui;
