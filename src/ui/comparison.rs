//! The comparison view: old and new side by side (stages, live sparklines of
//! the load each side gets), then the verdict table with the thresholds and
//! the statistics behind the winner.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Sparkline;
use ratatui::Frame;

use super::panes::{render_lines, spark_scale};
use super::popup;
use super::text::{clean, fit, fit_right};
use super::theme::Theme;
use crate::app::state::{App, ComparisonView};
use crate::compare::ComparisonReport;
use crate::domain::comparison::{MetricRow, RowStatus, Verdict};
use crate::domain::metrics::{MetricPoint, MetricSeries};
use crate::domain::pipeline::StageStatus;

/// A sparkline row: label, value, how to print it, zero-based scale.
struct Row {
    label: &'static str,
    value: fn(&MetricPoint) -> f64,
    show: fn(f64) -> String,
    zero_based: bool,
}

const ROWS: [Row; 4] = [
    Row {
        label: "req/s",
        value: |p| p.rps,
        show: |v| format!("{v:.0}"),
        zero_based: false,
    },
    Row {
        label: "p95",
        value: |p| p.p95_ms,
        show: |v| format!("{v:.1}ms"),
        zero_based: false,
    },
    Row {
        label: "p99",
        value: |p| p.p99_ms,
        show: |v| format!("{v:.1}ms"),
        zero_based: false,
    },
    Row {
        label: "errors",
        value: |p| p.error_rate,
        show: |v| format!("{:.2}%", v * 100.0),
        zero_based: true,
    },
];

fn stage_mark(status: &StageStatus, theme: &Theme) -> Span<'static> {
    match status {
        StageStatus::Pending => Span::styled("○", theme.muted()),
        StageStatus::Running => Span::styled("●", theme.accent()),
        StageStatus::Succeeded => Span::styled("✓", theme.ok()),
        StageStatus::Failed(_) => Span::styled("✗", theme.error()),
        StageStatus::Skipped | StageStatus::Cancelled => Span::styled("–", theme.muted()),
    }
}

fn stages_line(view: &ComparisonView, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, s) in view.run.stages.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" → ", theme.muted()));
        }
        spans.push(stage_mark(&s.status, theme));
        spans.push(Span::styled(format!(" {}", clean(&s.name)), theme.text()));
    }
    Line::from(spans)
}

/// The newest detail of a stage (what is going on right now).
fn current_detail(view: &ComparisonView) -> Option<String> {
    view.run
        .stages
        .iter()
        .rev()
        .find(|s| !s.detail.is_empty())
        .map(|s| format!("{}: {}", s.name, s.detail))
}

fn draw_side(
    frame: &mut Frame,
    area: Rect,
    title: Line<'static>,
    series: &MetricSeries,
    theme: &Theme,
) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    render_lines(frame, Rect { height: 1, ..area }, vec![title]);
    let label_w: u16 = 16;
    for (i, row) in ROWS.iter().enumerate() {
        let y = area.y + 1 + i as u16;
        if y >= area.bottom() {
            break;
        }
        let value = series.last().map(row.value).map_or("-".into(), row.show);
        let label = Line::from(vec![
            Span::styled(fit(row.label, 7), theme.muted()),
            Span::styled(
                fit_right(&value, 8),
                theme.text().add_modifier(Modifier::BOLD),
            ),
        ]);
        render_lines(
            frame,
            Rect {
                y,
                height: 1,
                width: label_w.min(area.width),
                ..area
            },
            vec![label],
        );
        let spark_w = area.width.saturating_sub(label_w + 1);
        if spark_w == 0 {
            continue;
        }
        let data = spark_scale(&series.tail(spark_w as usize, row.value), row.zero_based);
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .max(100)
                .style(theme.sparkline()),
            Rect {
                x: area.x + label_w + 1,
                y,
                width: spark_w,
                height: 1,
            },
        );
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

fn metric_label(metric: &str) -> &str {
    match metric {
        "p95_ms" => "p95 (ms)",
        "p99_ms" => "p99 (ms)",
        "throughput_rps" => "throughput (req/s)",
        "error_rate" => "error rate",
        "cpu_pct" => "cpu (%)",
        "mem_mib" => "memory (MiB)",
        "resilience_score" => "resilience",
        other => other,
    }
}

fn verdict_row(r: &MetricRow, theme: &Theme) -> Line<'static> {
    let d = match r.metric {
        "error_rate" => 4,
        "throughput_rps" | "cpu_pct" | "mem_mib" | "resilience_score" => 1,
        _ => 2,
    };
    let status = r.status.label();
    let style = match r.status {
        RowStatus::Ok => theme.ok(),
        RowStatus::Fail => theme.error().add_modifier(Modifier::BOLD),
        RowStatus::Warning => theme.warn(),
        RowStatus::ReportOnly => theme.muted(),
    };
    let rule = match (&r.threshold, &r.limit) {
        (Some(t), Some(l)) => format!("{t}; {l}"),
        (Some(t), None) => t.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => "(report only)".into(),
    };
    let pct = match r.diff_pct {
        Some(p) if p.is_finite() => format!("{p:+.1}%"),
        _ => "-".into(),
    };
    Line::from(vec![
        Span::styled(fit(metric_label(r.metric), 19), theme.text()),
        Span::styled(fit_right(&num(r.old, d), 10), theme.text()),
        Span::styled(fit_right(&num(r.new, d), 10), theme.text()),
        Span::styled(fit_right(&pct, 9), theme.text()),
        Span::raw("  "),
        Span::styled(fit(status, 5), style),
        Span::styled(clean(&rule).into_owned(), theme.muted()),
    ])
}

fn verdict_style(v: Verdict, theme: &Theme) -> Style {
    match v {
        Verdict::NewWins => theme.ok(),
        Verdict::OldWins => theme.error(),
        Verdict::NoSignificantDifference => theme.warn(),
    }
    .add_modifier(Modifier::BOLD)
}

fn report_lines(r: &ComparisonReport, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("verdict ", theme.muted()),
        Span::styled(
            r.assessment.verdict.label().to_string(),
            verdict_style(r.assessment.verdict, theme),
        ),
        Span::styled(
            if r.assessment.thresholds_passed {
                "  · every threshold holds".to_string()
            } else {
                "  · a threshold failed".to_string()
            },
            if r.assessment.thresholds_passed {
                theme.ok()
            } else {
                theme.error()
            },
        ),
    ])];
    lines.push(Line::from(Span::styled(
        format!(
            "{}{}{}{}  {}  {}",
            fit("metric", 19),
            fit_right("old", 10),
            fit_right("new", 10),
            fit_right("diff", 9),
            fit("", 5),
            "threshold"
        ),
        theme.muted().add_modifier(Modifier::UNDERLINED),
    )));
    lines.extend(r.assessment.rows.iter().map(|row| verdict_row(row, theme)));
    let mw = &r.evidence.mann_whitney;
    lines.push(Line::from(Span::styled(
        format!(
            "latency: Mann-Whitney U p = {} (n = {} / {}); p95 difference 95% CI {}",
            mw.as_ref()
                .map_or("-".into(), |m| format!("{:.4}", m.p_value)),
            r.old.samples,
            r.new.samples,
            r.evidence
                .p95_diff_ci_ms
                .as_ref()
                .map_or("-".into(), |ci| format!(
                    "[{:+.2}, {:+.2}] ms",
                    ci.low, ci.high
                )),
        ),
        theme.muted(),
    )));
    for reason in &r.assessment.reasons {
        lines.push(Line::from(vec![
            Span::styled("  · ", theme.muted()),
            Span::styled(clean(reason).into_owned(), theme.text()),
        ]));
    }
    for warning in &r.assessment.warnings {
        lines.push(Line::from(vec![
            Span::styled("  warning ", theme.warn()),
            Span::styled(clean(warning).into_owned(), theme.text()),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("promotion ", theme.muted()),
        Span::styled(clean(&r.promotion.message).into_owned(), theme.text()),
    ]));
    lines
}

pub fn comparison(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, scroll: u16) {
    let Some(view) = &app.comparison else {
        return;
    };
    let state = match &view.outcome {
        None => Span::styled("running", theme.accent()),
        Some(Ok(_)) => Span::styled("done", theme.ok()),
        Some(Err(_)) => Span::styled("failed", theme.error()),
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" Compare {} → {} ", clean(&view.old), clean(&view.new)),
            theme.title(true),
        ),
        state,
        Span::styled(
            format!(" · promote to {} ", clean(&view.env)),
            theme.muted(),
        ),
    ]);
    let mut top = vec![stages_line(view, theme)];
    if let Some(d) = current_detail(view) {
        top.push(Line::from(Span::styled(
            clean(&d).into_owned(),
            theme.muted(),
        )));
    }
    let lines = match &view.outcome {
        None => vec![Line::from(Span::styled(
            "the verdict table appears when both sides have been measured",
            theme.muted(),
        ))],
        Some(Err(e)) => vec![Line::from(vec![
            Span::styled("failed: ", theme.error()),
            Span::styled(clean(e).into_owned(), theme.text()),
        ])],
        Some(Ok(r)) => report_lines(r, theme),
    };
    // As tall as its content (borders, top, gap, sparklines, gap, body).
    let wanted = 2 + top.len() + 1 + (ROWS.len() + 1) + 1 + lines.len();
    let h = (wanted as u16).min(area.height);
    let w = area.width.min(130);
    let inner = popup(frame, area, w, h, title, theme.border(true), theme);
    if inner.height < 3 || inner.width < 10 {
        return;
    }
    let top_h = (top.len() as u16).min(inner.height);
    render_lines(
        frame,
        Rect {
            height: top_h,
            ..inner
        },
        top,
    );
    // Two columns of sparklines: old left, new right.
    let sides_y = inner.y + top_h + 1;
    let sides_h = (ROWS.len() as u16 + 1).min(inner.bottom().saturating_sub(sides_y));
    if sides_h > 0 {
        let col_w = inner.width.saturating_sub(2) / 2;
        let side_title = |role: &str, version: &str, style: Style| {
            Line::from(vec![
                Span::styled(format!("{role} "), theme.muted()),
                Span::styled(
                    clean(version).into_owned(),
                    style.add_modifier(Modifier::BOLD),
                ),
            ])
        };
        draw_side(
            frame,
            Rect {
                x: inner.x,
                y: sides_y,
                width: col_w,
                height: sides_h,
            },
            side_title("old", &view.old, theme.stable()),
            &view.old_series,
            theme,
        );
        draw_side(
            frame,
            Rect {
                x: inner.x + col_w + 2,
                y: sides_y,
                width: inner.width.saturating_sub(col_w + 2),
                height: sides_h,
            },
            side_title("new", &view.new, theme.canary()),
            &view.new_series,
            theme,
        );
    }
    let body_y = sides_y + sides_h + 1;
    if body_y >= inner.bottom() {
        return;
    }
    let body = Rect {
        y: body_y,
        height: inner.bottom() - body_y,
        ..inner
    };
    let skip = (scroll as usize).min(lines.len().saturating_sub(1));
    render_lines(frame, body, lines.into_iter().skip(skip).collect());
}
