//! The application layer: one task owns `App` and updates it from messages.

pub mod actions;
pub mod jobs;
pub mod keymap;
pub mod logs;
pub mod msg;
pub mod run;
pub mod state;
pub mod update;
