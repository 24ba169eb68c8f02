//! Picker: choose one item (a version to deploy, a chaos scenario).

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::panes::render_lines;
use super::popup;
use super::text::{clean, fit, str_width};
use super::theme::Theme;
use crate::app::state::{App, Picker};

pub fn picker(frame: &mut Frame, area: Rect, _app: &App, theme: &Theme, p: &Picker) {
    let w = area.width.saturating_sub(4).min(72);
    let h = (p.items.len() as u16 + 4).min(area.height.saturating_sub(2).max(3));
    let title = Line::from(vec![
        Span::styled(format!(" {} ", clean(&p.title)), theme.title(true)),
        Span::styled(format!("→ {} ", clean(&p.env)), theme.accent()),
    ]);
    let inner = popup(frame, area, w, h, title, theme.border(true), theme);
    if inner.height == 0 {
        return;
    }
    // Items get every row but the last, which holds the hint.
    let rows = (inner.height as usize).saturating_sub(1).max(1);
    let selected = p.selected.min(p.items.len().saturating_sub(1));
    let start = selected.saturating_sub(rows.saturating_sub(1));
    let value_w = p
        .items
        .iter()
        .map(|(v, _)| str_width(v))
        .max()
        .unwrap_or(4)
        .min(24);
    let mut lines: Vec<Line<'static>> = p
        .items
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, (value, desc))| {
            let sel = i == selected;
            let mut l = Line::from(vec![
                Span::styled(if sel { "▸ " } else { "  " }, theme.accent()),
                Span::styled(
                    fit(&clean(value), value_w),
                    if sel {
                        theme.text().add_modifier(Modifier::BOLD)
                    } else {
                        theme.text()
                    },
                ),
                Span::styled(format!("  {}", clean(desc)), theme.muted()),
            ]);
            if sel {
                l.style = theme.selection();
            }
            l
        })
        .collect();
    if p.items.is_empty() {
        lines.push(Line::from(Span::styled(
            "nothing to choose from",
            theme.muted(),
        )));
    }
    if inner.height > 1 {
        lines.truncate(rows);
        while lines.len() < rows {
            lines.push(Line::default());
        }
        lines.push(Line::from(vec![
            Span::styled("enter", theme.accent()),
            Span::styled(" choose · ", theme.muted()),
            Span::styled("esc", theme.accent()),
            Span::styled(" cancel", theme.muted()),
        ]));
    }
    render_lines(frame, inner, lines);
}
