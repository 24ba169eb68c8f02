//! The whole screen, each pane zoomed and focused, each overlay, themes and
//! small terminals.

use super::*;

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
