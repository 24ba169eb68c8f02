//! The Loki source against a fake Loki (tests/support/fake_loki.rs): Loki
//! itself cannot run on the test machines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, LokiConfig, PrometheusQueries};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::runtime::{RuntimeEvent, SourceState};
use blissful_infra::sources::loki::{
    history, logql, spawn_log_source, Direction, LiveOptions, LogQuery, LokiClient, LokiError,
    TailStream,
};
use support::fake_loki::{FakeEntry, FakeLoki};
use tokio::sync::mpsc;

const SEC: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

fn cfg(fake: &FakeLoki) -> LokiConfig {
    LokiConfig {
        url: fake.url(),
        timeout_ms: 2_000,
        ..Default::default()
    }
}

fn shop() -> LogQuery {
    LogQuery {
        project: "shop".into(),
        ..Default::default()
    }
}

fn staging(version: &str, instance: &str) -> Vec<(&'static str, String)> {
    vec![
        ("app", "shop".into()),
        ("env", "staging".into()),
        ("version", version.into()),
        ("instance", instance.into()),
    ]
}

fn entry(ts_ns: i64, labels: &[(&str, String)], line: &str) -> FakeEntry {
    let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    FakeEntry::new(ts_ns, &l, line)
}

/// The next event that is not a state change, collecting states on the way.
async fn next_event(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    states: &mut Vec<SourceState>,
) -> RuntimeEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { name, state })) => {
                assert_eq!(name, "loki");
                states.push(state);
            }
            Ok(Some(ev)) => return ev,
            other => panic!("no event within 10 s: {other:?}; states so far {states:?}"),
        }
    }
}

async fn next_line(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    states: &mut Vec<SourceState>,
) -> LogLine {
    match next_event(rx, states).await {
        RuntimeEvent::Log { line } => line,
        other => panic!("expected a log line, got {other:?}"),
    }
}

/// Wait for a state matching `want`.
async fn wait_state(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    want: impl Fn(&SourceState) -> bool,
) -> SourceState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { state, .. })) if want(&state) => return state,
            Ok(Some(RuntimeEvent::Source { .. })) => {}
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            other => panic!("state not reached: {other:?}"),
        }
    }
}

/// Wait for a state matching `want`, ignoring other events.
async fn wait_state_any(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    want: impl Fn(&SourceState) -> bool,
) -> SourceState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { state, .. })) if want(&state) => return state,
            Ok(Some(_)) => {}
            other => panic!("state not reached: {other:?}"),
        }
    }
}

#[path = "loki/commands.rs"]
mod commands;
#[path = "loki/config.rs"]
mod config;
#[path = "loki/history.rs"]
mod history;
#[path = "loki/queries.rs"]
mod queries;
#[path = "loki/tail.rs"]
mod tail;
