//! Help overlay, generated from the action table and the live keymap so it
//! can never disagree with what the keys do.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::panes::render_lines;
use super::popup;
use super::text::{clean, fit};
use super::theme::Theme;
use crate::app::actions::{Scope, ACTIONS};
use crate::app::state::App;

/// Every line of the help text (before scrolling).
pub fn help_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut groups: Vec<&'static str> = Vec::new();
    for s in ACTIONS {
        if !groups.contains(&s.group) {
            groups.push(s.group);
        }
    }
    let keys: Vec<String> = ACTIONS
        .iter()
        .map(|s| app.keymap.keys_for(s.action).join(", "))
        .collect();
    let key_w = keys
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 18);
    let mut lines = Vec::new();
    if app.read_only {
        lines.push(Line::from(Span::styled(
            "READ-ONLY mode: actions marked ! are refused",
            theme.warn(),
        )));
        lines.push(Line::default());
    }
    for g in groups {
        lines.push(Line::from(Span::styled(
            g.to_string(),
            theme.accent().add_modifier(Modifier::BOLD),
        )));
        for (s, k) in ACTIONS.iter().zip(&keys).filter(|(s, _)| s.group == g) {
            let key_span = if k.is_empty() {
                Span::styled(fit("unbound", key_w), theme.muted())
            } else {
                Span::styled(fit(k, key_w), theme.accent())
            };
            let mark = if s.destructive {
                Span::styled(" ! ", theme.error())
            } else {
                Span::raw("   ")
            };
            let desc_style = if s.destructive && app.read_only {
                theme.muted().add_modifier(Modifier::CROSSED_OUT)
            } else if app.action_disabled(s.action) {
                theme.muted()
            } else {
                theme.text()
            };
            let mut l = vec![
                Span::raw("  "),
                key_span,
                mark,
                Span::styled(s.description, desc_style),
            ];
            if let Some(why) = app.unsupported(s.action).filter(|_| !app.read_only) {
                l.push(Span::styled(
                    format!("  (unavailable: {})", clean(&why)),
                    theme.muted(),
                ));
            }
            if let Scope::Pane(p) = s.scope {
                l.push(Span::styled(
                    format!("  ({} pane)", p.title()),
                    theme.muted(),
                ));
            }
            lines.push(Line::from(l));
        }
        lines.push(Line::default());
    }
    lines.push(Line::from(vec![
        Span::styled("! ", theme.error()),
        Span::styled(
            "destructive: asks for confirmation, is written to the audit journal, refused in read-only mode",
            theme.muted(),
        ),
    ]));
    lines.push(Line::from(Span::styled(
        "Keys can be changed under `keymap:` in blissful-infra.yaml.",
        theme.muted(),
    )));
    lines
}

pub fn help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, scroll: u16) {
    let lines = help_lines(app, theme);
    let w = area.width.saturating_sub(4).min(96);
    let h = area.height.saturating_sub(2).min(lines.len() as u16 + 2);
    let inner_h = h.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(inner_h);
    let scroll = (scroll as usize).min(max_scroll);
    let more = if max_scroll > 0 {
        format!(" ↓ {}/{} ", scroll + inner_h.min(lines.len()), lines.len())
    } else {
        String::new()
    };
    let title = Line::from(vec![
        Span::styled(" Help ", theme.title(true)),
        Span::styled(format!("· esc to close {more}"), theme.muted()),
    ]);
    let inner = popup(frame, area, w, h, title, theme.border(true), theme);
    render_lines(frame, inner, lines.into_iter().skip(scroll).collect());
}
