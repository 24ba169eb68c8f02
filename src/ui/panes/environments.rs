//! Environments: one row per environment, then the selected one's router
//! address, faults and instances when there is room.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::env_observed as observed;
use super::{
    fit_columns, outage_rows, pane_frame, placeholder, render_lines, table_header, table_row,
    wrap_lines, Align, Column,
};
use crate::app::state::{App, PaneId};
use crate::domain::environment::{EnvironmentStatus, Health, InstancePhase};
use crate::runtime::SourceState;
use crate::ui::text::{clean, format_ago, format_duration_ms, str_width};
use crate::ui::theme::Theme;

pub fn health_style(h: &Health, theme: &Theme) -> Style {
    match h {
        Health::Healthy => theme.ok(),
        Health::Progressing(_) => theme.info(),
        Health::Paused(_) => theme.warn(),
        Health::Aborted(_) => theme.error(),
        Health::Degraded(_) => theme.warn(),
        Health::Down(_) => theme.error(),
        Health::Unknown => theme.muted(),
    }
}

fn phase_style(p: &InstancePhase, theme: &Theme) -> Style {
    match p {
        InstancePhase::Ready => theme.ok(),
        InstancePhase::Starting => theme.info(),
        InstancePhase::BackingOff { .. } => theme.error(),
        InstancePhase::Stopped => theme.muted(),
    }
}

const NAME: usize = 0;
const HEALTH: usize = 4;

fn env_cells(
    e: &EnvironmentStatus,
    selected: bool,
    app: &App,
    theme: &Theme,
) -> Vec<(String, Style)> {
    let marker = if selected { "▸ " } else { "  " };
    let stable = e
        .traffic
        .stable
        .as_ref()
        .map_or("-".to_string(), |v| clean(v.as_str()).into_owned());
    let canary = match (&e.traffic.canary, observed::canary_cell(e)) {
        (_, Some(cell)) => cell,
        (Some(v), None) => format!("{} {}%", clean(v.as_str()), e.traffic.canary_weight),
        (None, None) => "-".to_string(),
    };
    let step = e
        .step
        .map_or("-".to_string(), |(i, n)| format!("{}/{}", i + 1, n));
    let health = match e.health.reason() {
        Some(r) => format!(
            "{}{}: {}",
            observed::stale_prefix(e),
            e.health.label(),
            clean(r)
        ),
        None => format!("{}{}", observed::stale_prefix(e), e.health.label()),
    };
    let (ready, desired) = e.ready_desired();
    let ready_style = if ready >= desired {
        theme.ok()
    } else {
        theme.warn()
    };
    let restarts: u32 = e.instances.iter().map(|i| i.restarts).sum();
    let faults = match e.faults.len() {
        0 => "-".to_string(),
        1 => clean(&e.faults[0].scenario).into_owned(),
        n => format!(
            "{n}: {}",
            e.faults
                .iter()
                .map(|f| clean(&f.scenario).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let name_style = if selected {
        theme.text().add_modifier(Modifier::BOLD)
    } else {
        theme.text()
    };
    vec![
        (format!("{marker}{}", clean(&e.name)), name_style),
        (stable, theme.stable()),
        (canary, theme.canary()),
        (step, theme.text()),
        (health, health_style(&e.health, theme)),
        (format!("{ready}/{desired}"), ready_style),
        (
            restarts.to_string(),
            if restarts > 0 {
                theme.warn()
            } else {
                theme.text()
            },
        ),
        (format_ago(app.now - e.last_change), theme.muted()),
        (
            faults,
            if e.faults.is_empty() {
                theme.muted()
            } else {
                theme.warn()
            },
        ),
    ]
}

/// Where a driven environment is reached: router, metrics, replicas.
fn router_line(e: &EnvironmentStatus, theme: &Theme) -> Line<'static> {
    let mut head = vec![
        Span::styled(format!("{} ", clean(&e.name)), theme.title(false)),
        Span::styled("router ", theme.muted()),
        Span::styled(clean(&e.router_addr).into_owned(), theme.info()),
        Span::styled(" · metrics ", theme.muted()),
        Span::styled(clean(&e.metrics_addr).into_owned(), theme.text()),
        Span::styled(format!(" · {} per version", e.replicas), theme.muted()),
    ];
    if let Some(prev) = &e.previous {
        head.push(Span::styled(" · rollback to ", theme.muted()));
        head.push(Span::styled(
            clean(prev.as_str()).into_owned(),
            theme.stable(),
        ));
    }
    Line::from(head)
}

fn detail_lines(
    e: &EnvironmentStatus,
    app: &App,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(o) = &e.observed {
        lines.extend(observed::observed_lines(e, o, theme));
    } else {
        lines.push(router_line(e, theme));
    }
    if let Some(reason) = e.health.reason() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}: ", e.health.label()),
                health_style(&e.health, theme),
            ),
            Span::styled(clean(reason).into_owned(), theme.text()),
        ]));
    }
    for f in &e.faults {
        lines.push(Line::from(vec![
            Span::styled("↯ fault ", theme.warn()),
            Span::styled(clean(&f.scenario).into_owned(), theme.warn()),
            Span::styled(
                format!(
                    " · {} left · id {}",
                    format_duration_ms(f.ends_at - app.now),
                    clean(&f.id)
                ),
                theme.muted(),
            ),
        ]));
    }
    if e.instances.is_empty() {
        lines.push(placeholder("no instances", theme));
        return lines;
    }
    let cols = [
        Column {
            header: "INSTANCE",
            width: 8,
            align: Align::Left,
            priority: 100,
        },
        Column {
            header: "VERSION",
            width: 7,
            align: Align::Left,
            priority: 90,
        },
        Column {
            header: "PHASE",
            width: 9,
            align: Align::Left,
            priority: 95,
        },
        Column {
            header: "PID",
            width: 3,
            align: Align::Right,
            priority: 60,
        },
        Column {
            header: "PORT",
            width: 5,
            align: Align::Right,
            priority: 50,
        },
        Column {
            header: "RESTARTS",
            width: 8,
            align: Align::Right,
            priority: 80,
        },
    ];
    let rows: Vec<Vec<(String, Style)>> = e
        .instances
        .iter()
        .map(|i| {
            let phase = match &i.phase {
                InstancePhase::BackingOff {
                    exit_code,
                    restart_at,
                } => format!(
                    "{} exit {}, retry {}",
                    i.phase.label(),
                    exit_code.map_or("?".to_string(), |c| c.to_string()),
                    format_duration_ms(restart_at - app.now)
                ),
                p => format!("{}{}", p.label(), observed::phase_suffix(i)),
            };
            vec![
                (clean(&i.id).into_owned(), theme.text()),
                (clean(i.version.as_str()).into_owned(), theme.text()),
                (phase, phase_style(&i.phase, theme)),
                (
                    i.pid().map_or("-".to_string(), |p| p.to_string()),
                    theme.muted(),
                ),
                (
                    i.port().map_or("-".to_string(), |p| p.to_string()),
                    theme.muted(),
                ),
                (
                    i.restarts.to_string(),
                    if i.restarts > 0 {
                        theme.warn()
                    } else {
                        theme.text()
                    },
                ),
            ]
        })
        .collect();
    let widths = content_widths(&cols, &rows, &[24, 12, 56, 7, 5, 8]);
    let sized: Vec<Column> = cols
        .iter()
        .zip(&widths)
        .map(|(c, w)| Column { width: *w, ..*c })
        .collect();
    let keep = fit_columns(&sized, width);
    lines.push(table_header(
        &sized,
        &keep,
        &widths,
        theme.muted().add_modifier(Modifier::BOLD),
    ));
    for r in &rows {
        lines.push(table_row(&sized, &keep, r, &widths));
    }
    lines
}

/// Column widths from the header and the widest cell, each capped.
fn content_widths(cols: &[Column], rows: &[Vec<(String, Style)>], caps: &[usize]) -> Vec<usize> {
    cols.iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|(s, _)| str_width(s))
                .max()
                .unwrap_or(0);
            widest
                .max(str_width(c.header))
                .min(caps.get(i).copied().unwrap_or(usize::MAX))
                .max(c.width.min(str_width(c.header)))
        })
        .collect()
}

pub fn environments(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let info = if app.envs.is_empty() {
        vec![]
    } else {
        vec![Span::styled(
            format!(
                "{} envs · {} of {}",
                app.envs.len(),
                app.selected_env.min(app.envs.len() - 1) + 1,
                app.envs.len()
            ),
            theme.muted(),
        )]
    };
    let inner = pane_frame(frame, area, PaneId::Environments, info, theme, focused);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // The runtime connection (an attached console) and the Docker Engine.
    let sources = [
        app.runtime_name.as_str(),
        crate::docker::runtime::SOURCE_NAME,
    ];
    let inner = outage_rows(frame, inner, app, &sources, theme);
    if app.envs.is_empty() {
        let why = match app.sources.get(&app.runtime_name) {
            Some(SourceState::Degraded(r)) => {
                format!("no environments: runtime unavailable: {}", clean(r))
            }
            _ => "no environments yet — waiting for the runtime".to_string(),
        };
        render_lines(
            frame,
            inner,
            wrap_lines(vec![placeholder(&why, theme)], inner.width as usize, 1),
        );
        return;
    }
    let width = inner.width as usize;
    let cols = [
        Column {
            header: "  ENV",
            width: 0,
            align: Align::Left,
            priority: 100,
        },
        Column {
            header: "STABLE",
            width: 0,
            align: Align::Left,
            priority: 70,
        },
        Column {
            header: "CANARY",
            width: 0,
            align: Align::Left,
            priority: 80,
        },
        Column {
            header: "STEP",
            width: 0,
            align: Align::Left,
            priority: 50,
        },
        Column {
            header: "HEALTH",
            width: 0,
            align: Align::Left,
            priority: 90,
        },
        Column {
            header: "READY",
            width: 0,
            align: Align::Right,
            priority: 60,
        },
        Column {
            header: "RESTARTS",
            width: 0,
            align: Align::Right,
            priority: 20,
        },
        Column {
            header: "CHANGED",
            width: 0,
            align: Align::Left,
            priority: 35,
        },
        Column {
            header: "FAULTS",
            width: 0,
            align: Align::Left,
            priority: 45,
        },
    ];
    let rows: Vec<Vec<(String, Style)>> = app
        .envs
        .iter()
        .enumerate()
        .map(|(i, e)| env_cells(e, i == app.selected_env, app, theme))
        .collect();
    let full = content_widths(&cols, &rows, &[18, 12, 20, 5, 60, 7, 8, 9, 24]);
    // The health column starts at its label width; the reason uses what is left.
    let labels = app
        .envs
        .iter()
        .map(|e| e.health.label().len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut widths = full.clone();
    widths[HEALTH] = labels;
    let sized: Vec<Column> = cols
        .iter()
        .zip(&widths)
        .map(|(c, w)| Column { width: *w, ..*c })
        .collect();
    let keep = fit_columns(&sized, width);
    let used: usize = keep.iter().map(|&i| widths[i]).sum::<usize>() + keep.len().saturating_sub(1);
    if keep.contains(&HEALTH) {
        widths[HEALTH] = (widths[HEALTH] + width.saturating_sub(used)).min(full[HEALTH]);
    } else if keep.contains(&NAME) {
        widths[NAME] = widths[NAME].min(width);
    }
    let mut lines = vec![table_header(
        &sized,
        &keep,
        &widths,
        theme.muted().add_modifier(Modifier::BOLD),
    )];
    for (i, r) in rows.iter().enumerate() {
        let mut l = table_row(&sized, &keep, r, &widths);
        if i == app.selected_env {
            l.style = theme.selection();
        }
        lines.push(l);
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    if room >= 3 {
        if let Some(e) = app.selected_env() {
            lines.push(Line::from(Span::styled(
                "─".repeat(width),
                theme.border(false),
            )));
            lines.extend(detail_lines(e, app, theme, width));
        }
    }
    render_lines(frame, inner, lines);
}
