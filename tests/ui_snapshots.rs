//! Snapshot tests of the console: a rich, deterministic `App` rendered with
//! `TestBackend` at 120x40 and 80x24, every pane zoomed and every overlay.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test ui_snapshots`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use ratatui::style::Color;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::state::{
    App, ChatMessage, ChatRole, ConfirmDialog, Flash, Mode, Palette, PaneId, PendingAction, Picker,
    PickerPurpose, Severity,
};
use blissful_infra::config::{Config, TimestampMode};
use blissful_infra::domain::analysis::{analyze, Thresholds, VersionSample};
use blissful_infra::domain::chaos::{
    Experiment, ExperimentResult, ExperimentState, FaultParams, ScenarioKind,
};
use blissful_infra::domain::environment::{
    ActiveFault, EnvironmentStatus, Health, InstanceDetail, InstancePhase, InstanceStatus,
    TrafficSplit, Version,
};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::domain::metrics::{MetricPoint, MetricSeries};
use blissful_infra::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use blissful_infra::runtime::SourceState;
use blissful_infra::ui::{self, Theme};
use support::ui::{buffer_row, buffer_text, render, snapshot};

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;

#[path = "ui_snapshots/fixtures.rs"]
mod fixtures;
use fixtures::*;

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

fn pane_slug(p: PaneId) -> &'static str {
    match p {
        PaneId::Environments => "environments",
        PaneId::Logs => "logs",
        PaneId::Pipeline => "pipeline",
        PaneId::Metrics => "metrics",
        PaneId::Chaos => "chaos",
        PaneId::Agent => "agent",
    }
}

fn overlays() -> Vec<(&'static str, PaneId, Mode)> {
    vec![
        ("help", PaneId::Environments, Mode::Help { scroll: 0 }),
        (
            "palette",
            PaneId::Environments,
            Mode::Palette(Palette {
                input: "deploy staging v9".into(),
                error: Some(
                    "unknown version `v9` (known: v1, v2, v3-slow, v4-buggy, v5-leaky)".into(),
                ),
            }),
        ),
        (
            "confirm_typed",
            PaneId::Environments,
            Mode::Confirm(ConfirmDialog {
                reason: None,
                editing_reason: false,
                action: PendingAction::Rollback {
                    env: "production".into(),
                },
                title: "Roll back production".into(),
                lines: vec![
                    "production goes back from v1 to v0 at once; any running rollout is aborted."
                        .into(),
                    "This is recorded in the audit journal.".into(),
                ],
                require_typed: Some("production".into()),
                typed: "produ".into(),
            }),
        ),
        (
            "picker",
            PaneId::Environments,
            Mode::Picker(Picker {
                purpose: PickerPurpose::DeployVersion,
                title: "Deploy a version".into(),
                env: "staging".into(),
                items: vec![
                    ("v1".into(), "current stable".into()),
                    ("v2".into(), "current canary".into()),
                    ("v3-slow".into(), "adds 350ms to every request".into()),
                    (
                        "v4-buggy".into(),
                        "answers 25% of requests with HTTP 500".into(),
                    ),
                    (
                        "v5-leaky".into(),
                        "grows memory by 60 MiB per minute".into(),
                    ),
                ],
                selected: 2,
            }),
        ),
        (
            "log_filter",
            PaneId::Logs,
            Mode::LogFilter {
                input: "time(out".into(),
                error: Some("regex parse error: unclosed group".into()),
            },
        ),
    ]
}

fn with_filter(app: &mut App, re: &str) {
    app.log_view.filter_text = re.into();
    app.log_view.filter = Some(regex::Regex::new(re).expect("valid regex"));
}

#[path = "ui_snapshots/builds.rs"]
mod builds;
#[path = "ui_snapshots/capabilities.rs"]
mod capabilities;
#[path = "ui_snapshots/comparison.rs"]
mod comparison;
#[path = "ui_snapshots/screens.rs"]
mod screens;
