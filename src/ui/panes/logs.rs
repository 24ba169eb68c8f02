//! Logs: only the visible lines are formatted. The walk starts at the newest
//! line (or where the view was paused) and stops once the area is full; with
//! a filter it walks the filter index (`app::logs`), so no frame filters.
//! Lines were parsed at ingest: a JSON line's message is already composed.

use chrono::{Local, TimeZone, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{outage_lines, outage_rows, pane_frame, placeholder, render_lines, wrap_lines};
use crate::app::state::{App, PaneId};
use crate::config::TimestampMode;
use crate::domain::log_json::JsonView;
use crate::domain::logs::LogLine;
use crate::ui::text::{
    chars_to_spans, clean, fit, format_count, sgr_to_spans, spans_to_chars, str_width, truncate,
    truncate_chars, wrap_chars, StyledChar,
};
use crate::ui::theme::Theme;

/// With a filter whose index is not built yet (state set directly, not
/// through `App::update`), stop looking for matching lines after this many.
pub const FILTER_SCAN_LIMIT: usize = 50_000;

/// The lines a view shows, newest last.
pub struct VisibleLogs<'a> {
    pub lines: Vec<&'a LogLine>,
    /// The filter scan stopped at `FILTER_SCAN_LIMIT` before the area was full.
    pub scan_limited: bool,
}

/// Walk back from the end of the view and keep lines until `rows_of` says
/// they fill `max_rows` rows. With a filter, the walk follows the filter
/// index (`app::logs`), so a frame looks at visible lines only.
pub fn visible_log_lines<'a>(
    app: &'a App,
    max_rows: usize,
    mut rows_of: impl FnMut(&LogLine) -> usize,
) -> VisibleLogs<'a> {
    let store = &app.logs;
    let view = &app.log_view;
    let end = if view.follow {
        store.end_seq()
    } else {
        view.paused_end.clamp(store.first_seq(), store.end_seq())
    };
    let env = app.log_env_filter();
    let filtering = env.is_some() || view.filter.is_some();
    let indexed = filtering && app.log_index_is_current();
    let mut skip = if view.follow {
        0
    } else {
        view.scroll_from_bottom
    };
    let mut lines = Vec::new();
    let mut rows = 0usize;
    let mut scanned = 0usize;
    let mut scan_limited = false;
    // Candidates newest first: the index's matches, or every held line.
    let mut next_index = app.log_index.count_before(end);
    let mut seq = end;
    while rows < max_rows {
        let line = if indexed {
            let Some(i) = next_index.checked_sub(1) else {
                break;
            };
            next_index = i;
            match app.log_index.get(i).and_then(|s| store.get(s)) {
                Some(l) => l,
                None => break,
            }
        } else {
            if seq <= store.first_seq() {
                break;
            }
            seq -= 1;
            if filtering && scanned >= FILTER_SCAN_LIMIT {
                scan_limited = true;
                break;
            }
            scanned += 1;
            let Some(line) = store.get(seq) else { break };
            let shown = env.is_none_or(|e| &*line.env == e)
                && view.filter.as_ref().is_none_or(|re| line.matches(re));
            if !shown {
                continue;
            }
            line
        };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        rows += rows_of(line).max(1);
        lines.push(line);
    }
    lines.reverse();
    VisibleLogs {
        lines,
        scan_limited,
    }
}

/// Which columns fit next to the message.
#[derive(Clone, Copy)]
struct Columns {
    full_time: bool,
    env: usize,
    version: usize,
    instance: usize,
}

impl Columns {
    fn for_width(app: &App, width: usize) -> Columns {
        let env_w = app
            .envs
            .iter()
            .map(|e| str_width(&e.name))
            .max()
            .unwrap_or(7)
            .clamp(3, 12);
        let inst_w = app
            .envs
            .iter()
            .flat_map(|e| e.instances.iter())
            .map(|i| str_width(&i.id))
            .max()
            .unwrap_or(12)
            .clamp(6, 18);
        if width >= 100 {
            Columns {
                full_time: true,
                env: env_w,
                version: 8,
                instance: inst_w,
            }
        } else if width >= 64 {
            Columns {
                full_time: true,
                env: 0,
                version: 0,
                instance: inst_w,
            }
        } else {
            Columns {
                full_time: false,
                env: 0,
                version: 0,
                instance: 0,
            }
        }
    }
}

fn format_time(ts: i64, mode: TimestampMode, full: bool) -> String {
    let fmt = if full { "%H:%M:%S%.3f" } else { "%H:%M:%S" };
    let formatted = match mode {
        TimestampMode::Utc => Utc
            .timestamp_millis_opt(ts)
            .single()
            .map(|t| t.format(fmt).to_string()),
        TimestampMode::Local => Local
            .timestamp_millis_opt(ts)
            .single()
            .map(|t| t.format(fmt).to_string()),
    };
    formatted.unwrap_or_else(|| {
        if full {
            "??:??:??.???".into()
        } else {
            "??:??:??".into()
        }
    })
}

fn prefix_spans(
    line: &LogLine,
    cols: Columns,
    mode: TimestampMode,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let mut spans = vec![Span::styled(
        format_time(line.ts, mode, cols.full_time),
        theme.muted(),
    )];
    if cols.env > 0 {
        spans.push(Span::styled(
            format!(" {}", fit(&clean(&line.env), cols.env)),
            theme.text(),
        ));
    }
    if cols.version > 0 {
        spans.push(Span::styled(
            format!(" {}", fit(&clean(&line.version), cols.version)),
            theme.stable(),
        ));
    }
    if cols.instance > 0 {
        let who = if line.instance.is_empty() {
            &line.env
        } else {
            &line.instance
        };
        spans.push(Span::styled(
            format!(" {}", fit(&clean(who), cols.instance)),
            theme.muted(),
        ));
    }
    spans.push(Span::styled(
        format!(" {:<5} ", line.level.label()),
        theme.level(line.level),
    ));
    spans
}

/// A JSON line's message (built at ingest): keys muted, values as text.
fn json_view_spans(view: &JsonView, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::with_capacity(view.keys.len() * 2 + 1);
    let mut at = 0usize;
    for &(from, to) in &view.keys {
        let (from, to) = (from as usize, to as usize);
        if let Some(text) = view.shown.get(at..from).filter(|t| !t.is_empty()) {
            spans.push(Span::styled(text.to_string(), theme.text()));
        }
        if let Some(key) = view.shown.get(from..to) {
            spans.push(Span::styled(key.to_string(), theme.muted()));
        }
        at = to;
    }
    if let Some(text) = view.shown.get(at..).filter(|t| !t.is_empty()) {
        spans.push(Span::styled(text.to_string(), theme.text()));
    }
    spans
}

/// The message as styled characters, with filter matches highlighted.
fn message_chars(line: &LogLine, app: &App, theme: &Theme) -> Vec<StyledChar> {
    let spans = match line.json() {
        Some(view) => json_view_spans(view, theme),
        None => sgr_to_spans(&line.text, theme.text())
            .into_iter()
            .map(|s| {
                let st = theme.restyle(s.style);
                s.style(st)
            })
            .collect(),
    };
    let mut chars = spans_to_chars(&spans);
    if let Some(re) = &app.log_view.filter {
        let plain: String = chars.iter().map(|(c, _)| *c).collect();
        let starts: Vec<usize> = plain.char_indices().map(|(i, _)| i).collect();
        let hl = theme.matched();
        for m in re.find_iter(&plain).take(256) {
            let from = starts.partition_point(|&b| b < m.start());
            let to = starts.partition_point(|&b| b < m.end());
            for c in chars.iter_mut().take(to).skip(from) {
                c.1 = c.1.patch(hl);
            }
        }
    }
    chars
}

/// The screen rows of one log line.
fn line_rows(
    line: &LogLine,
    app: &App,
    theme: &Theme,
    cols: Columns,
    width: usize,
) -> Vec<Line<'static>> {
    let prefix = prefix_spans(line, cols, app.log_view.timestamps, theme);
    let prefix_w: usize = prefix.iter().map(|s| s.width()).sum();
    let msg = message_chars(line, app, theme);
    let first = width.saturating_sub(prefix_w);
    if !app.log_view.wrap {
        let mut spans = prefix;
        let cut: Vec<StyledChar> = msg.into_iter().filter(|(c, _)| *c != '\n').collect();
        spans.extend(chars_to_spans(&truncate_chars(&cut, first)));
        return vec![Line::from(spans)];
    }
    // Continuation rows are indented under the message column when it leaves room.
    let indent = if prefix_w * 2 <= width {
        prefix_w
    } else {
        2.min(width.saturating_sub(1))
    };
    let rows = wrap_chars(
        &msg,
        first.max(1),
        width.saturating_sub(indent).max(1),
        false,
    );
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut spans = if i == 0 {
                prefix.clone()
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.extend(chars_to_spans(&r));
            Line::from(spans)
        })
        .collect()
}

fn title_info(app: &App, scan_limited: bool, theme: &Theme) -> Vec<Span<'static>> {
    let view = &app.log_view;
    let mut parts: Vec<Span<'static>> = Vec::new();
    let sep = |parts: &mut Vec<Span<'static>>| {
        if !parts.is_empty() {
            parts.push(Span::styled(" · ", theme.muted()));
        }
    };
    if !view.follow {
        let new = app.logs.end_seq().saturating_sub(view.paused_end);
        let up = if view.scroll_from_bottom > 0 {
            format!(" ↑{}", format_count(view.scroll_from_bottom as u64))
        } else {
            String::new()
        };
        parts.push(Span::styled(
            format!("PAUSED{up} (+{} new)", format_count(new)),
            theme.warn(),
        ));
    }
    sep(&mut parts);
    parts.push(Span::styled(
        format!("{} lines", format_count(app.logs.len() as u64)),
        theme.muted(),
    ));
    let dropped = app.logs.dropped();
    if dropped > 0 {
        sep(&mut parts);
        parts.push(Span::styled(
            format!("{} dropped", format_count(dropped)),
            theme.warn(),
        ));
    }
    if let Some(trace) = &view.trace {
        sep(&mut parts);
        parts.push(Span::styled("trace: ", theme.muted()));
        parts.push(Span::styled(
            truncate(&clean(trace), 40).into_owned(),
            theme.accent(),
        ));
    } else if !view.filter_text.is_empty() {
        sep(&mut parts);
        parts.push(Span::styled("filter: ", theme.muted()));
        parts.push(Span::styled(
            format!("/{}/", truncate(&clean(&view.filter_text), 30)),
            theme.accent(),
        ));
    }
    if scan_limited {
        sep(&mut parts);
        parts.push(Span::styled(
            format!(
                "scan stopped at {} lines",
                format_count(FILTER_SCAN_LIMIT as u64)
            ),
            theme.warn(),
        ));
    }
    if view.only_selected_env {
        if let Some(e) = app.selected_env() {
            sep(&mut parts);
            parts.push(Span::styled(
                format!("env: {}", clean(&e.name)),
                theme.accent(),
            ));
        }
    }
    if view.wrap {
        sep(&mut parts);
        parts.push(Span::styled("wrap", theme.muted()));
    }
    sep(&mut parts);
    parts.push(Span::styled(
        match view.timestamps {
            TimestampMode::Utc => "UTC",
            TimestampMode::Local => "local",
        },
        theme.muted(),
    ));
    parts
}

pub fn logs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let loki = [crate::sources::loki::SOURCE_NAME];
    let inner_h = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let inner_h = inner_h - outage_lines(app, &loki, theme, width, inner_h).len();
    let cols = Columns::for_width(app, width);
    let mut rendered: Vec<Vec<Line<'static>>> = Vec::new();
    let visible = visible_log_lines(app, inner_h, |line| {
        let rows = line_rows(line, app, theme, cols, width);
        let n = rows.len();
        rendered.push(rows);
        n
    });
    let inner = pane_frame(
        frame,
        area,
        PaneId::Logs,
        title_info(app, visible.scan_limited, theme),
        theme,
        focused,
    );
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let inner = outage_rows(frame, inner, app, &loki, theme);
    if visible.lines.is_empty() {
        let msg = if app.logs.is_empty() {
            "no log lines yet".to_string()
        } else if !app.log_view.filter_text.is_empty() {
            format!("no lines match /{}/", clean(&app.log_view.filter_text))
        } else if app.log_view.only_selected_env {
            "no lines from the selected environment".to_string()
        } else {
            "nothing to show here".to_string()
        };
        render_lines(
            frame,
            inner,
            wrap_lines(vec![placeholder(&msg, theme)], inner.width as usize, 1),
        );
        return;
    }
    // `rendered` is newest first; keep the bottom rows that fit.
    let mut rows: Vec<Line<'static>> = rendered.into_iter().rev().flatten().collect();
    let extra = rows.len().saturating_sub(inner.height as usize);
    rows.drain(..extra);
    render_lines(frame, inner, rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::text::plain;

    fn json_line(text: &str) -> LogLine {
        LogLine::new(
            0,
            "staging".into(),
            "v1".into(),
            "i-0".into(),
            crate::domain::logs::Level::Info,
            text,
        )
    }

    #[test]
    fn json_messages_read_as_text() {
        let theme = Theme::default();
        let line = json_line(
            r#"{"level":"info","msg":"served","path":"/hello","status":200,"ok":true,"evil":"a\u001b[2Jb\rc","ts":"x","version":"v1","instance":"i-0"}"#,
        );
        let spans = json_view_spans(line.json().expect("json object"), &theme);
        // Escape remnants and a carriage return are shown, not dropped.
        assert_eq!(
            plain(&spans),
            "served path=/hello status=200 evil=a␛[2Jb␍c ok=true"
        );
        // Keys are muted, values are not.
        let key = spans
            .iter()
            .find(|s| s.content == "path=")
            .expect("key span");
        assert_eq!(key.style, theme.muted());
        let value = spans
            .iter()
            .find(|s| s.content.contains("/hello"))
            .expect("value span");
        assert_eq!(value.style, theme.text());
        assert!(json_line("{not json}").json().is_none());
        assert!(json_line("[1,2]").json().is_none());
    }

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(
            format_time(1_700_000_000_123, TimestampMode::Utc, true),
            "22:13:20.123"
        );
        assert_eq!(
            format_time(1_700_000_000_123, TimestampMode::Utc, false),
            "22:13:20"
        );
        assert_eq!(format_time(i64::MAX, TimestampMode::Utc, false), "??:??:??");
    }
}
