//! One render function per pane. Each draws its own bordered block whose
//! title reads `<digit> <Title>` plus pane-specific information.

mod agent;
mod builds;
mod builds_log;
mod chaos;
mod chaos_fmea;
mod env_observed;
mod environments;
mod logs;
mod metrics;
mod outage;
mod pipeline;

pub use agent::agent;
pub use builds::builds;
pub use chaos::chaos;
pub use environments::environments;
pub use logs::{logs, visible_log_lines, VisibleLogs, FILTER_SCAN_LIMIT};
pub use metrics::{metrics, spark_scale};
pub use pipeline::pipeline;

use outage::{outage_lines, outage_rows};

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;

use super::text::{chars_to_spans, fit, fit_right, spans_to_chars, truncate_line, wrap_chars};
use super::theme::Theme;
use crate::app::state::{App, PaneId};

pub fn draw_pane(
    frame: &mut Frame,
    pane: PaneId,
    area: Rect,
    app: &App,
    theme: &Theme,
    focused: bool,
) {
    match pane {
        PaneId::Environments => environments(frame, area, app, theme, focused),
        PaneId::Logs => logs(frame, area, app, theme, focused),
        PaneId::Pipeline => pipeline(frame, area, app, theme, focused),
        PaneId::Metrics => metrics(frame, area, app, theme, focused),
        PaneId::Chaos => chaos(frame, area, app, theme, focused),
        PaneId::Agent => agent(frame, area, app, theme, focused),
    }
}

/// Draw the pane's border and title; returns the inner area.
pub(crate) fn pane_frame(
    frame: &mut Frame,
    area: Rect,
    pane: PaneId,
    info: Vec<Span<'static>>,
    theme: &Theme,
    focused: bool,
) -> Rect {
    let mut spans = vec![
        Span::styled(format!(" {}", pane.digit()), theme.accent()),
        Span::styled(format!(" {} ", pane.title()), theme.title(focused)),
    ];
    if !info.is_empty() {
        spans.push(Span::raw(" "));
        spans.extend(info);
        spans.push(Span::raw(" "));
    }
    let title = truncate_line(Line::from(spans), area.width.saturating_sub(2) as usize);
    let border_type = if focused && theme.monochrome {
        BorderType::Thick
    } else {
        BorderType::Rounded
    };
    let block = Block::bordered()
        .border_type(border_type)
        .border_style(theme.border(focused))
        .style(theme.base())
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// Render lines into `area`, each truncated with `…` to the area's width.
pub(crate) fn render_lines(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let w = area.width as usize;
    let lines: Vec<Line<'static>> = lines
        .into_iter()
        .take(area.height as usize)
        .map(|l| truncate_line(l, w))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// Alignment of a table column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A simple column: header, width, alignment, and a priority used to drop
/// columns when the pane is too narrow (lowest goes first).
pub(crate) struct Column {
    pub header: &'static str,
    pub width: usize,
    pub align: Align,
    pub priority: u8,
}

/// Indices of the columns to keep so that they fit in `width` with one
/// space between them; the last kept column may also grow into what is left.
pub(crate) fn fit_columns(cols: &[Column], width: usize) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..cols.len()).collect();
    let total = |keep: &[usize]| -> usize {
        keep.iter().map(|&i| cols[i].width).sum::<usize>() + keep.len().saturating_sub(1)
    };
    while total(&keep) > width && keep.len() > 1 {
        if let Some(pos) = keep
            .iter()
            .enumerate()
            .min_by_key(|(_, &i)| cols[i].priority)
            .map(|(p, _)| p)
        {
            keep.remove(pos);
        }
    }
    keep
}

/// One table row from `(text, style)` cells, for the kept columns.
pub(crate) fn table_row(
    cols: &[Column],
    keep: &[usize],
    cells: &[(String, Style)],
    widths: &[usize],
) -> Line<'static> {
    let mut spans = Vec::with_capacity(keep.len() * 2);
    for (n, &i) in keep.iter().enumerate() {
        if n > 0 {
            spans.push(Span::raw(" "));
        }
        let (text, style) = cells.get(i).cloned().unwrap_or_default();
        let w = widths.get(i).copied().unwrap_or(cols[i].width);
        let s = match cols[i].align {
            Align::Left => fit(&text, w),
            Align::Right => fit_right(&text, w),
        };
        spans.push(Span::styled(s, style));
    }
    Line::from(spans)
}

/// The header row of a table.
pub(crate) fn table_header(
    cols: &[Column],
    keep: &[usize],
    widths: &[usize],
    style: Style,
) -> Line<'static> {
    let cells: Vec<(String, Style)> = cols.iter().map(|c| (c.header.to_string(), style)).collect();
    table_row(cols, keep, &cells, widths)
}

/// Word-wrap lines to `width` columns (continuation rows indented by `indent`).
pub(crate) fn wrap_lines(
    lines: Vec<Line<'static>>,
    width: usize,
    indent: usize,
) -> Vec<Line<'static>> {
    let indent = indent.min(width.saturating_sub(1));
    let mut out = Vec::new();
    for l in lines {
        let chars = spans_to_chars(&l.spans);
        for (i, row) in wrap_chars(
            &chars,
            width.max(1),
            width.saturating_sub(indent).max(1),
            true,
        )
        .into_iter()
        .enumerate()
        {
            let mut spans = if i == 0 {
                vec![]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.extend(chars_to_spans(&row));
            let mut line = Line::from(spans);
            line.style = l.style;
            out.push(line);
        }
    }
    out
}

/// A line of muted text, for empty panes.
pub(crate) fn placeholder(text: &str, theme: &Theme) -> Line<'static> {
    Line::from(Span::styled(format!(" {text}"), theme.muted()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::text::plain;

    fn col(width: usize, priority: u8) -> Column {
        Column {
            header: "H",
            width,
            align: Align::Left,
            priority,
        }
    }

    #[test]
    fn lowest_priority_columns_go_first() {
        let cols = [col(10, 100), col(5, 10), col(5, 50), col(5, 20)];
        assert_eq!(fit_columns(&cols, 100), vec![0, 1, 2, 3]);
        assert_eq!(fit_columns(&cols, 22), vec![0, 2, 3]);
        assert_eq!(fit_columns(&cols, 16), vec![0, 2]);
        assert_eq!(fit_columns(&cols, 3), vec![0]);
    }

    #[test]
    fn rows_pad_and_truncate_cells() {
        let cols = [
            col(4, 1),
            Column {
                align: Align::Right,
                ..col(3, 1)
            },
        ];
        let cells = vec![
            ("abcdef".to_string(), Style::new()),
            ("7".to_string(), Style::new()),
        ];
        let l = table_row(&cols, &[0, 1], &cells, &[4, 3]);
        assert_eq!(plain(&l.spans), "abc…   7");
    }

    #[test]
    fn wrapped_lines_keep_words_and_indent() {
        let l = Line::from("alpha beta gamma");
        let rows = wrap_lines(vec![l], 11, 2);
        let text: Vec<String> = rows.iter().map(|r| plain(&r.spans)).collect();
        assert_eq!(text, vec!["alpha beta ", "  gamma"]);
    }
}
