//! blissful-infra: enterprise infrastructure in a local sandbox, driven from one terminal console.
//!
//! Layers (outer depends on inner, never the reverse; ARCHITECTURE.md has the map):
//! - `domain`, `clock`: pure types and rules (no IO, no tokio, no ratatui), and the one wall clock.
//! - `runtime`: the port every runtime implements, its intents and capabilities, and the
//!   read-only and audit decorators.
//! - `delivery`, `faults`: the one rollout controller and the one fault engine every runtime shares.
//! - `sandbox`, `docker`, `router`, `fault_proxy`, `daemon`, `agent`, `sources`, `perf`,
//!   `compare`, `scaffold`, `logparse`, `highlight`: adapters and the work they do (processes, containers, sockets, HTTP).
//! - `kubernetes`: the Kubernetes adapter; the mapping of Argo Rollouts, AnalysisRuns
//!   and Argo CD Applications into the common status, the client connection and the Rollout watch.
//! - `app`: console state and its Elm-style update; `ui`: pure render functions per pane.
//! - `config`, `report`, `cli`, `tui`, `launch`: the edges (configuration, output, argument
//!   parsing, terminal setup, wiring a command to the layers above).

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
pub mod durable;
pub mod eject;
pub mod fault_proxy;
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod highlight;
pub mod kubernetes;
pub mod launch;
pub mod logparse;
pub mod paths;
pub mod perf;
pub mod pipeline;
pub mod report;
pub mod router;
pub mod runtime;
pub mod sandbox;
pub mod scaffold;
pub mod sources;
pub mod tui;
pub mod ui;
