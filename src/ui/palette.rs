//! Command palette: a `:` input line with the last error and the verbs.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::panes::render_lines;
use super::popup;
use super::text::{chars_to_spans, clean, spans_to_chars, wrap_chars};
use super::theme::Theme;
use crate::app::state::{App, Palette};

/// The verbs the palette understands (the same as the CLI's).
pub const VERBS: &[&str] = &[
    "deploy <env> <version>",
    "promote <from> <to>",
    "rollback <env>",
    "chaos <env> <scenario>",
    "switch <env> canary|stable",
    "undo",
    "filter <regex>",
    "ctx [context]",
    "quit",
];

pub fn palette(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, p: &Palette) {
    let w = area.width.saturating_sub(4).min(76);
    let inner_w = w.saturating_sub(4) as usize;
    let mut hint = Vec::new();
    for (i, v) in VERBS.iter().enumerate() {
        if i > 0 {
            hint.push(Span::styled(" · ", theme.muted()));
        }
        hint.push(Span::styled(v.to_string(), theme.muted()));
    }
    let hint_rows: Vec<Line<'static>> = wrap_chars(&spans_to_chars(&hint), inner_w, inner_w, true)
        .into_iter()
        .map(|r| Line::from(chars_to_spans(&r)))
        .collect();
    let mut lines = vec![Line::from(vec![
        Span::styled(": ", theme.accent().add_modifier(Modifier::BOLD)),
        Span::styled(clean(&p.input).into_owned(), theme.text()),
        Span::styled(" ", theme.text().add_modifier(Modifier::REVERSED)),
    ])];
    match &p.error {
        Some(e) => lines.push(Line::from(Span::styled(
            format!("✗ {}", clean(e)),
            theme.error(),
        ))),
        None => lines.push(Line::default()),
    }
    lines.extend(hint_rows);
    if app.read_only {
        lines.push(Line::from(Span::styled(
            "read-only: deploy, promote, rollback, chaos, switch and undo are refused",
            theme.warn(),
        )));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    // Upper third of the screen, where the eye already is.
    let band = Rect {
        height: (area.height / 2).max(h.min(area.height)),
        ..area
    };
    let title = Line::from(Span::styled(" Command ", theme.title(true)));
    let inner = popup(frame, band, w, h, title, theme.border(true), theme);
    render_lines(frame, inner, lines);
}
