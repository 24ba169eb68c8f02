//! Chaos: the scenario catalogue, running experiments with the time they have
//! left, and a results table.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::chaos_fmea::fmea_lines;
use super::{fit_columns, pane_frame, render_lines, table_header, table_row, Align, Column};
use crate::app::state::{App, PaneId};
use crate::domain::chaos::{Experiment, ExperimentResult, ExperimentState};
use crate::ui::text::{clean, fit, format_ago, format_duration_ms};
use crate::ui::theme::Theme;

fn result_cell(e: &Experiment, theme: &Theme) -> (String, Style) {
    match (e.state.clone(), e.result) {
        (ExperimentState::Aborted, _) => ("aborted".into(), theme.warn()),
        (_, Some(ExperimentResult::Resilient)) => ("✓ resilient".into(), theme.ok()),
        (_, Some(ExperimentResult::NoImpact)) => ("○ no impact".into(), theme.info()),
        (_, Some(ExperimentResult::NotRecovered)) => ("✗ not recovered".into(), theme.error()),
        (_, Some(ExperimentResult::SloBreached)) => ("✗ SLO breached".into(), theme.error()),
        (ExperimentState::Recovering, None) => ("recovering".into(), theme.info()),
        (_, None) => ("running".into(), theme.info()),
    }
}

fn running_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    app.experiments
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.state,
                ExperimentState::Running | ExperimentState::Recovering
            )
        })
        .map(|e| {
            let (icon, what) = if e.state == ExperimentState::Running {
                (
                    "↯",
                    format!("{} left", format_duration_ms(e.ends_at - app.now)),
                )
            } else {
                (
                    "◐",
                    format!("recovering for {}", format_duration_ms(app.now - e.ends_at)),
                )
            };
            let detected = e
                .detection_ms
                .map_or("no impact seen yet".to_string(), |d| {
                    format!("impact after {}", format_duration_ms(d))
                });
            Line::from(vec![
                Span::styled(format!("{icon} "), theme.warn()),
                Span::styled(e.scenario.name(), theme.warn().add_modifier(Modifier::BOLD)),
                Span::styled(format!(" on {}", clean(&e.env)), theme.text()),
                Span::styled(
                    format!(" · {what} · {detected} · {}", e.impact_summary()),
                    theme.muted(),
                ),
            ])
        })
        .collect()
}

/// The scenarios the runtime offers, as the chaos picker lists them (the
/// selection indexes both).
fn catalogue_lines(app: &App, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let offered = app.chaos_scenarios();
    let name_w = offered.iter().map(|k| k.name().len()).max().unwrap_or(10);
    let target = app.selected_env().map(|e| clean(&e.name).into_owned());
    offered
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let selected = i == app.chaos_selected;
            let mut l = Line::from(vec![
                Span::styled(if selected { "▸ " } else { "  " }, theme.accent()),
                Span::styled(
                    fit(k.name(), name_w),
                    if selected {
                        theme.text().add_modifier(Modifier::BOLD)
                    } else {
                        theme.text()
                    },
                ),
                Span::styled(format!(" {}", k.description()), theme.muted()),
            ]);
            if selected {
                l.style = theme.selection();
                if let (Some(t), true) = (&target, width > 70) {
                    l.spans
                        .push(Span::styled(format!(" → {t}"), theme.accent()));
                }
            }
            l
        })
        .collect()
}

/// Index of the impact column, which takes the width left over.
const IMPACT: usize = 6;

fn results_lines(app: &App, theme: &Theme, width: usize, max: usize) -> Vec<Line<'static>> {
    let done: Vec<&Experiment> = app
        .experiments
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.state,
                ExperimentState::Completed | ExperimentState::Aborted
            )
        })
        .take(max.saturating_sub(1))
        .collect();
    if done.is_empty() {
        return vec![Line::from(Span::styled(
            "no finished experiments yet",
            theme.muted(),
        ))];
    }
    let cols = [
        Column {
            header: "SCENARIO",
            width: 15,
            align: Align::Left,
            priority: 100,
        },
        Column {
            header: "ENV",
            width: 10,
            align: Align::Left,
            priority: 60,
        },
        Column {
            header: "RESULT",
            width: 15,
            align: Align::Left,
            priority: 90,
        },
        Column {
            header: "DETECT",
            width: 6,
            align: Align::Right,
            priority: 70,
        },
        Column {
            header: "RECOVER",
            width: 7,
            align: Align::Right,
            priority: 80,
        },
        Column {
            header: "WHEN",
            width: 7,
            align: Align::Left,
            priority: 30,
        },
        Column {
            header: "IMPACT",
            width: 20,
            align: Align::Left,
            priority: 50,
        },
    ];
    let keep = fit_columns(&cols, width);
    let mut widths: Vec<usize> = cols.iter().map(|c| c.width).collect();
    // The impact column takes whatever width is left.
    let used: usize = keep.iter().map(|&i| widths[i]).sum::<usize>() + keep.len().saturating_sub(1);
    if keep.contains(&IMPACT) {
        widths[IMPACT] += width.saturating_sub(used);
    }
    let mut lines = vec![table_header(
        &cols,
        &keep,
        &widths,
        theme.muted().add_modifier(Modifier::BOLD),
    )];
    for e in done {
        let cells = vec![
            (e.scenario.name().to_string(), theme.text()),
            (clean(&e.env).into_owned(), theme.text()),
            result_cell(e, theme),
            (
                e.detection_ms.map_or("-".into(), format_duration_ms),
                theme.text(),
            ),
            (
                e.recovery_ms.map_or("-".into(), format_duration_ms),
                theme.text(),
            ),
            (format_ago(app.now - e.started_at), theme.muted()),
            (e.impact_summary(), theme.muted()),
        ];
        lines.push(table_row(&cols, &keep, &cells, &widths));
    }
    lines
}

fn section(title: &str, theme: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        title.to_string(),
        theme.muted().add_modifier(Modifier::BOLD),
    ))
}

pub fn chaos(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let running = running_lines(app, theme);
    let finished = app
        .experiments
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                ExperimentState::Completed | ExperimentState::Aborted
            )
        })
        .count();
    let mut info = vec![Span::styled(format!("{finished} results"), theme.muted())];
    if !running.is_empty() {
        info.insert(
            0,
            Span::styled(format!("{} running · ", running.len()), theme.warn()),
        );
    }
    if let Some(e) = app.selected_env() {
        info.push(Span::styled(
            format!(" · target {}", clean(&e.name)),
            theme.muted(),
        ));
    }
    let inner = pane_frame(frame, area, PaneId::Chaos, info, theme, focused);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let h = inner.height as usize;
    if inner.width >= 160 {
        // Catalogue on the left, experiments on the right.
        let left_w = inner.width * 2 / 5;
        let left = Rect {
            width: left_w,
            ..inner
        };
        let right = Rect {
            x: inner.x + left_w + 1,
            width: inner.width - left_w - 1,
            ..inner
        };
        let mut l = vec![section("scenarios", theme)];
        l.extend(catalogue_lines(app, theme, left.width as usize));
        render_lines(frame, left, l);
        let mut r = Vec::new();
        if !running.is_empty() {
            r.push(section("running", theme));
            r.extend(running);
            r.push(Line::default());
        }
        if let Some(view) = &app.suite {
            // Half the column at most: the results stay in view.
            let room = (h / 2).max(4).min(h.saturating_sub(r.len()));
            r.extend(fmea_lines(view, theme, right.width as usize, room));
            r.push(Line::default());
        }
        r.push(section("results", theme));
        let left_rows = h.saturating_sub(r.len());
        r.extend(results_lines(app, theme, right.width as usize, left_rows));
        render_lines(frame, right, r);
        return;
    }
    let width = inner.width as usize;
    let mut lines = running;
    if let Some(view) = &app.suite {
        lines.extend(fmea_lines(view, theme, width, (h / 2).max(3)));
    }
    let catalogue = catalogue_lines(app, theme, width);
    // The catalogue shrinks to a window around the selection when space is short.
    let reserve = 3.min(h.saturating_sub(lines.len() + 1));
    let cat_room = h.saturating_sub(lines.len() + reserve).min(catalogue.len());
    let start = app
        .chaos_selected
        .saturating_sub(cat_room.saturating_sub(1))
        .min(catalogue.len() - cat_room);
    lines.extend(catalogue.into_iter().skip(start).take(cat_room));
    let left = h.saturating_sub(lines.len());
    if left >= 2 {
        lines.extend(results_lines(app, theme, width, left));
    }
    render_lines(frame, inner, lines);
}
