//! The header line (project, runtime, read-only badge, source states) and the
//! tab bar used on narrow terminals.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::text::{clean, truncate, truncate_line};
use super::theme::Theme;
use crate::app::state::{App, PaneId};
use crate::runtime::SourceState;

/// Widest a project or environment name gets in the header, so the source
/// states after it stay in view.
const MAX_NAME: usize = 32;
const MIN_NAME: usize = 8;

/// Icon, word and style for a source state: `● ok`, `◌ connecting`, `✗ reason`.
pub fn source_spans(
    name: &str,
    state: &SourceState,
    theme: &Theme,
    max_reason: usize,
) -> Vec<Span<'static>> {
    let mut out = vec![Span::styled(format!("{} ", clean(name)), theme.muted())];
    match state {
        SourceState::Ok => out.push(Span::styled("● ok", theme.ok())),
        SourceState::Connecting => out.push(Span::styled("◌ connecting", theme.info())),
        SourceState::Degraded(reason) => {
            let reason = clean(reason);
            out.push(Span::styled(
                format!("✗ {}", truncate(&reason, max_reason)),
                theme.warn(),
            ));
        }
    }
    out
}

pub fn header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![
        Span::styled(
            " blissful-infra",
            theme.accent().add_modifier(Modifier::BOLD),
        ),
        Span::styled(" · ", theme.muted()),
        Span::styled(
            truncate(&clean(&app.config.project), MAX_NAME).into_owned(),
            theme.text().add_modifier(Modifier::BOLD),
        ),
        Span::styled(" · ", theme.muted()),
        Span::styled(
            format!("runtime {}", clean(&app.runtime_name)),
            theme.text(),
        ),
    ];
    if app.read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READ-ONLY ", theme.badge(theme.warn)));
    }
    let mut sources = Vec::new();
    for (name, state) in &app.sources {
        sources.push(Span::styled("  │ ", theme.muted()));
        sources.extend(source_spans(name, state, theme, 48));
    }
    if let Some(env) = app.selected_env() {
        // The environment's name gets what the sources leave, at least a few columns.
        let used: usize = spans.iter().chain(&sources).map(Span::width).sum();
        let room = (area.width as usize)
            .saturating_sub(used + 7)
            .clamp(MIN_NAME, MAX_NAME);
        spans.push(Span::styled(" · env ", theme.muted()));
        spans.push(Span::styled(
            truncate(&clean(&env.name), room).into_owned(),
            theme.text(),
        ));
    }
    spans.extend(sources);
    let line = truncate_line(Line::from(spans), area.width as usize);
    frame.render_widget(Paragraph::new(line).style(theme.base()), area);
}

/// `1 Environments  2 Logs  …` with the focused pane highlighted.
pub fn tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let width = area.width as usize;
    // Full titles when they fit, else the first letters, else digits only.
    let full: usize = PaneId::ALL
        .iter()
        .map(|p| p.title().chars().count() + 4)
        .sum();
    let short = width < full;
    let tiny = width < PaneId::ALL.len() * 7;
    let mut spans = Vec::new();
    for p in PaneId::ALL {
        let label = if tiny {
            format!(" {} ", p.digit())
        } else if short {
            format!(
                " {} {} ",
                p.digit(),
                p.title().chars().take(4).collect::<String>()
            )
        } else {
            format!(" {} {} ", p.digit(), p.title())
        };
        let style = if p == app.focus {
            theme.selection().patch(theme.title(true))
        } else {
            theme.muted()
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    let line = truncate_line(Line::from(spans), width);
    frame.render_widget(Paragraph::new(line).style(theme.base()), area);
}
