//! The Kubernetes adapter. For now: the mapping of Argo Rollouts,
//! AnalysisRuns and Argo CD Applications (as the JSON an apiserver sends)
//! into views and the common environment status (pure code), plus the
//! client connection ([`connect`]), the Rollout watch ([`watch`]), and
//! intents as the Argo plugin's patches ([`intents`], sent by [`send`]),
//! `undo` planned from the ReplicaSets ([`undo`], sent by [`undo_send`]),
//! and GitOps deploy and promote ([`gitops`]).
//!
//! Every string read from an object is treated as hostile: cleaned of
//! controls, escapes and bidi overrides, and bounded (see [`fields`]).

pub mod analysis;
pub mod application;
pub mod connect;
pub mod fields;
pub mod gitops;
pub mod intents;
pub mod rollout;
mod rollout_health;
pub mod send;
pub mod undo;
pub mod undo_send;
pub mod watch;

pub use analysis::{analysis_run_view, AnalysisRunView};
pub use application::{application_view, ApplicationView};
pub use rollout::{rollout_view, RolloutView};

#[cfg(test)]
mod analysis_tests;
#[cfg(test)]
mod application_tests;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod rollout_bluegreen_tests;
#[cfg(test)]
mod rollout_tests;
