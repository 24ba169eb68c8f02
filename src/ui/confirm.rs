//! Confirmation dialog for destructive actions.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::panes::render_lines;
use super::popup;
use super::text::{chars_to_spans, clean, spans_to_chars, wrap_chars};
use super::theme::Theme;
use crate::app::state::{App, ConfirmDialog};

pub fn confirm(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, c: &ConfirmDialog) {
    let w = area.width.saturating_sub(4).min(70);
    let inner_w = w.saturating_sub(4) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for l in &c.lines {
        let chars = spans_to_chars(&[Span::styled(clean(l).into_owned(), theme.text())]);
        lines.extend(
            wrap_chars(&chars, inner_w, inner_w.saturating_sub(2), true)
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut s = if i == 0 {
                        vec![]
                    } else {
                        vec![Span::raw("  ")]
                    };
                    s.extend(chars_to_spans(&r));
                    Line::from(s)
                }),
        );
    }
    lines.push(Line::default());
    if app.read_only {
        lines.push(Line::from(Span::styled(
            "read-only mode: this will be refused",
            theme.warn(),
        )));
    }
    if let Some(reason) = &c.reason {
        let style = if c.editing_reason {
            theme.text().add_modifier(Modifier::BOLD)
        } else {
            theme.muted()
        };
        let mut l = vec![
            Span::styled("Reason: ", theme.warn()),
            Span::styled(clean(reason).into_owned(), style),
        ];
        if c.editing_reason {
            l.push(Span::styled(
                " ",
                theme.text().add_modifier(Modifier::REVERSED),
            ));
        }
        lines.push(Line::from(l));
        if c.require_typed.is_some() {
            lines.push(Line::from(Span::styled(
                "tab: edit the reason / type the name",
                theme.muted(),
            )));
        }
    }
    match &c.require_typed {
        Some(name) if !c.editing_reason => {
            let matches = c.typed == *name;
            lines.push(Line::from(vec![
                Span::styled(
                    format!("Type \"{}\" to confirm: ", clean(name)),
                    theme.warn(),
                ),
                Span::styled(
                    clean(&c.typed).into_owned(),
                    theme.text().add_modifier(Modifier::BOLD),
                ),
                Span::styled(" ", theme.text().add_modifier(Modifier::REVERSED)),
                Span::styled(if matches { "  ✓ enter" } else { "" }, theme.ok()),
            ]));
            lines.push(Line::from(Span::styled("esc cancel", theme.muted())));
        }
        _ if c.reason.is_some() => lines.push(Line::from(vec![
            Span::styled("enter", theme.accent()),
            Span::styled(" confirm · ", theme.muted()),
            Span::styled("esc", theme.accent()),
            Span::styled(" cancel", theme.muted()),
        ])),
        _ => lines.push(Line::from(vec![
            Span::styled("y", theme.accent()),
            Span::styled(" confirm · ", theme.muted()),
            Span::styled("n/esc", theme.accent()),
            Span::styled(" cancel", theme.muted()),
        ])),
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let title = Line::from(Span::styled(
        format!(" ! {} ", clean(&c.title)),
        theme.warn(),
    ));
    let inner = popup(frame, area, w, h, title, theme.warn(), theme);
    render_lines(frame, inner, lines);
}
