//! The Pipeline pane's build runs: the runs list (local and Jenkins,
//! newest first) beside the selected run's stages, then the selected
//! stage's failing test or finding and its log (`builds_log.rs`). On a
//! narrow pane the list goes above the stages.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::builds_log::log_rows;
use super::{outage_rows, pane_frame, placeholder, render_lines, wrap_lines};
use crate::app::state::{App, PaneId};
use crate::pipeline::summary::counts;
use crate::pipeline::{RunRecord, RunStatus, StageRecord, StageStatus};
use crate::sources::builds::Origin;
use crate::ui::text::{clean, fit, fit_right, format_ago, format_duration_ms, str_width};
use crate::ui::theme::Theme;

/// Below this width the runs list goes above the stages.
const SIDE_BY_SIDE: u16 = 100;
/// Cells of a running stage's progress bar.
const BAR: usize = 10;

pub fn run_icon(s: RunStatus, theme: &Theme) -> (&'static str, Style) {
    match s {
        RunStatus::Running => ("●", theme.info()),
        RunStatus::Passed => ("✓", theme.ok()),
        RunStatus::Failed => ("✗", theme.error()),
        RunStatus::Cancelled | RunStatus::Interrupted => ("⊗", theme.warn()),
    }
}

pub fn stage_icon(s: StageStatus, theme: &Theme) -> (&'static str, Style) {
    match s {
        StageStatus::Running => ("●", theme.info()),
        StageStatus::Passed => ("✓", theme.ok()),
        StageStatus::Failed => ("✗", theme.error()),
        StageStatus::Cancelled => ("⊗", theme.warn()),
        StageStatus::Skipped => ("⊘", theme.muted()),
        StageStatus::Pending => ("○", theme.muted()),
        StageStatus::NotRun => ("·", theme.muted()),
    }
}

fn run_ms(r: &RunRecord, now: i64) -> i64 {
    r.ended_ms.unwrap_or(now) - r.started_ms
}

fn stage_ms(s: &StageRecord, now: i64) -> Option<i64> {
    let start = s.started_ms?;
    Some(match s.ended_ms {
        Some(e) => e - start,
        None if s.status == StageStatus::Running => now - start,
        None => return None,
    })
}

fn title_info(app: &App, n: usize, theme: &Theme) -> Vec<Span<'static>> {
    let key = app
        .keymap
        .keys_for(crate::app::actions::Action::PipelineView)
        .into_iter()
        .next()
        .map(|k| format!(" · {k}: rollouts"))
        .unwrap_or_default();
    vec![
        Span::styled("builds", theme.accent()),
        Span::styled(
            format!(" · {n} run{}{key}", if n == 1 { "" } else { "s" }),
            theme.muted(),
        ),
    ]
}

pub fn builds(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let b = &app.builds;
    let runs = b.runs();
    let inner = pane_frame(
        frame,
        area,
        PaneId::Pipeline,
        title_info(app, runs.len(), theme),
        theme,
        focused,
    );
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let sources = [
        crate::sources::builds::SOURCE_NAME,
        crate::sources::jenkins::SOURCE_NAME,
    ];
    let inner = outage_rows(frame, inner, app, &sources, theme);
    if runs.is_empty() {
        let text = if app.config.pipeline.stages.is_empty() {
            "no build runs yet — add pipeline.stages to blissful-infra.yaml (or jenkins: to watch a job)".to_string()
        } else {
            let key = app
                .keymap
                .keys_for(crate::app::actions::Action::RunPipeline)
                .into_iter()
                .next()
                .unwrap_or_default();
            format!("no build runs yet — {key} runs the pipeline here")
        };
        let lines = vec![placeholder(&text, theme)];
        render_lines(frame, inner, wrap_lines(lines, inner.width as usize, 1));
        return;
    }
    let selected = b.selected_index();
    let (list, detail) = if inner.width >= SIDE_BY_SIDE {
        let w = (inner.width * 2 / 5).clamp(30, 48);
        (
            Rect { width: w, ..inner },
            Rect {
                x: inner.x + w + 1,
                width: inner.width - w - 1,
                ..inner
            },
        )
    } else {
        let h = (runs.len() as u16).clamp(1, 4).min(inner.height / 3).max(1);
        (
            Rect { height: h, ..inner },
            Rect {
                y: inner.y + h,
                height: inner.height - h,
                ..inner
            },
        )
    };
    // Keep the selected run in view.
    let skip = selected.saturating_sub(list.height.saturating_sub(1) as usize);
    let rows: Vec<Line<'static>> = runs
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, (o, r))| run_row(*o, r, app, theme, i == selected))
        .collect();
    render_lines(frame, list, rows);
    if let Some((origin, run)) = b.selected_run() {
        run_detail(frame, detail, app, theme, origin, run);
    }
}

fn run_row(o: Origin, r: &RunRecord, app: &App, theme: &Theme, selected: bool) -> Line<'static> {
    let (icon, style) = run_icon(r.status, theme);
    let mut l = Line::from(vec![
        Span::styled(if selected { "▸" } else { " " }, theme.accent()),
        Span::styled(format!("{icon} "), style),
        Span::styled(fit(o.label(), 7), theme.muted()),
        Span::styled(fit(&format!(" #{}", r.id), 6), theme.text()),
        Span::styled(format!(" {}", fit(r.status.as_str(), 11)), style),
        Span::styled(
            fit_right(&format_duration_ms(run_ms(r, app.now)), 6),
            theme.text(),
        ),
        Span::styled(
            format!("  {}", format_ago(app.now - r.started_ms)),
            theme.muted(),
        ),
    ]);
    if selected {
        l.style = theme.selection();
    }
    l
}

fn run_detail(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    origin: Origin,
    run: &RunRecord,
) {
    if area.height == 0 {
        return;
    }
    let (icon, style) = run_icon(run.status, theme);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{icon} "), style),
        Span::styled(
            format!("{} #{}", origin.label(), run.id),
            theme.text().add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!(" {}", run.status.as_str()), style),
        Span::styled(
            format!(
                " · {} · started {} · {}",
                format_duration_ms(run_ms(run, app.now)),
                format_ago(app.now - run.started_ms),
                clean(&run.config)
            ),
            theme.muted(),
        ),
    ])];
    let stage = app.builds.selected_stage();
    let name_w = run
        .stages
        .iter()
        .map(|s| str_width(&s.name))
        .max()
        .unwrap_or(4)
        .min(18);
    // The stages get what the log leaves them, the log at least a third.
    let room = (area.height as usize).saturating_sub(1);
    let max_stages = room.saturating_sub(room / 3).max(1);
    let sel = stage.and_then(|s| run.stages.iter().position(|x| x.name == s.name));
    let skip = sel.map_or(0, |i| i.saturating_sub(max_stages.saturating_sub(1)));
    lines.extend(
        run.stages
            .iter()
            .enumerate()
            .skip(skip)
            .take(max_stages)
            .map(|(i, s)| stage_row(s, origin, app, theme, name_w, Some(i) == sel)),
    );
    let used = lines.len() as u16;
    render_lines(
        frame,
        Rect {
            height: used.min(area.height),
            ..area
        },
        lines,
    );
    if used < area.height {
        let rest = Rect {
            y: area.y + used,
            height: area.height - used,
            ..area
        };
        render_lines(frame, rest, log_rows(app, stage, rest, theme));
    }
}

fn stage_row(
    s: &StageRecord,
    origin: Origin,
    app: &App,
    theme: &Theme,
    name_w: usize,
    selected: bool,
) -> Line<'static> {
    let (icon, style) = stage_icon(s.status, theme);
    let dur = stage_ms(s, app.now)
        .map(format_duration_ms)
        .unwrap_or_else(|| "-".into());
    let name_style = match s.status {
        StageStatus::Running => theme.text().add_modifier(Modifier::BOLD),
        StageStatus::Pending | StageStatus::NotRun | StageStatus::Skipped => theme.muted(),
        _ => theme.text(),
    };
    let mut spans = vec![
        Span::styled(if selected { "▸" } else { " " }, theme.accent()),
        Span::styled(format!("{icon} "), style),
        Span::styled(fit(&clean(&s.name), name_w), name_style),
        Span::styled(format!(" {} ", fit_right(&dur, 6)), theme.text()),
    ];
    if s.status == StageStatus::Running {
        spans.extend(progress(s, origin, app, theme));
    }
    let detail = stage_detail(s);
    if !detail.is_empty() {
        let st = match s.status {
            StageStatus::Failed => theme.error(),
            _ => theme.muted(),
        };
        spans.push(Span::styled(clean(&detail).into_owned(), st));
    }
    let mut l = Line::from(spans);
    if selected {
        l.style = theme.selection();
    }
    l
}

/// `▰▰▰▰▰▰▱▱▱▱ 60% ` against the stage's last green duration.
fn progress(s: &StageRecord, origin: Origin, app: &App, theme: &Theme) -> Vec<Span<'static>> {
    let (Some(elapsed), Some(expected)) = (
        stage_ms(s, app.now),
        app.builds.expected_ms(origin, &s.name),
    ) else {
        return Vec::new();
    };
    let ratio = (elapsed as f64 / expected.max(1) as f64).clamp(0.0, 0.99);
    let filled = (ratio * BAR as f64).round() as usize;
    vec![
        Span::styled("▰".repeat(filled), theme.gauge()),
        Span::styled("▱".repeat(BAR - filled), theme.muted()),
        Span::styled(format!(" {:>2.0}% ", ratio * 100.0), theme.text()),
    ]
}

/// Counts, then the reason (unless it only repeats the failing tests).
fn stage_detail(s: &StageRecord) -> String {
    let mut bits = counts(s);
    if let Some(r) = &s.reason {
        let repeats =
            s.junit.as_ref().is_some_and(|j| j.has_failures()) && r.contains("tests failed");
        if !repeats {
            bits.push(r.clone());
        }
    }
    if s.log_dropped > 0 {
        bits.push(format!("log: {} lines dropped", s.log_dropped));
    }
    bits.join(" · ")
}
