//! Test-only helpers and fake servers. Nothing here is part of the product.
#![allow(dead_code)]

pub mod daemon;
pub mod fake_jenkins;
pub mod fake_kube;
pub mod fake_loki;
pub mod fake_ollama;
pub mod hostile;
pub mod project;
pub mod prometheus;
pub mod pty;
pub mod sandbox;
pub mod secret_corpus;
pub mod serving;
pub mod tmux;
pub mod ui;
pub mod validate;
