//! Metrics: per version of the selected environment (stable, canary, …) side
//! by side, sparklines with their last values; the analysis thresholds and
//! the environment's last verdict.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Sparkline;
use ratatui::Frame;

use super::{outage_rows, pane_frame, placeholder, render_lines, wrap_lines};
use crate::app::state::{App, PaneId};
use crate::domain::analysis::{Outcome, Thresholds};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::metrics::{split_series, MetricPoint, MetricSeries};
use crate::runtime::LOAD_TEST_SERIES;
use crate::ui::text::{clean, fit, fit_right, format_count};
use crate::ui::theme::Theme;

/// One metric row: label, how to read the value, whether its sparkline
/// starts at zero (errors: no bar means no errors) or at the window's
/// minimum (so that changes in a steady value stay visible), and how to print it.
struct MetricRow {
    label: &'static str,
    value: fn(&MetricPoint) -> f64,
    zero_based: bool,
    show: fn(f64) -> String,
}

const ROWS: [MetricRow; 5] = [
    MetricRow {
        label: "req/s",
        value: |p| p.rps,
        zero_based: false,
        show: |v| format!("{v:.1}"),
    },
    MetricRow {
        label: "p95",
        value: |p| p.p95_ms,
        zero_based: false,
        show: |v| format!("{v:.0}ms"),
    },
    MetricRow {
        label: "errors",
        value: |p| p.error_rate,
        zero_based: true,
        show: |v| format!("{:.2}%", v * 100.0),
    },
    MetricRow {
        label: "cpu",
        value: |p| p.cpu_pct,
        zero_based: false,
        show: |v| format!("{v:.1}%"),
    },
    MetricRow {
        label: "mem",
        value: |p| p.mem_mib,
        zero_based: false,
        show: |v| format!("{v:.0}MiB"),
    },
];

/// Sparkline bar heights (0..=100) for `values`.
pub fn spark_scale(values: &[f64], zero_based: bool) -> Vec<u64> {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let hi = finite().fold(f64::MIN, f64::max);
    let lo = if zero_based {
        0.0
    } else {
        finite().fold(f64::MAX, f64::min)
    };
    if values.is_empty() || hi <= 0.0 && zero_based {
        return vec![0; values.len()];
    }
    let span = hi - lo;
    values
        .iter()
        .map(|v| {
            if !v.is_finite() {
                0
            } else if span <= f64::EPSILON * hi.abs().max(1.0) {
                // A flat line: half height, so it reads as "steady", not "nothing".
                50
            } else if zero_based {
                ((v.max(0.0) / hi) * 100.0).round() as u64
            } else {
                // The minimum keeps a small bar.
                (10.0 + (v - lo) / span * 90.0).round() as u64
            }
        })
        .collect()
}

/// `p95 ≤ 200ms  p99 ≤ 500ms  err ≤ 1.00%  success ≥ 99.00%  …`
pub fn thresholds_text(t: &Thresholds) -> String {
    format!(
        "p95 ≤ {:.0}ms  p99 ≤ {:.0}ms  err ≤ {:.2}%  success ≥ {:.2}%  p95 ≤ {}×stable+{:.0}ms  min {} req",
        t.max_p95_ms,
        t.max_p99_ms,
        t.max_error_rate * 100.0,
        t.min_success_rate * 100.0,
        t.max_latency_ratio,
        t.latency_slack_ms,
        t.min_samples
    )
}

pub fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "INCONCLUSIVE",
    }
}

pub fn outcome_style(o: Outcome, theme: &Theme) -> Style {
    match o {
        Outcome::Pass => theme.ok(),
        Outcome::Fail => theme.error(),
        Outcome::Inconclusive => theme.warn(),
    }
    .add_modifier(Modifier::BOLD)
}

/// The env's versions that have series: stable first, then canary, then the rest.
fn versions<'a>(app: &'a App, env: &EnvironmentStatus) -> Vec<(&'a str, &'a MetricSeries)> {
    let mut v: Vec<(&str, &MetricSeries)> = app
        .metrics
        .iter()
        .filter(|((e, _), _)| *e == env.name)
        .map(|((_, ver), s)| (ver.as_str(), s))
        .collect();
    let rank = |name: &str| {
        let (ver, source) = split_series(name);
        let by_source = if source.is_some() { 10 } else { 0 };
        by_source
            + if env
                .traffic
                .stable
                .as_ref()
                .is_some_and(|s| s.as_str() == ver)
            {
                0
            } else if env
                .traffic
                .canary
                .as_ref()
                .is_some_and(|c| c.as_str() == ver)
            {
                1
            } else if ver == LOAD_TEST_SERIES {
                3
            } else {
                2
            }
    };
    v.sort_by_key(|(name, _)| rank(name));
    v
}

fn column_header(
    env: &EnvironmentStatus,
    name: &str,
    series: &MetricSeries,
    theme: &Theme,
) -> Line<'static> {
    let (ver, source) = split_series(name);
    let (role, style) = if ver == LOAD_TEST_SERIES {
        ("· perf client side".to_string(), theme.warn())
    } else if env
        .traffic
        .canary
        .as_ref()
        .is_some_and(|c| c.as_str() == ver)
    {
        (
            format!("canary {}%", env.traffic.canary_weight),
            theme.canary(),
        )
    } else if env
        .traffic
        .stable
        .as_ref()
        .is_some_and(|s| s.as_str() == ver)
    {
        ("stable".to_string(), theme.stable())
    } else {
        ("idle".to_string(), theme.muted())
    };
    let mut spans = vec![
        Span::styled(clean(ver).into_owned(), style.add_modifier(Modifier::BOLD)),
        Span::styled(format!(" {role}"), style),
    ];
    if let Some(source) = source {
        spans.push(Span::styled(
            format!(" ({})", clean(source)),
            theme.accent(),
        ));
    }
    if let Some(p) = series.last() {
        spans.push(Span::styled(
            format!(" · p50 {:.0} p99 {:.0}ms", p.p50_ms, p.p99_ms),
            theme.muted(),
        ));
    }
    Line::from(spans)
}

/// Style of a value that breaks a threshold.
fn row_style(label: &str, last: f64, t: &Thresholds, theme: &Theme) -> Style {
    let bad = match label {
        "p95" => last > t.max_p95_ms,
        "errors" => last > t.max_error_rate,
        _ => false,
    };
    if bad {
        theme.error()
    } else {
        theme.sparkline()
    }
}

fn draw_column(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    env: &EnvironmentStatus,
    ver: &str,
    series: &MetricSeries,
    theme: &Theme,
) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    render_lines(
        frame,
        Rect { height: 1, ..area },
        vec![column_header(env, ver, series, theme)],
    );
    let body = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let n = ROWS.len() as u16;
    let label_w: u16 = 15;
    let t = &app.config.rollout.analysis;
    let mut y = body.y;
    for (i, row) in ROWS.iter().enumerate() {
        if y >= body.bottom() {
            break;
        }
        // Spread the rows evenly; the first ones take the remainder.
        let share = body.height / n + u16::from((i as u16) < body.height % n);
        let h = share.max(1).min(body.bottom() - y);
        let row_y = y;
        y += h;
        let y = row_y;
        // A load test measures from the client: it has no CPU or memory.
        let client_side = ver == LOAD_TEST_SERIES && matches!(row.label, "cpu" | "mem");
        let last = series.last().map(row.value).filter(|_| !client_side);
        let value = last.map_or("-".to_string(), row.show);
        let style = row_style(row.label, last.unwrap_or(0.0), t, theme);
        let label = Line::from(vec![
            Span::styled(fit(row.label, 6), theme.muted()),
            Span::styled(
                fit_right(&value, 8),
                theme.text().add_modifier(Modifier::BOLD),
            ),
        ]);
        let lw = label_w.min(area.width);
        render_lines(
            frame,
            Rect {
                y,
                height: 1,
                width: lw,
                ..area
            },
            vec![label],
        );
        let spark_w = area.width.saturating_sub(label_w);
        if spark_w == 0 || client_side {
            continue;
        }
        let data = spark_scale(&series.tail(spark_w as usize, row.value), row.zero_based);
        let spark = Sparkline::default().data(&data).max(100).style(style);
        frame.render_widget(
            spark,
            Rect {
                x: area.x + label_w,
                y,
                width: spark_w,
                height: h,
            },
        );
    }
}

fn verdict_lines(
    app: &App,
    env: &EnvironmentStatus,
    theme: &Theme,
) -> (Line<'static>, Vec<Line<'static>>) {
    let Some((step, verdict)) = app.verdicts.get(&env.name) else {
        return (
            Line::from(Span::styled(
                "analysis: no verdict yet for this environment",
                theme.muted(),
            )),
            Vec::new(),
        );
    };
    // An observed rollout has its own steps; a driven one has the config's.
    let total = env.step.map_or(app.config.rollout.steps.len(), |(_, n)| n);
    let head = Line::from(vec![
        Span::styled("verdict ", theme.muted()),
        Span::styled(
            outcome_label(verdict.outcome),
            outcome_style(verdict.outcome, theme),
        ),
        Span::styled(
            format!(
                " step {}/{}{} · ",
                step + 1,
                total,
                verdict
                    .source
                    .as_deref()
                    .map(|s| format!(" on {}", clean(s)))
                    .unwrap_or_default()
            ),
            theme.muted(),
        ),
        Span::styled(clean(&verdict.summary()).into_owned(), theme.text()),
    ]);
    let mut failed = Vec::new();
    for c in verdict.failed_checks() {
        failed.push(Line::from(vec![
            Span::styled("  ✗ ", theme.error()),
            Span::styled(clean(&c.describe()).into_owned(), theme.text()),
        ]));
        // The query behind the value, when it came from Prometheus.
        if let Some((_, q)) = verdict.queries.iter().find(|(m, _)| *m == c.metric) {
            failed.push(Line::from(vec![
                Span::styled("    query ", theme.muted()),
                Span::styled(clean(q).into_owned(), theme.muted()),
            ]));
        }
    }
    // An external analysis (Argo): each metric that did not pass, and its query.
    for f in verdict.open_findings() {
        failed.push(Line::from(vec![
            Span::styled("  ✗ ", theme.error()),
            Span::styled(
                format!("{}: {}", clean(&f.name), clean(&f.detail)),
                theme.text(),
            ),
        ]));
        if let Some(q) = &f.query {
            failed.push(Line::from(vec![
                Span::styled("    query ", theme.muted()),
                Span::styled(clean(q).into_owned(), theme.muted()),
            ]));
        }
    }
    (head, failed)
}

pub fn metrics(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let env = app.selected_env();
    let info = match env {
        Some(e) => {
            let n = app
                .metrics
                .iter()
                .filter(|((en, _), _)| *en == e.name)
                .map(|(_, s)| s.len())
                .max()
                .unwrap_or(0);
            vec![Span::styled(
                format!(
                    "{} · last {} samples",
                    clean(&e.name),
                    format_count(n as u64)
                ),
                theme.muted(),
            )]
        }
        None => vec![],
    };
    let inner = pane_frame(frame, area, PaneId::Metrics, info, theme, focused);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let inner = outage_rows(
        frame,
        inner,
        app,
        &[crate::sources::prometheus::SOURCE_NAME],
        theme,
    );
    let Some(env) = env else {
        render_lines(
            frame,
            inner,
            wrap_lines(
                vec![placeholder("no environment selected", theme)],
                inner.width as usize,
                1,
            ),
        );
        return;
    };
    let thresholds = Line::from(vec![
        Span::styled("thresholds ", theme.muted()),
        Span::styled(thresholds_text(&app.config.rollout.analysis), theme.text()),
    ]);
    let (verdict, failed) = verdict_lines(app, env, theme);
    let vers = versions(app, env);
    // Metric rows come first; failed checks fill what is left under the verdict.
    let metric_rows = if vers.is_empty() { 1 } else { 1 + ROWS.len() };
    let room_for_checks = (inner.height as usize).saturating_sub(2 + metric_rows);
    let mut top = vec![thresholds, verdict];
    top.extend(failed.into_iter().take(room_for_checks));
    let top_h = (top.len() as u16).min(inner.height);
    render_lines(
        frame,
        Rect {
            height: top_h,
            ..inner
        },
        top,
    );
    let body = Rect {
        y: inner.y + top_h,
        height: inner.height - top_h,
        ..inner
    };
    if body.height == 0 {
        return;
    }
    if vers.is_empty() {
        let msg = format!("no metrics for {} yet", clean(&env.name));
        render_lines(
            frame,
            body,
            wrap_lines(vec![placeholder(&msg, theme)], body.width as usize, 1),
        );
        return;
    }
    // Side by side while each column keeps a useful sparkline.
    let fit_cols = ((body.width as usize + 1) / 28).max(1);
    let shown = &vers[..vers.len().min(fit_cols)];
    let n = shown.len() as u16;
    let col_w = (body.width + 1) / n;
    for (i, (ver, series)) in shown.iter().enumerate() {
        let x = body.x + i as u16 * col_w;
        let w = if i as u16 == n - 1 {
            body.right() - x
        } else {
            col_w.saturating_sub(1)
        };
        draw_column(
            frame,
            Rect {
                x,
                width: w,
                ..body
            },
            app,
            env,
            ver,
            series,
            theme,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scaling() {
        assert_eq!(spark_scale(&[0.0, 0.0], true), vec![0, 0]);
        assert_eq!(spark_scale(&[0.0, 0.5, 1.0], true), vec![0, 50, 100]);
        // Minimum-based: a steady value with a small change stays visible.
        assert_eq!(
            spark_scale(&[100.0, 101.0, 102.0], false),
            vec![10, 55, 100]
        );
        assert_eq!(spark_scale(&[7.0, 7.0], false), vec![50, 50]);
        assert_eq!(spark_scale(&[f64::NAN, 1.0, 2.0], false), vec![0, 10, 100]);
        assert!(spark_scale(&[], false).is_empty());
    }

    #[test]
    fn thresholds_read_like_the_config() {
        let t = Thresholds::default();
        let s = thresholds_text(&t);
        assert!(
            s.starts_with("p95 ≤ 200ms  p99 ≤ 500ms  err ≤ 1.00%  success ≥ 99.00%"),
            "{s}"
        );
    }
}
