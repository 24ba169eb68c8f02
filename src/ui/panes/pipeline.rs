//! Pipeline: one run (the newest, or an older one scrolled to) with a
//! progress gauge and its stages, then a compact list of other runs. This
//! is the rollouts tab; the build runs tab is `builds.rs`.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::LineGauge;
use ratatui::Frame;

use super::{pane_frame, placeholder, render_lines, wrap_lines};
use crate::app::state::{App, PaneId};
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::ui::text::{clean, fit, fit_right, format_ago, format_duration_ms, str_width};
use crate::ui::theme::Theme;

/// Icon and style for a stage or run status.
pub fn status_icon(s: &StageStatus, theme: &Theme) -> (&'static str, Style) {
    match s {
        StageStatus::Succeeded => ("✓", theme.ok()),
        StageStatus::Failed(_) => ("✗", theme.error()),
        StageStatus::Running => ("●", theme.info()),
        StageStatus::Pending => ("○", theme.muted()),
        StageStatus::Skipped => ("⊘", theme.muted()),
        StageStatus::Cancelled => ("⊗", theme.warn()),
    }
}

pub fn kind_label(k: PipelineKind) -> &'static str {
    match k {
        PipelineKind::Rollout => "rollout",
        PipelineKind::Promotion => "promotion",
        PipelineKind::Rollback => "rollback",
        PipelineKind::Chaos => "chaos",
        PipelineKind::Ci => "ci",
        PipelineKind::Perf => "perf",
        PipelineKind::Comparison => "compare",
        PipelineKind::Container => "container",
    }
}

fn elapsed(run: &PipelineRun, now: i64) -> i64 {
    run.finished_at.unwrap_or(now) - run.started_at
}

fn run_header(run: &PipelineRun, app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let (icon, style) = status_icon(&run.status, theme);
    let title = Line::from(vec![
        Span::styled(format!("#{} ", run.id), theme.muted()),
        Span::styled(
            clean(&run.title).into_owned(),
            theme.text().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(" · {} · {}", kind_label(run.kind), clean(&run.env)),
            theme.muted(),
        ),
    ]);
    let mut status = vec![
        Span::styled(
            format!("{icon} {}", run.status.label()),
            style.add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(" · {}", format_duration_ms(elapsed(run, app.now))),
            theme.text(),
        ),
    ];
    match run.finished_at {
        Some(f) => status.push(Span::styled(
            format!(" · finished {}", format_ago(app.now - f)),
            theme.muted(),
        )),
        None => status.push(Span::styled(
            format!(" · started {}", format_ago(app.now - run.started_at)),
            theme.muted(),
        )),
    }
    if let StageStatus::Failed(reason) = &run.status {
        status.push(Span::styled(format!(" · {}", clean(reason)), theme.error()));
    }
    vec![title, Line::from(status)]
}

fn stage_lines(run: &PipelineRun, app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let name_w = run
        .stages
        .iter()
        .map(|s| str_width(&s.name))
        .max()
        .unwrap_or(4)
        .min(22);
    run.stages
        .iter()
        .map(|s| {
            let (icon, style) = status_icon(&s.status, theme);
            let dur = s
                .duration_ms(app.now)
                .map(format_duration_ms)
                .unwrap_or_default();
            let detail = match (&s.status, s.detail.is_empty()) {
                (StageStatus::Failed(reason), true) => clean(reason).into_owned(),
                (StageStatus::Running, true) if s.progress > 0.0 => {
                    format!("{:.0}%", s.progress * 100.0)
                }
                _ => clean(&s.detail).into_owned(),
            };
            let detail_style = match s.status {
                StageStatus::Failed(_) => theme.error(),
                _ => theme.muted(),
            };
            let name_style = match s.status {
                StageStatus::Running => theme.text().add_modifier(Modifier::BOLD),
                StageStatus::Pending | StageStatus::Skipped => theme.muted(),
                _ => theme.text(),
            };
            Line::from(vec![
                Span::styled(format!(" {icon} "), style),
                Span::styled(fit(&clean(&s.name), name_w), name_style),
                Span::styled(format!(" {} ", fit_right(&dur, 6)), theme.text()),
                Span::styled(detail, detail_style),
            ])
        })
        .collect()
}

fn compact_run(run: &PipelineRun, app: &App, theme: &Theme, selected: bool) -> Line<'static> {
    let (icon, style) = status_icon(&run.status, theme);
    let mut l = Line::from(vec![
        Span::styled(if selected { "▸" } else { " " }, theme.accent()),
        Span::styled(format!("{icon} "), style),
        Span::styled(fit(&format!("#{}", run.id), 4), theme.muted()),
        Span::styled(format!(" {} ", fit(kind_label(run.kind), 9)), theme.text()),
        Span::styled(fit(&clean(&run.env), 10), theme.text()),
        Span::styled(
            format!(
                " {} ",
                fit_right(&format_duration_ms(elapsed(run, app.now)), 6)
            ),
            theme.text(),
        ),
        Span::styled(fit(&format_ago(app.now - run.started_at), 8), theme.muted()),
        Span::styled(format!(" {}", clean(&run.title)), theme.muted()),
    ]);
    if selected {
        l.style = theme.selection();
    }
    l
}

pub fn pipeline(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    if app.builds.tab == crate::app::builds::PipelineTab::Builds {
        return super::builds(frame, area, app, theme, focused);
    }
    let n = app.pipelines.len();
    let scroll = app.pipeline_scroll.min(n.saturating_sub(1));
    let run = n.checked_sub(1 + scroll).and_then(|i| app.pipelines.get(i));
    let info = match run {
        Some(r) if n > 1 => vec![Span::styled(
            format!(
                "#{} {} · {} · run {} of {}",
                r.id,
                kind_label(r.kind),
                clean(&r.env),
                scroll + 1,
                n
            ),
            theme.muted(),
        )],
        Some(r) => vec![Span::styled(
            format!("#{} {} · {}", r.id, kind_label(r.kind), clean(&r.env)),
            theme.muted(),
        )],
        None => vec![],
    };
    let inner = pane_frame(frame, area, PaneId::Pipeline, info, theme, focused);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let Some(run) = run else {
        render_lines(
            frame,
            inner,
            wrap_lines(
                vec![placeholder(
                    "no pipeline runs yet — deploy a version to start one",
                    theme,
                )],
                inner.width as usize,
                1,
            ),
        );
        return;
    };
    let mut y = inner.y;
    let bottom = inner.bottom();
    let header = run_header(run, app, theme);
    let h = (header.len() as u16).min(bottom - y);
    render_lines(
        frame,
        Rect {
            y,
            height: h,
            ..inner
        },
        header,
    );
    y += h;
    if y < bottom {
        let p = run.progress().clamp(0.0, 1.0);
        let gauge = LineGauge::default()
            .ratio(p)
            .label(Span::styled(format!("{:>3.0}% ", p * 100.0), theme.text()))
            .filled_symbol(symbols::line::THICK_HORIZONTAL)
            .unfilled_symbol(symbols::line::HORIZONTAL)
            .filled_style(theme.gauge())
            .unfilled_style(theme.muted());
        frame.render_widget(
            gauge,
            Rect {
                y,
                height: 1,
                ..inner
            },
        );
        y += 1;
    }
    if y >= bottom {
        return;
    }
    let mut lines = stage_lines(run, app, theme);
    let room = (bottom - y) as usize;
    // Other runs, newest first, when at least two of them fit under the stages.
    if n > 1 && room >= lines.len() + 3 {
        lines.push(Line::from(Span::styled(
            "runs",
            theme.muted().add_modifier(Modifier::BOLD),
        )));
        let others = room - lines.len();
        let shown: Vec<Line<'static>> = app
            .pipelines
            .iter()
            .rev()
            .enumerate()
            .take(others)
            .map(|(i, r)| compact_run(r, app, theme, i == scroll))
            .collect();
        lines.extend(shown);
    }
    render_lines(
        frame,
        Rect {
            y,
            height: bottom - y,
            ..inner
        },
        lines,
    );
}
