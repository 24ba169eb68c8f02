//! The bottom line: a flash message while it lasts, the log filter input,
//! or key hints for the focused pane built from the keymap.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::text::{clean, str_width, truncate_line};
use super::theme::Theme;
use crate::app::actions::Action;
use crate::app::builds::PipelineTab;
use crate::app::state::{App, Mode, PaneId, Severity};

/// Short hint labels; the long descriptions live in the action table (help).
fn hint_label(app: &App, action: Action) -> &'static str {
    match action {
        Action::Quit => "quit",
        Action::Help => "help",
        Action::Palette => "palette",
        Action::FocusNext => "next pane",
        Action::Zoom => {
            if app.zoomed {
                "unzoom"
            } else {
                "zoom"
            }
        }
        Action::ScrollUp | Action::ScrollDown => "scroll",
        Action::NextEnv | Action::PrevEnv => "env",
        Action::Deploy => "deploy",
        Action::Promote => "promote",
        Action::Rollback => "rollback",
        Action::SwitchTraffic => "switch",
        Action::Chaos => "chaos",
        Action::UndoFaults => "undo faults",
        Action::LogFilter => "filter",
        Action::ClearFilter => "clear filter",
        Action::ToggleFollow => {
            if app.log_view.follow {
                "pause"
            } else {
                "follow"
            }
        }
        Action::ToggleWrap => "wrap",
        Action::ToggleTimestamps => "local/UTC",
        Action::ToggleEnvFilter => "env only",
        Action::AgentCompose => "ask",
        Action::Bottom => "bottom",
        Action::Top => "top",
        Action::PipelineView => match app.builds.tab {
            PipelineTab::Builds => "rollouts",
            PipelineTab::Rollouts => "builds",
        },
        Action::NextStage => "stage",
        Action::RunPipeline => "run",
        Action::RerunStage => "rerun",
        Action::CancelPipeline => "cancel",
        _ => "",
    }
}

/// The actions worth a hint when `pane` has focus, most useful first.
fn pane_hints(app: &App, pane: PaneId) -> Vec<Action> {
    let mut v = match pane {
        PaneId::Environments => vec![
            Action::NextEnv,
            Action::Deploy,
            Action::Promote,
            Action::Rollback,
            Action::SwitchTraffic,
            Action::Chaos,
        ],
        PaneId::Logs => {
            let mut v = vec![
                Action::LogFilter,
                Action::ToggleFollow,
                Action::ToggleWrap,
                Action::ToggleTimestamps,
                Action::ToggleEnvFilter,
            ];
            if app.log_view.filter.is_some() {
                v.insert(1, Action::ClearFilter);
            }
            v
        }
        PaneId::Pipeline if app.builds.tab == PipelineTab::Builds => vec![
            Action::ScrollUp,
            Action::NextStage,
            Action::RunPipeline,
            Action::RerunStage,
            Action::CancelPipeline,
            Action::PipelineView,
        ],
        PaneId::Pipeline => vec![
            Action::ScrollUp,
            Action::Rollback,
            Action::NextEnv,
            Action::PipelineView,
        ],
        PaneId::Metrics => vec![Action::NextEnv, Action::Deploy, Action::Rollback],
        PaneId::Chaos => vec![
            Action::ScrollUp,
            Action::Chaos,
            Action::UndoFaults,
            Action::NextEnv,
        ],
        PaneId::Agent => vec![Action::AgentCompose, Action::ScrollUp],
    };
    v.extend([
        Action::Zoom,
        Action::FocusNext,
        Action::Palette,
        Action::Help,
        Action::Quit,
    ]);
    v
}

/// Lower is kept first when the bar is too narrow for every hint.
fn hint_priority(a: Action, index: usize) -> usize {
    match a {
        Action::Help => 0,
        Action::Quit => 1,
        Action::Zoom => 100,
        Action::Palette => 101,
        Action::FocusNext => 102,
        _ => 2 + index,
    }
}

/// The hints that fit in `width` columns, in display order; help and quit
/// stay, then the pane's own keys, whole hints only (never a cut one).
pub fn fit_hints(
    pairs: Vec<(Action, String, &'static str)>,
    width: usize,
) -> Vec<(String, &'static str)> {
    let cost = |(_, k, l): &(Action, String, &str)| str_width(k) + 1 + str_width(l) + 3;
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| hint_priority(pairs[i].0, i));
    let mut used = 1;
    let mut keep = vec![false; pairs.len()];
    for i in order {
        let c = cost(&pairs[i]);
        if used + c <= width + 3 {
            used += c;
            keep[i] = true;
        }
    }
    pairs
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((_, k, l), _)| (k, l))
        .collect()
}

/// `key label` pairs for the hints; actions without a bound key are left
/// out, and destructive ones too in read-only mode.
pub fn hints(app: &App, pane: PaneId) -> Vec<(Action, String, &'static str)> {
    pane_hints(app, pane)
        .into_iter()
        .filter(|a| !app.action_disabled(*a))
        .filter_map(|a| {
            let key = app.keymap.keys_for(a).into_iter().next()?;
            Some((a, key, hint_label(app, a)))
        })
        .collect()
}

fn hint_spans(pairs: &[(String, &str)], theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, label)) in pairs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.muted()));
        }
        spans.push(Span::styled(key.clone(), theme.accent()));
        spans.push(Span::styled(format!(" {label}"), theme.muted()));
    }
    spans
}

fn fixed_hints(items: &[(&str, &str)], theme: &Theme) -> Vec<Span<'static>> {
    let pairs: Vec<(String, &str)> = items.iter().map(|(k, l)| (k.to_string(), *l)).collect();
    hint_spans(&pairs, theme)
}

pub fn status_bar(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let spans: Vec<Span<'static>> = match &app.mode {
        Mode::LogFilter { input, error } => {
            let mut s = vec![
                Span::styled(" /", theme.accent()),
                Span::styled(clean(input).into_owned(), theme.text()),
                Span::styled(" ", theme.text().add_modifier(Modifier::REVERSED)),
            ];
            match error {
                Some(e) => s.push(Span::styled(format!("  ✗ {}", clean(e)), theme.error())),
                None => s.extend(fixed_hints(&[("enter", "apply"), ("esc", "cancel")], theme)),
            }
            s
        }
        _ => match app.flash.as_ref().filter(|f| app.steady < f.until) {
            Some(flash) => {
                let (icon, style) = match flash.severity {
                    Severity::Info => ("ℹ", theme.info()),
                    Severity::Success => ("✓", theme.ok()),
                    Severity::Warning => ("⚠", theme.warn()),
                    Severity::Error => ("✗", theme.error()),
                };
                vec![Span::styled(
                    format!(" {icon} {}", clean(&flash.text)),
                    style,
                )]
            }
            None => match &app.mode {
                Mode::Help { .. } | Mode::Comparison { .. } => {
                    fixed_hints(&[("j/k", "scroll"), ("esc", "close")], theme)
                }
                Mode::Palette(_) => fixed_hints(&[("enter", "run"), ("esc", "cancel")], theme),
                Mode::Confirm(c) if c.require_typed.is_some() => {
                    fixed_hints(&[("type the name", "then enter"), ("esc", "cancel")], theme)
                }
                Mode::Confirm(_) => fixed_hints(&[("y", "confirm"), ("n/esc", "cancel")], theme),
                Mode::Picker(_) => fixed_hints(
                    &[("j/k", "move"), ("enter", "choose"), ("esc", "cancel")],
                    theme,
                ),
                Mode::AgentInput => {
                    fixed_hints(&[("enter", "send"), ("esc", "leave the input")], theme)
                }
                Mode::Normal | Mode::LogFilter { .. } => hint_spans(
                    &fit_hints(hints(app, app.focus), area.width as usize),
                    theme,
                ),
            },
        },
    };
    let line = truncate_line(Line::from(spans), area.width as usize);
    frame.render_widget(
        Paragraph::new(line).style(theme.base().patch(Style::new())),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_that_do_not_fit_are_left_out_whole() {
        let pairs = vec![
            (Action::Deploy, "d".to_string(), "deploy"),
            (Action::Rollback, "r".to_string(), "rollback"),
            (Action::Zoom, "enter".to_string(), "zoom"),
            (Action::Help, "?".to_string(), "help"),
            (Action::Quit, "q".to_string(), "quit"),
        ];
        let all = fit_hints(pairs.clone(), 200);
        assert_eq!(all.len(), 5);
        // " d deploy · r rollback · ? help · q quit" is 40 columns.
        let some = fit_hints(pairs.clone(), 40);
        let keys: Vec<&str> = some.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["d", "r", "?", "q"]);
        let few = fit_hints(pairs, 16);
        let keys: Vec<&str> = few.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["?", "q"]);
    }
}
