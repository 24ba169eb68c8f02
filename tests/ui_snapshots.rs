//! Snapshot tests of the console: a rich, deterministic `App` rendered with
//! `TestBackend` at 120x40 and 80x24, every pane zoomed and every overlay.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test ui_snapshots`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use ratatui::buffer::Buffer;
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
use support::ui_render::{buffer_text, render};

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;

fn instance(
    id: &str,
    version: &str,
    pid: Option<u32>,
    port: u16,
    phase: InstancePhase,
    restarts: u32,
) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase,
        restarts,
        detail: InstanceDetail::Process { pid, port },
    }
}

fn envs() -> Vec<EnvironmentStatus> {
    vec![
        EnvironmentStatus {
            name: "staging".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: Some(Version::new("v2")),
                canary_weight: 20,
            },
            previous: Some(Version::new("v0")),
            step: Some((1, 4)),
            health: Health::Progressing("canary step 2/4, analysing".into()),
            instances: vec![
                instance(
                    "staging-v1-1",
                    "v1",
                    Some(41_201),
                    40_101,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "staging-v1-2",
                    "v1",
                    Some(41_202),
                    40_102,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "staging-v2-1",
                    "v2",
                    Some(41_301),
                    40_103,
                    InstancePhase::Ready,
                    1,
                ),
                instance(
                    "staging-v2-2",
                    "v2",
                    None,
                    40_104,
                    InstancePhase::BackingOff {
                        exit_code: Some(1),
                        restart_at: NOW + 2_000,
                    },
                    3,
                ),
            ],
            replicas: 2,
            last_change: NOW - 12_000,
            router_addr: "127.0.0.1:8180".into(),
            metrics_addr: "127.0.0.1:9180".into(),
            faults: vec![ActiveFault {
                id: "exp-3".into(),
                scenario: "network-latency".into(),
                ends_at: NOW + 18_000,
            }],
            revisions: Vec::new(),
        },
        EnvironmentStatus {
            name: "production".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: None,
                canary_weight: 0,
            },
            previous: None,
            step: None,
            health: Health::Healthy,
            instances: vec![
                instance(
                    "production-v1-1",
                    "v1",
                    Some(42_001),
                    40_201,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "production-v1-2",
                    "v1",
                    Some(42_002),
                    40_202,
                    InstancePhase::Ready,
                    0,
                ),
            ],
            replicas: 2,
            last_change: NOW - 2 * 3_600_000,
            router_addr: "127.0.0.1:8181".into(),
            metrics_addr: "127.0.0.1:9181".into(),
            faults: vec![],
            revisions: Vec::new(),
        },
    ]
}

fn log_line(i: i64, env: &str, version: &str, instance: &str, level: Level, text: &str) -> LogLine {
    LogLine::new(
        NOW - (60 - i) * 250,
        env.into(),
        version.into(),
        instance.into(),
        level,
        text,
    )
}

fn fill_logs(app: &mut App) {
    let long = format!(
        "slow request trace: {}",
        (0..40)
            .map(|i| format!("span{i}=ok"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for i in 0..60i64 {
        let (env, version, inst) = match i % 3 {
            0 => ("staging", "v2", "staging-v2-1"),
            1 => ("staging", "v1", "staging-v1-1"),
            _ => ("production", "v1", "production-v1-2"),
        };
        let (level, text): (Level, String) = match i % 10 {
            0 => (
                Level::Info,
                format!(r#"{{"msg":"request served","path":"/hello","status":200,"latency_ms":{},"level":"info"}}"#, 10 + i),
            ),
            1 => (Level::Debug, format!("cache lookup key=user:{i} hit=true")),
            2 => (Level::Info, "GET /hello 200 12ms".to_string()),
            3 => (Level::Warn, "slow upstream: 180ms > 150ms budget".to_string()),
            4 => (Level::Trace, "poll tick".to_string()),
            5 => (Level::Error, "upstream timeout after 3000ms (GET /hello/blissful)".to_string()),
            6 => (Level::Info, "\x1b[32mGET\x1b[0m /health \x1b[1;31m503\x1b[0m in \x1b[33m4ms\x1b[0m".to_string()),
            7 => (Level::Info, long.clone()),
            8 => (
                Level::Error,
                r#"{"msg":"handler panicked","error":"index out of range","route":"/hello/:name","level":"error"}"#
                    .to_string(),
            ),
            _ => (Level::Unknown, "plain stdout line without a level".to_string()),
        };
        app.logs.push(log_line(i, env, version, inst, level, &text));
    }
    app.logs.note_lost(1_200);
}

fn pipelines() -> Vec<PipelineRun> {
    let mut older = PipelineRun::new(
        6,
        PipelineKind::Promotion,
        "production",
        "promote v1 from staging to production",
        &["prepare", "canary 5%", "canary 100%", "promote"],
        NOW - 3 * 3_600_000,
    );
    let t0 = older.started_at;
    for (i, d) in [(0, 2_000), (1, 31_000), (2, 62_000), (3, 64_500)] {
        older.start_stage(
            i,
            t0 + if i == 0 {
                0
            } else {
                [2_000, 31_000, 62_000][i - 1]
            },
        );
        older.finish_stage(i, StageStatus::Succeeded, "", t0 + d);
    }
    older.finish(StageStatus::Succeeded, t0 + 64_500);

    let mut run = PipelineRun::new(
        7,
        PipelineKind::Rollout,
        "staging",
        "deploy v2 to staging",
        &[
            "prepare",
            "start v2",
            "canary 5%",
            "canary 20%",
            "canary 50%",
            "canary 100%",
            "promote",
        ],
        NOW - 95_000,
    );
    run.start_stage(0, NOW - 95_000);
    run.finish_stage(
        0,
        StageStatus::Succeeded,
        "2 instances of v2 requested",
        NOW - 94_200,
    );
    run.start_stage(1, NOW - 94_200);
    run.finish_stage(1, StageStatus::Succeeded, "2/2 ready", NOW - 88_000);
    run.start_stage(2, NOW - 88_000);
    run.finish_stage(
        2,
        StageStatus::Succeeded,
        "passed: 5 checks on 412 requests",
        NOW - 47_000,
    );
    run.start_stage(3, NOW - 47_000);
    if let Some(s) = run.stages.get_mut(3) {
        s.progress = 0.4;
        s.detail = "analysis failed once, extending (1/3)".into();
    }
    vec![older, run]
}

fn series(points: usize, f: impl Fn(usize) -> MetricPoint) -> MetricSeries {
    let mut s = MetricSeries::new(300);
    for i in 0..points {
        s.push(f(i));
    }
    s
}

fn wave(i: usize, period: f64) -> f64 {
    ((i as f64) / period).sin()
}

fn fill_metrics(app: &mut App) {
    let ts = |i: usize| NOW - (60 - i as i64) * 1_000;
    let stable = |env: &str| {
        let base = if env == "staging" { 6.4 } else { 8.0 };
        series(60, move |i| MetricPoint {
            ts: ts(i),
            rps: base + 1.5 * wave(i, 5.0),
            error_rate: 0.001 + 0.001 * wave(i, 9.0).abs(),
            p50_ms: 11.0 + 2.0 * wave(i, 6.0),
            p95_ms: 45.0 + 8.0 * wave(i, 7.0),
            p99_ms: 80.0 + 10.0 * wave(i, 4.0),
            cpu_pct: 12.0 + 3.0 * wave(i, 8.0),
            mem_mib: 42.0 + (i as f64) * 0.05,
        })
    };
    app.metrics
        .insert(("staging".into(), "v1".into()), stable("staging"));
    app.metrics
        .insert(("production".into(), "v1".into()), stable("production"));
    app.metrics.insert(
        ("staging".into(), "v2".into()),
        series(60, |i| MetricPoint {
            ts: ts(i),
            rps: 1.6 + 0.4 * wave(i, 5.0),
            error_rate: 0.004 + 0.0002 * i as f64,
            p50_ms: 38.0,
            p95_ms: 120.0 + i as f64,
            p99_ms: 400.0 + 3.5 * i as f64,
            cpu_pct: 18.0 + 4.0 * wave(i, 6.0),
            mem_mib: 48.0 + (i as f64) * 0.3,
        }),
    );
}

fn experiments() -> Vec<Experiment> {
    let params = FaultParams::default();
    let mut pod = Experiment::new(
        "exp-1".into(),
        "staging",
        ScenarioKind::PodKill,
        params.clone(),
        NOW - 600_000,
    );
    pod.state = ExperimentState::Completed;
    pod.result = Some(ExperimentResult::Resilient);
    pod.detection_ms = Some(1_000);
    pod.recovery_ms = Some(4_200);
    pod.peak_error_rate = 0.083;
    pod.peak_p99_ms = 310.0;
    pod.failed_requests = 14;

    let mut err = Experiment::new(
        "exp-2".into(),
        "production",
        ScenarioKind::ErrorInjection,
        params.clone(),
        NOW - 300_000,
    );
    err.state = ExperimentState::Completed;
    err.result = Some(ExperimentResult::NotRecovered);
    err.detection_ms = Some(900);
    err.recovery_ms = Some(45_000);
    err.peak_error_rate = 0.31;
    err.peak_p99_ms = 95.0;
    err.failed_requests = 212;

    let mut lat = Experiment::new(
        "exp-3".into(),
        "staging",
        ScenarioKind::NetworkLatency,
        params,
        NOW - 12_000,
    );
    lat.detection_ms = Some(2_100);
    lat.peak_error_rate = 0.021;
    lat.peak_p99_ms = 512.0;
    lat.failed_requests = 3;
    vec![pod, err, lat]
}

fn rich_app() -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap builds");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    app.log_view.timestamps = TimestampMode::Utc;
    app.envs = envs();
    fill_logs(&mut app);
    app.pipelines.extend(pipelines());
    fill_metrics(&mut app);
    let canary = VersionSample {
        requests: 236,
        errors: 1,
        p50_ms: 38.0,
        p95_ms: 180.0,
        p99_ms: 612.0,
        ..Default::default()
    };
    let stable = VersionSample {
        requests: 1_480,
        errors: 2,
        p50_ms: 11.0,
        p95_ms: 45.0,
        p99_ms: 80.0,
        ..Default::default()
    };
    let verdict = analyze(&canary, Some(&stable), &Thresholds::default());
    app.verdicts.insert("staging".into(), (1, verdict));
    app.experiments.extend(experiments());
    app.agent.messages.extend([
        ChatMessage {
            role: ChatRole::System,
            text: "context: staging, canary v2 at 20%, last verdict FAIL".into(),
        },
        ChatMessage {
            role: ChatRole::User,
            text: "Why is the canary in staging failing?".into(),
        },
        ChatMessage {
            role: ChatRole::Assistant,
            text: "The canary v2 fails the p99 latency check: 612ms against a 500ms limit, and its p95 is \
                   four times the stable version's. One v2 instance is crash-looping (exit 1, 3 restarts), \
                   so the remaining instance takes all canary traffic. Roll back with `r` or look at the \
                   ERROR lines from staging-v2-1 in the Logs pane."
                .into(),
        },
    ]);
    app.agent.state = SourceState::Degraded(
        "Ollama unreachable at http://localhost:11434: connection refused".into(),
    );
    app.sources.insert("runtime".into(), SourceState::Ok);
    app.sources.insert(
        "agent".into(),
        SourceState::Degraded(
            "Ollama unreachable at http://localhost:11434: connection refused".into(),
        ),
    );
    app
}

fn snapshot(name: &str, app: &App, w: u16, h: u16) -> Buffer {
    let buf = render(app, &Theme::default(), w, h);
    let text = buffer_text(&buf);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    });
    buf
}

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

#[test]
fn full_screen() {
    let app = rich_app();
    for (w, h) in SIZES {
        snapshot("full", &app, w, h);
    }
}

#[test]
fn each_pane_zoomed_and_focused() {
    for (w, h) in SIZES {
        for p in PaneId::ALL {
            let mut app = rich_app();
            app.focus = p;
            app.zoomed = true;
            snapshot(&format!("zoom_{}", pane_slug(p)), &app, w, h);
        }
    }
}

#[test]
fn each_pane_focused_on_a_narrow_terminal() {
    for p in PaneId::ALL {
        let mut app = rich_app();
        app.focus = p;
        snapshot(&format!("narrow_{}", pane_slug(p)), &app, 80, 24);
    }
}

#[test]
fn each_overlay() {
    for (w, h) in SIZES {
        for (name, focus, mode) in overlays() {
            let mut app = rich_app();
            app.focus = focus;
            if name == "log_filter" {
                with_filter(&mut app, "timeout");
            }
            app.mode = mode;
            snapshot(&format!("overlay_{name}"), &app, w, h);
        }
    }
}

#[test]
fn paused_wrapped_filtered_logs() {
    let mut app = rich_app();
    app.focus = PaneId::Logs;
    app.zoomed = true;
    app.log_view.follow = false;
    app.log_view.paused_end = app.logs.end_seq() - 14;
    app.log_view.scroll_from_bottom = 3;
    app.log_view.wrap = true;
    let buf = snapshot("logs_paused_wrapped", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("PAUSED ↑3 (+14 new)"), "{text}");
    assert!(text.contains("1,200 dropped"), "{text}");

    with_filter(&mut app, "timeout|panicked");
    app.log_view.only_selected_env = true;
    let buf = snapshot("logs_filtered_env", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("filter: /timeout|panicked/"), "{text}");
    assert!(
        !text.contains("production-v1-2"),
        "only staging lines: {text}"
    );
}

#[test]
fn read_only_with_flash() {
    let keymap = Keymap::build(&Default::default()).expect("keymap");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", true, keymap, NOW);
    app.log_view.timestamps = TimestampMode::Utc;
    app.envs = envs();
    app.flash = Some(Flash {
        text: "read-only mode: deploy is not allowed".into(),
        severity: Severity::Error,
        until: NOW + 3_000,
    });
    let buf = snapshot("read_only_flash", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(
        text.contains("read-only mode: deploy is not allowed"),
        "{text}"
    );
    // An expired flash gives the key hints back.
    app.flash = Some(Flash {
        text: "gone".into(),
        severity: Severity::Info,
        until: NOW - 1,
    });
    let text = buffer_text(&render(&app, &Theme::default(), 120, 40));
    assert!(!text.contains("gone"), "{text}");
}

#[test]
fn empty_app_renders_placeholders() {
    let keymap = Keymap::build(&Default::default()).expect("keymap");
    let app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    let buf = snapshot("empty", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("no environments yet"), "{text}");
    assert!(text.contains("no pipeline runs yet"), "{text}");
    assert!(text.contains("no log lines yet"), "{text}");
}

#[test]
fn colours_follow_the_theme() {
    let theme = Theme::default();
    let mut app = rich_app();
    app.focus = PaneId::Environments;
    let buf = render(&app, &theme, 120, 40);
    // The Environments pane starts under the header; its corner is the focused border.
    assert_eq!(buf[(0, 1)].symbol(), "╭");
    assert_eq!(buf[(0, 1)].fg, theme.border_focused);
    // An unfocused pane's border uses the plain border colour.
    let logs_top = (0..40u16)
        .find(|&y| buffer_row(&buf, y).contains("2 Logs"))
        .expect("logs pane title");
    assert_eq!(buf[(0, logs_top)].fg, theme.border);

    // ERROR level cells are styled with log_error.
    app.focus = PaneId::Logs;
    app.zoomed = true;
    let buf = render(&app, &theme, 120, 40);
    let mut found = 0;
    for y in 0..40u16 {
        let row = buffer_row(&buf, y);
        if let Some(col) = row.find(" ERROR ") {
            let x = row[..col + 1].chars().count() as u16;
            assert_eq!(buf[(x, y)].symbol(), "E");
            assert_eq!(buf[(x, y)].fg, theme.log_error, "row {y}: {row}");
            found += 1;
        }
    }
    assert!(found >= 2, "expected ERROR lines on screen");
}

fn buffer_row(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

#[test]
fn monochrome_uses_no_colour_at_all() {
    let theme = Theme::load("dark", true).expect("theme");
    let mut app = rich_app();
    for (_, focus, mode) in overlays()
        .into_iter()
        .chain([("", PaneId::Agent, Mode::AgentInput)])
    {
        app.focus = focus;
        app.mode = mode;
        let buf = render(&app, &theme, 120, 40);
        for cell in buf.content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
        }
    }
    // Still readable: the focused pane is told apart by a heavy border.
    app.mode = Mode::Normal;
    app.focus = PaneId::Environments;
    let buf = render(&app, &theme, 120, 40);
    assert_eq!(buf[(0, 1)].symbol(), "┏");
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut modes: Vec<(PaneId, Mode)> = overlays().into_iter().map(|(_, p, m)| (p, m)).collect();
    modes.push((PaneId::Agent, Mode::AgentInput));
    modes.push((PaneId::Logs, Mode::Normal));
    let themes = [Theme::default(), Theme::monochrome()];
    for (w, h) in [
        (20, 5),
        (1, 1),
        (10, 3),
        (10, 0),
        (0, 10),
        (2, 2),
        (30, 8),
        (99, 29),
        (100, 30),
    ] {
        for zoomed in [false, true] {
            for p in PaneId::ALL {
                for (focus, mode) in &modes {
                    let mut app = rich_app();
                    app.focus = if *mode == Mode::Normal { p } else { *focus };
                    app.zoomed = zoomed;
                    app.mode = mode.clone();
                    app.log_view.wrap = zoomed;
                    for t in &themes {
                        let buf = render(&app, t, w, h);
                        assert_eq!(buf.area.width, w);
                    }
                }
            }
        }
    }
    let app = rich_app();
    let text = buffer_text(&render(&app, &Theme::default(), 20, 5));
    assert_eq!(text.lines().count(), 5);
}

#[test]
fn narrow_screens_stay_readable() {
    // Nothing is cut mid-cell without an ellipsis on 80x24: every pane title is complete.
    let app = rich_app();
    let text = buffer_text(&render(&app, &Theme::default(), 80, 24));
    assert!(text.contains("1 Environments"), "{text}");
    assert!(text.contains("2 Logs"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
}

#[test]
fn logs_only_format_what_is_visible() {
    let mut cfg = Config::default();
    cfg.console.log_buffer_lines = 120_000;
    let keymap = Keymap::build(&Default::default()).expect("keymap");
    let mut app = App::new(Arc::new(cfg), "sandbox", false, keymap, NOW);
    app.log_view.timestamps = TimestampMode::Utc;
    for i in 0..110_000i64 {
        app.logs.push(log_line(
            i % 60,
            "staging",
            "v1",
            "staging-v1-1",
            Level::Info,
            "GET /hello 200",
        ));
    }
    let mut calls = 0;
    let v = ui::panes::visible_log_lines(&app, 30, |_| {
        calls += 1;
        1
    });
    assert_eq!((v.lines.len(), calls), (30, 30));
    assert!(!v.scan_limited);

    // A filter that matches nothing stops scanning at the limit and says so.
    with_filter(&mut app, "no-such-text");
    let mut calls = 0;
    let v = ui::panes::visible_log_lines(&app, 30, |_| {
        calls += 1;
        1
    });
    assert_eq!(calls, 0);
    assert!(v.scan_limited);
    app.focus = PaneId::Logs;
    app.zoomed = true;
    let text = buffer_text(&render(&app, &Theme::default(), 120, 40));
    assert!(text.contains("scan stopped at 50,000 lines"), "{text}");
}

/// A comparison report as `compare` builds it: v3-slow is 60 ms slower at p95.
fn comparison_report() -> blissful_infra::compare::ComparisonReport {
    use blissful_infra::compare::{ComparisonReport, LoadDescription, Promotion, SideSeries};
    use blissful_infra::domain::comparison::{
        assess, ComparisonThresholds, Evidence, Interval, MannWhitney, SideStats,
    };
    let side = |version: &str, p95: f64| SideStats {
        version: version.into(),
        requests: 3000,
        errors: 0,
        duration_secs: 10.0,
        rps: 300.0,
        error_rate: 0.0,
        p50_ms: p95 / 2.0,
        p95_ms: p95,
        p99_ms: p95 * 1.5,
        cpu_pct: Some(12.5),
        mem_mib: Some(9.0),
        samples: 3000,
    };
    let thresholds = ComparisonThresholds {
        max_p95_regression_pct: 10.0,
        max_p99_regression_pct: 15.0,
        max_error_rate: 0.01,
        min_throughput_ratio: 0.95,
    };
    let evidence = Evidence {
        mann_whitney: Some(MannWhitney {
            u_first: 1.0,
            u_second: 8_999_999.0,
            z: -40.0,
            p_value: 0.0,
        }),
        p95_diff_ci_ms: Some(Interval {
            estimate: 60.0,
            low: 58.5,
            high: 61.5,
            level: 0.95,
        }),
        error_rate_p_value: 1.0,
    };
    let (old, new) = (side("v1", 2.0), side("v3-slow", 62.0));
    let assessment = assess(&old, &new, &thresholds, &evidence);
    ComparisonReport {
        old,
        new,
        load: LoadDescription {
            pacing: "closed",
            rate_per_side: None,
            concurrency_per_side: 4,
            warmup_secs: 2.0,
            duration_secs: 10.0,
            endpoints: vec!["/hello".into()],
        },
        thresholds,
        evidence,
        assessment,
        chaos: None,
        events_lost: 0,
        series: SideSeries::default(),
        promotion: Promotion {
            message: "comparison.auto_promote is off in the config".into(),
            ..Promotion::default()
        },
    }
}

#[test]
fn comparison_view_running_then_done() {
    use blissful_infra::app::msg::{Command, Msg};
    use blissful_infra::compare::{CompareEvent, Side, STAGE_MEASURE, STAGE_START, STAGE_WARMUP};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));

    let mut app = rich_app();
    app.mode = Mode::Normal;
    // `C` offers the deploy candidates; Enter starts the comparison.
    app.update(key('C'));
    let Mode::Picker(p) = &app.mode else {
        panic!("C opens a picker, got {:?}", app.mode)
    };
    assert_eq!(p.purpose, PickerPurpose::CompareVersion);
    let slow = p
        .items
        .iter()
        .position(|(v, _)| v == "v3-slow")
        .expect("v3-slow is a candidate");
    for _ in 0..slow {
        app.update(key('j'));
    }
    let cmds = app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let stable = app.selected_env().unwrap().traffic.stable.clone().unwrap();
    assert!(
        matches!(&cmds[..], [Command::Compare { old, new, .. }] if *old == stable.as_str() && new == "v3-slow"),
        "{cmds:?}"
    );
    assert!(matches!(app.mode, Mode::Comparison { .. }));

    app.update(Msg::Compare(CompareEvent::StageStarted(STAGE_START)));
    app.update(Msg::Compare(CompareEvent::StageEnded {
        index: STAGE_START,
        status: StageStatus::Succeeded,
        detail: "v2 and v3-slow Ready".into(),
    }));
    app.update(Msg::Compare(CompareEvent::StageStarted(STAGE_WARMUP)));
    app.update(Msg::Compare(CompareEvent::StageEnded {
        index: STAGE_WARMUP,
        status: StageStatus::Succeeded,
        detail: "2.0s".into(),
    }));
    app.update(Msg::Compare(CompareEvent::StageStarted(STAGE_MEASURE)));
    for i in 0..30 {
        let point = |p95: f64| MetricPoint {
            ts: NOW + i * 1000,
            rps: 300.0 + wave(i as usize, 7.0) * 20.0,
            error_rate: 0.0,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            cpu_pct: 0.0,
            mem_mib: 0.0,
        };
        app.update(Msg::Compare(CompareEvent::Point {
            side: Side::Old,
            point: point(2.0 + wave(i as usize, 5.0)),
        }));
        app.update(Msg::Compare(CompareEvent::Point {
            side: Side::New,
            point: point(62.0 + wave(i as usize, 5.0) * 3.0),
        }));
    }
    for (w, h) in SIZES {
        snapshot("comparison_running", &app, w, h);
    }
    // A second `C` while it runs is refused with a hint.
    app.mode = Mode::Normal;
    app.update(key('C'));
    assert!(matches!(app.mode, Mode::Normal));
    assert!(app.flash.as_ref().unwrap().text.contains("already running"));
    app.flash = None;
    app.update(key('v'));

    app.update(Msg::CompareDone(Ok(Box::new(comparison_report()))));
    let view = app.comparison.as_ref().unwrap();
    assert!(!view.running());
    assert!(app.flash.as_ref().unwrap().text.contains("old wins"));
    for (w, h) in SIZES {
        let buf = snapshot("comparison_done", &app, w, h);
        let text = buffer_text(&buf);
        assert!(text.contains("old wins"), "{text}");
        assert!(text.contains("FAIL"), "the p95 threshold fails:\n{text}");
    }
    // Esc closes it, `v` brings it back.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(matches!(app.mode, Mode::Normal));
    app.update(key('v'));
    assert!(matches!(app.mode, Mode::Comparison { .. }));
}

/// A load test and Prometheus series sit next to the runtime's own columns,
/// after them, each saying where its numbers come from.
#[test]
fn metrics_columns_keep_sources_apart() {
    let mut app = rich_app();
    app.mode = Mode::Normal;
    app.focus = PaneId::Metrics;
    app.zoomed = true;
    let point = |rps: f64| MetricPoint {
        ts: NOW,
        rps,
        error_rate: 0.0,
        p50_ms: 2.0,
        p95_ms: 4.0,
        p99_ms: 6.0,
        cpu_pct: 0.0,
        mem_mib: 0.0,
    };
    app.metrics.insert(
        ("staging".into(), "v1@prometheus".into()),
        series(10, |_| point(6.0)),
    );
    app.metrics.insert(
        (
            "staging".into(),
            blissful_infra::runtime::LOAD_TEST_SERIES.into(),
        ),
        series(10, |_| point(1234.0)),
    );
    let buf = snapshot("metrics_sources", &app, 160, 30);
    let text = buffer_text(&buf);
    let header = text
        .lines()
        .find(|l| l.contains("v1 stable"))
        .unwrap_or_else(|| panic!("{text}"));
    let stable_at = header.find("v1 stable").unwrap();
    let canary_at = header.find("v2 canary").unwrap();
    let prom_at = header
        .find("(prometheus)")
        .unwrap_or_else(|| panic!("{header}"));
    let load_at = header
        .find("load test")
        .unwrap_or_else(|| panic!("{header}"));
    assert!(
        stable_at < canary_at && canary_at < load_at && load_at < prom_at,
        "{header}"
    );
    // The load test's client-side numbers show; its CPU and memory do not exist.
    assert!(text.contains("1234.0"), "{text}");
}

/// A runtime that supports only deploy, undo and switch (as the sandbox did).
fn limited_capabilities() -> blissful_infra::runtime::Capabilities {
    use blissful_infra::runtime::{Capabilities, DeliveryMode, IntentKind};
    Capabilities::with(
        DeliveryMode::Driven,
        &[IntentKind::Deploy, IntentKind::Undo, IntentKind::Switch],
        |k| format!("no {} in this runtime yet", k.name()),
    )
    .with_scenarios(ScenarioKind::ALL)
}

#[test]
fn aborted_and_paused_are_shown_apart_from_degraded() {
    let mut app = rich_app();
    app.envs[0].health = Health::Aborted("p99 looks wrong".into());
    app.envs[1].health = Health::Paused("paused by alice".into());
    let buf = snapshot("rollout_aborted_paused", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("Aborted: p99 looks wrong"), "{text}");
    assert!(text.contains("Paused"), "{text}");
    assert!(!text.contains("Degraded"), "{text}");
}

#[test]
fn unsupported_actions_are_greyed_out_with_the_reason() {
    let mut app = rich_app();
    app.capabilities = Some(limited_capabilities());
    app.mode = Mode::Help { scroll: 0 };
    let buf = snapshot("overlay_help_unsupported", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(
        text.contains("(unavailable: no resume in this runtime yet)"),
        "{text}"
    );
    // Greyed: the unsupported action's description is drawn muted.
    let theme = Theme::default();
    let row = (0..buf.area.height)
        .find(|y| buffer_row(&buf, *y).contains("pause the selected environment"))
        .expect("pause is listed");
    let line = buffer_row(&buf, row);
    let byte = line.find("pause the selected").expect("description");
    let x = line[..byte].chars().count() as u16;
    assert_eq!(buf[(x, row)].fg, theme.muted().fg.unwrap_or(Color::Reset));
}

#[test]
fn abort_asks_for_a_reason() {
    let mut app = rich_app();
    app.mode = Mode::Confirm(ConfirmDialog {
        action: PendingAction::Intent {
            env: "staging".into(),
            intent: blissful_infra::runtime::Intent::Abort {
                reason: "aborted by alice".into(),
            },
        },
        title: "Confirm: abort".into(),
        lines: vec!["Abort staging's rollout of v2: all traffic back to v1.".into()],
        require_typed: None,
        typed: String::new(),
        reason: Some("aborted by alice".into()),
        editing_reason: true,
    });
    let buf = snapshot("overlay_confirm_abort", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("Reason: aborted by alice"), "{text}");
    assert!(text.contains("enter confirm"), "{text}");
}
