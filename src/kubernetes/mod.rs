//! The Kubernetes adapter: the mapping of Argo Rollouts, AnalysisRuns and
//! Argo CD Applications (as the JSON an apiserver sends) into views and the
//! common environment status (pure code), the client connection
//! ([`connect`], [`contexts`]), watches ([`objects`], [`watch`]), intents as
//! the Argo plugin's patches ([`intents`], sent by [`send`]), `undo` planned
//! from the ReplicaSets ([`undo`], sent by [`undo_send`]), GitOps deploy and
//! promote ([`gitops`]), chaos as Chaos Mesh resources ([`chaos`]),
//! ephemeral environments, a namespace each ([`ephemeral`]), and the
//! runtime built on them
//! ([`runtime::KubernetesRuntime`], Observed mode).
//!
//! Every string read from an object is treated as hostile: cleaned of
//! controls, escapes and bidi overrides, and bounded (see [`fields`]).

pub mod analysis;
pub mod application;
pub mod chaos;
pub mod connect;
pub mod contexts;
pub mod ephemeral;
pub mod fields;
pub mod gitops;
pub mod intents;
pub mod objects;
pub mod rollout;
mod rollout_health;
pub mod runtime;
pub mod send;
pub mod undo;
pub mod undo_send;
pub mod watch;

pub use analysis::{analysis_run_view, AnalysisRunView};
pub use application::{application_view, ApplicationView};
pub use rollout::{rollout_view, RolloutView};
pub use runtime::KubernetesRuntime;

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
