//! The application layer: one task owns `App` and updates it from messages.

pub mod actions;
pub mod builds;
mod capability;
mod intents;
#[cfg(test)]
mod intents_tests;
pub mod jobs;
pub mod keymap;
pub mod logs;
pub mod msg;
pub mod state;
pub mod suite;
pub mod update;
