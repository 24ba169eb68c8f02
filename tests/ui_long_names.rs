//! Long and hostile names (environment, version/branch, container or pod,
//! pipeline title) in every pane, the header and the status bar: a
//! 300-character environment name, one of wide CJK, emoji and combining
//! characters, and one carrying escape sequences. Each is cut with an
//! ellipsis where it does not fit and never moves a pane's borders; the
//! snapshots (`snapshots/names_*`) show it.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test ui_long_names`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use ratatui::buffer::Buffer;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::state::{App, ChatMessage, ChatRole, Flash, PaneId, Severity};
use blissful_infra::config::{Config, TimestampMode};
use blissful_infra::domain::analysis::{analyze, Thresholds, VersionSample};
use blissful_infra::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use blissful_infra::domain::environment::{
    EnvironmentStatus, Health, InstanceDetail, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::domain::metrics::{MetricPoint, MetricSeries};
use blissful_infra::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use blissful_infra::domain::sanitize::sanitize_str;
use blissful_infra::runtime::SourceState;
use blissful_infra::ui::Theme;
use support::ui::{buffer_text, render};

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;

/// A 300-character environment name.
fn long_name() -> String {
    let mut s = String::from("checkout-payments-eu-west-1-");
    while s.chars().count() < 300 {
        s.push_str("a-very-long-environment-name-");
    }
    s.chars().take(300).collect()
}

/// Wide CJK and full-width letters, emoji, combining accents.
const WIDE: &str =
    "生产环境-東京-데이터-🚀🔥-cafe\u{301}-n\u{303}o-ｆｕｌｌｗｉｄｔｈ-環境名前テスト-本番";

/// Title, clipboard, clear-screen, 8-bit CSI and bidi override.
const ESCAPED: &str =
    "stag\x1b]0;HACKED\x07ing\x1b[2J\u{9b}31m-\u{202e}evil\u{202c}-\x1b]52;c;aGFja2Vk\x07end";

/// A console whose one environment, its versions, instances, logs,
/// pipeline, metrics, experiment and chat all carry `name`.
fn app_named(name: &str) -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    app.log_view.timestamps = TimestampMode::Utc;
    let stable = format!("release/{name}");
    let canary = format!("feature/{name}-{WIDE}");
    let instance = |n: usize, version: &str, detail: InstanceDetail| InstanceStatus {
        id: format!("{name}-{version}-{n}"),
        version: Version::new(version),
        phase: InstancePhase::Ready,
        restarts: 0,
        detail,
    };
    app.envs = vec![EnvironmentStatus {
        name: name.to_string(),
        traffic: TrafficSplit {
            stable: Some(Version::new(&stable)),
            canary: Some(Version::new(&canary)),
            canary_weight: 20,
        },
        previous: Some(Version::new(format!("old/{name}"))),
        step: Some((1, 4)),
        health: Health::Progressing(format!("canary step 2/4 in {name}")),
        instances: vec![
            instance(
                1,
                &stable,
                InstanceDetail::Process {
                    pid: Some(41_201),
                    port: 40_101,
                },
            ),
            instance(
                1,
                &canary,
                InstanceDetail::Container {
                    id: format!("{name}{}", "0123456789abcdef".repeat(4)),
                    host_port: Some(40_102),
                    pid: Some(41_301),
                },
            ),
        ],
        replicas: 1,
        last_change: NOW - 12_000,
        router_addr: "127.0.0.1:8180".into(),
        metrics_addr: "127.0.0.1:9180".into(),
        faults: Vec::new(),
        revisions: Vec::new(),
        observed: None,
    }];
    for (i, (version, level)) in [(&stable, Level::Info), (&canary, Level::Error)]
        .into_iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        app.logs.push(LogLine::new(
            NOW - 10_000 + i as i64 * 500,
            name.into(),
            version.as_str().into(),
            format!("{name}-{version}-1").into(),
            level,
            // Producers sanitise a line's text once, as it enters.
            sanitize_str(&format!("request {i} served by {name}")),
        ));
    }
    let mut run = PipelineRun::new(
        7,
        PipelineKind::Rollout,
        name,
        &format!("deploy {canary} to {name}"),
        &["prepare", "canary 20%", "promote"],
        NOW - 30_000,
    );
    run.start_stage(0, NOW - 30_000);
    run.finish_stage(
        0,
        StageStatus::Succeeded,
        format!("{name} ready"),
        NOW - 20_000,
    );
    run.start_stage(1, NOW - 20_000);
    app.pipelines.push_back(run);
    for version in [&stable, &canary] {
        let mut s = MetricSeries::new(300);
        for i in 0..30 {
            s.push(MetricPoint {
                ts: NOW - (30 - i) * 1_000,
                rps: 5.0 + (i % 5) as f64,
                error_rate: 0.01,
                p50_ms: 10.0,
                p95_ms: 40.0,
                p99_ms: 80.0,
                cpu_pct: 12.0,
                mem_mib: 42.0,
            });
        }
        app.metrics.insert((name.to_string(), version.clone()), s);
    }
    let sample = VersionSample {
        requests: 200,
        errors: 1,
        p50_ms: 10.0,
        p95_ms: 40.0,
        p99_ms: 80.0,
        ..Default::default()
    };
    let verdict = analyze(&sample, Some(&sample), &Thresholds::default());
    app.verdicts.insert(name.to_string(), (1, verdict));
    app.experiments.push_back(Experiment::new(
        format!("pod-kill-1-{name}"),
        name,
        ScenarioKind::PodKill,
        FaultParams::default(),
        NOW - 5_000,
    ));
    app.agent.messages.push_back(ChatMessage {
        role: ChatRole::Assistant,
        text: format!("The canary in {name} is healthy."),
    });
    app.sources.insert("runtime".into(), SourceState::Ok);
    // The status bar says what happened, naming the environment.
    app.flash = Some(Flash {
        text: format!("deploy {canary} to {name}: accepted, pipeline #7"),
        severity: Severity::Success,
        until: NOW + 5_000,
    });
    app
}

fn names() -> [(&'static str, String); 3] {
    [
        ("long", long_name()),
        ("wide", WIDE.to_string()),
        ("escaped", ESCAPED.to_string()),
    ]
}

fn slug(p: PaneId) -> String {
    p.title().to_lowercase()
}

fn snapshot(name: &str, buf: &Buffer) {
    let area = buf.area;
    let text = buffer_text(buf);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("names_{name}_{}x{}", area.width, area.height), text);
    });
}

/// Where the pane borders' corners are: the layout's skeleton.
fn corners(buf: &Buffer) -> BTreeSet<(u16, u16)> {
    let area = buf.area;
    let mut out = BTreeSet::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if matches!(
                buf[(x, y)].symbol(),
                "┌" | "┐" | "└" | "┘" | "╭" | "╮" | "╰" | "╯"
            ) {
                out.insert((x, y));
            }
        }
    }
    out
}

/// No cell holds a control, C1, bidi or separator character.
fn assert_clean(what: &str, buf: &Buffer) {
    let text = buffer_text(buf);
    if let Some(bad) = text.chars().find(|c| {
        (c.is_control() && *c != '\n')
            || matches!(*c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
            || ('\u{202a}'..='\u{202e}').contains(c)
            || ('\u{2066}'..='\u{2069}').contains(c)
    }) {
        panic!("{what}: {bad:?} on screen\n{text}");
    }
}

#[test]
fn long_and_hostile_names_are_cut_with_an_ellipsis_and_keep_the_layout() {
    let theme = Theme::default();
    for (kind, name) in names() {
        for (w, h) in [(120, 40), (80, 24)] {
            let plain = render(&app_named("staging"), &theme, w, h);
            let buf = render(&app_named(&name), &theme, w, h);
            let what = format!("{kind} {w}x{h}");
            assert_clean(&what, &buf);
            assert_eq!(corners(&buf), corners(&plain), "{what}: the panes moved");
            let text = buffer_text(&buf);
            // The header says which environment, cut, and still shows the
            // sources after it; the status bar keeps its place.
            let header = text.lines().next().unwrap_or_default();
            assert!(header.contains("runtime sandbox"), "{what}: {header}");
            assert!(header.contains("runtime ● ok"), "{what}: {header}");
            let status = text.lines().last().unwrap_or_default();
            assert!(
                status.contains("pipeline #7") || status.contains('…'),
                "{what}: {status}"
            );
            if kind == "long" {
                assert!(
                    header.contains('…') && status.contains('…'),
                    "{what}:\n{header}\n{status}"
                );
            }
            snapshot(&format!("{kind}_full"), &buf);
        }
        for p in PaneId::ALL {
            let mut app = app_named(&name);
            app.focus = p;
            app.zoomed = true;
            let buf = render(&app, &theme, 100, 30);
            let what = format!("{kind} {}", slug(p));
            assert_clean(&what, &buf);
            let text = buffer_text(&buf);
            if kind == "long" {
                assert!(text.contains('…'), "{what}: nothing cut\n{text}");
            }
            snapshot(&format!("{kind}_{}", slug(p)), &buf);
        }
    }
}
