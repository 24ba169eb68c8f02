//! The comparison view and the metrics columns that keep their sources apart.

use super::*;

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
        resilience_score: None,
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
        limits: Default::default(),
        evidence,
        assessment,
        chaos: None,
        resilience: None,
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
