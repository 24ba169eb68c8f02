//! Under the stages: a failed stage's first failing test or top finding,
//! then the followed log (a local stage's log, a Jenkins build's
//! console), newest line last. Lines were sanitised and coloured by the
//! builds source; coloured pieces take the theme's styles.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::wrap_lines;
use crate::app::state::App;
use crate::highlight::{Painted, Tok};
use crate::pipeline::summary::first_failure;
use crate::pipeline::{StageRecord, StageStatus};
use crate::sources::builds::Origin;
use crate::ui::text::{clean, format_count, sgr_to_spans};
use crate::ui::theme::Theme;

/// Most rows the failure takes.
const FAILURE_ROWS: usize = 3;

fn tok_style(t: Tok, theme: &Theme) -> Style {
    match t {
        Tok::Plain => theme.text(),
        Tok::Key => theme.accent(),
        Tok::Str => theme.info(),
        Tok::Literal => theme.warn(),
        Tok::Comment => theme.muted(),
        Tok::Added => theme.ok(),
        Tok::Removed => theme.error(),
        Tok::Header => theme.accent().add_modifier(Modifier::BOLD),
    }
}

/// One log line as spans (no escape reaches the terminal: SGR text goes
/// through `sgr_to_spans`, coloured pieces through `clean`).
pub fn painted_line(p: &Painted, theme: &Theme) -> Line<'static> {
    match p {
        Painted::Sgr(s) => Line::from(sgr_to_spans(s, theme.text())),
        Painted::Tokens(t) => Line::from(
            t.iter()
                .map(|(tok, s)| Span::styled(clean(s).into_owned(), tok_style(*tok, theme)))
                .collect::<Vec<_>>(),
        ),
    }
}

fn header(app: &App, stage: Option<&StageRecord>, theme: &Theme) -> Line<'static> {
    let log = &app.builds.log;
    let what = match (log.key.as_ref(), stage) {
        (Some(k), _) if k.run.origin == Origin::Jenkins => format!("console of #{}", k.run.id),
        (_, Some(s)) => format!("{} log", clean(&s.name)),
        _ => "log".to_string(),
    };
    let mut text = format!("── {what} · {} lines", format_count(log.lines.len() as u64));
    if log.dropped > 0 {
        text.push_str(&format!(" · {} dropped", format_count(log.dropped)));
    }
    if log.scroll_from_bottom > 0 {
        text.push_str(&format!(" · ↑{}", log.scroll_from_bottom));
    }
    text.push_str(" ──");
    Line::from(Span::styled(text, theme.muted()))
}

/// A failed stage's first failure, in at most `FAILURE_ROWS` rows.
fn failure(s: &StageRecord, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    if s.status != StageStatus::Failed {
        return Vec::new();
    }
    let Some(first) = first_failure(s) else {
        return Vec::new();
    };
    let mut spans = vec![Span::styled(
        format!("✗ FAILED {}", clean(&first)),
        theme.error().add_modifier(Modifier::BOLD),
    )];
    let more = s
        .junit
        .as_ref()
        .map(|j| (j.failed + j.errors).saturating_sub(1))
        .unwrap_or(0);
    if more > 0 {
        spans.push(Span::styled(
            format!(" (+{more} more failing)"),
            theme.muted(),
        ));
    }
    let mut rows = wrap_lines(vec![Line::from(spans)], width, 2);
    rows.truncate(FAILURE_ROWS);
    rows
}

/// The rows under the stages, for `area`.
pub fn log_rows(
    app: &App,
    stage: Option<&StageRecord>,
    area: Rect,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let log = &app.builds.log;
    let height = area.height as usize;
    let mut out = vec![header(app, stage, theme)];
    if let Some(s) = stage {
        out.extend(failure(s, area.width as usize, theme));
    }
    if let Some(p) = &log.problem {
        out.push(Line::from(Span::styled(
            format!("⚠ {}", clean(p)),
            theme.warn(),
        )));
    }
    if log.key.is_none() {
        if let Some(s) = stage {
            let why = s
                .reason
                .as_deref()
                .map(|r| format!(" ({})", clean(r)))
                .unwrap_or_default();
            out.push(Line::from(Span::styled(
                format!("no log: {} {}{why}", clean(&s.name), s.status.as_str()),
                theme.muted(),
            )));
        }
    }
    let room = height.saturating_sub(out.len());
    let end = log.lines.len().saturating_sub(log.scroll_from_bottom);
    let start = end.saturating_sub(room);
    out.extend(log.lines.range(start..end).map(|p| painted_line(p, theme)));
    out.truncate(height);
    out
}
