//! The Logs pane on screen: layout-breaking Unicode never reaches a cell in
//! a form the terminal measures differently from ratatui, and the filter
//! index finds lines however far back they are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::Msg;
use blissful_infra::app::state::{App, PaneId};
use blissful_infra::config::Config;
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::runtime::RuntimeEvent;
use blissful_infra::ui::text::char_width;
use blissful_infra::ui::{self, Theme};

fn app(buffer_lines: usize) -> App {
    let mut config = Config::default();
    config.console.log_buffer_lines = buffer_lines;
    let keymap = Keymap::build(&BTreeMap::new()).expect("default keymap");
    let mut app = App::new(
        Arc::new(config),
        "sandbox",
        false,
        keymap,
        1_700_000_000_000,
    );
    app.focus = PaneId::Logs;
    app.zoomed = true;
    app
}

fn push(app: &mut App, ts: i64, text: &str) {
    let line = LogLine::new(
        ts,
        "staging".into(),
        "v1".into(),
        "staging-v1-1".into(),
        Level::Info,
        text,
    );
    app.update(Msg::Runtime(Box::new(RuntimeEvent::Log { line })));
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn draw(term: &mut Terminal<TestBackend>, app: &App) -> Buffer {
    term.draw(|f| ui::draw(f, app, &Theme::default()))
        .expect("draw");
    term.backend().buffer().clone()
}

/// One line per class of layout-breaking character, plain and inside JSON.
const HOSTILE: [&str; 8] = [
    "abc\u{2028}XYZ\u{2029}Lsecret",
    "abc\u{202e}terces\u{202c} \u{2066}x\u{2069} \u{200e}\u{200f}\u{61c}",
    "family \u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}\u{200d}\u{1f466} end",
    "flag \u{1f1fa}\u{1f1f8}\u{1f1e9}\u{1f1ea} end",
    "heart \u{2764}\u{fe0f} thumbs \u{1f44d}\u{1f3fd} key 1\u{fe0f}\u{20e3} end",
    "tags \u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f} end",
    r#"{"msg":"json \u2028 \u202e \ud83d\udc69\u200d\ud83d\udcbb \u2764\ufe0f","k":"\u001b]0;t\u0007"}"#,
    "run \u{1f3c3}\u{200d}\u{2640}\u{fe0f} done",
];

fn is_layout_breaking(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            | '\u{200e}' | '\u{200f}' | '\u{61c}' | '\u{200d}' | '\u{fe0e}' | '\u{fe0f}'
            | '\u{20e3}' | '\u{1f3fb}'..='\u{1f3ff}' | '\u{1f1e6}'..='\u{1f1ff}'
            | '\u{e0000}'..='\u{e007f}'
    ) || c.is_control()
}

/// Every cell is measured the same by ratatui (per grapheme) and by a
/// terminal that adds up each code point's width, and holds nothing from
/// the hostile classes.
fn assert_cells_agree(buf: &Buffer) {
    let area = buf.area;
    for y in area.top()..area.bottom() {
        let mut x = area.left();
        while x < area.right() {
            let sym = buf[(x, y)].symbol();
            assert!(
                !sym.chars().any(is_layout_breaking),
                "cell ({x},{y}) holds {sym:?}"
            );
            let ratatui_w = ratatui::text::Span::raw(sym).width().max(1);
            let terminal_w: usize = sym.chars().map(char_width).sum::<usize>().max(1);
            assert_eq!(ratatui_w, terminal_w, "cell ({x},{y}) {sym:?}");
            x += ratatui_w as u16;
        }
    }
}

#[test]
fn layout_breaking_unicode_leaves_no_stale_cells() {
    let mut a = app(1_000);
    let mut term = Terminal::new(TestBackend::new(100, 20)).expect("terminal");
    for (i, text) in HOSTILE.iter().enumerate() {
        push(&mut a, i as i64, text);
    }
    let hostile = draw(&mut term, &a);
    assert_cells_agree(&hostile);
    let shown: String = (0..20)
        .map(|y| {
            (0..100)
                .map(|x| hostile[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    for visible in [
        "abc␤XYZ¶Lsecret",
        "abc\u{fffd}terces",
        "[US][DE]",
        "k=␛]0;t␇",
    ] {
        assert!(shown.contains(visible), "{visible} missing in\n{shown}");
    }
    // The same terminal, redrawn with plain lines, equals a fresh draw: the
    // diff left nothing behind.
    for i in 0..30 {
        push(&mut a, 100 + i, &format!("plain line {i}"));
    }
    let redrawn = draw(&mut term, &a);
    let fresh = draw(
        &mut Terminal::new(TestBackend::new(100, 20)).expect("terminal"),
        &a,
    );
    assert_eq!(redrawn, fresh);
    // Wrapped, each hostile line may span rows; still no disagreement.
    press(&mut a, KeyCode::Char('w'));
    for (i, text) in HOSTILE.iter().enumerate() {
        push(&mut a, 200 + i as i64, &text.repeat(3));
    }
    assert_cells_agree(&draw(&mut term, &a));
}

#[test]
fn the_filter_index_finds_old_lines_without_scanning() {
    let mut a = app(200_000);
    push(&mut a, 0, r#"{"msg":"needle","status":503}"#);
    for i in 1..120_000 {
        push(&mut a, i, "GET /hello 200");
    }
    press(&mut a, KeyCode::Char('/'));
    for c in "status=503".chars() {
        press(&mut a, KeyCode::Char(c));
    }
    press(&mut a, KeyCode::Enter);
    assert!(a.log_index_is_current());
    let v = ui::panes::visible_log_lines(&a, 10, |_| 1);
    assert!(!v.scan_limited, "the index needs no scan limit");
    let texts: Vec<&str> = v.lines.iter().map(|l| &*l.text).collect();
    assert_eq!(texts, vec![r#"{"msg":"needle","status":503}"#]);
    // A new matching line joins the index as it arrives.
    push(&mut a, 200_000, r#"{"msg":"again","status":503}"#);
    let v = ui::panes::visible_log_lines(&a, 10, |_| 1);
    assert_eq!(v.lines.len(), 2);
    assert_eq!(a.log_index.len(), 2);
}

#[test]
fn cli_tables_print_no_layout_breaking_unicode() {
    let mut t = blissful_infra::cli::output::Table::new(&["NAME", "MESSAGE"]);
    t.row([
        "st\u{202e}gnigats",
        "a\u{2028}b \u{1f1fa}\u{1f1f8} \u{2764}\u{fe0f}",
    ]);
    let out = t.render();
    assert!(
        !out.lines().any(|l| l.chars().any(is_layout_breaking)),
        "{out:?}"
    );
    assert!(out.contains("st\u{fffd}gnigats"), "{out}");
    assert!(out.contains("a␤b [US] \u{2764}"), "{out}");
}
