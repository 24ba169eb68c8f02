//! A pane fed by an outside source says so on its first rows while that
//! source is down: `✗ prometheus: connection refused · retry in 4s`. The
//! source words the error and its next retry (`SourceState::retrying`);
//! only that pane gives up the rows, the others draw as before.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{render_lines, wrap_lines};
use crate::app::state::App;
use crate::runtime::{split_retry, SourceState};
use crate::ui::text::{clean, str_width, truncate};
use crate::ui::theme::Theme;

/// Most rows the outage lines of one pane take.
const MAX_ROWS: usize = 4;

/// The outage lines of the degraded ones among `sources`, wrapped to
/// `width`, leaving at least one of `height` rows to the pane. A long error
/// is shortened so the retry always shows.
pub(crate) fn outage_lines(
    app: &App,
    sources: &[&str],
    theme: &Theme,
    width: usize,
    height: usize,
) -> Vec<Line<'static>> {
    let degraded: Vec<(&str, &str)> = sources
        .iter()
        .filter_map(|s| match app.sources.get(*s) {
            Some(SourceState::Degraded(reason)) => Some((*s, reason.as_str())),
            _ => None,
        })
        .collect();
    if degraded.is_empty() {
        return Vec::new();
    }
    let budget = MAX_ROWS.min(height.saturating_sub(1));
    let each = (budget / degraded.len()).max(1);
    let mut rows: Vec<Line<'static>> = degraded
        .into_iter()
        .flat_map(|(name, reason)| fitted(name, reason, theme, width, each))
        .collect();
    rows.truncate(budget);
    rows
}

/// `✗ <name>: <error> · retry in <wait>` in at most `rows` rows of `width`.
fn fitted(
    name: &str,
    reason: &str,
    theme: &Theme,
    width: usize,
    rows: usize,
) -> Vec<Line<'static>> {
    let (error, retry) = split_retry(reason);
    let error = clean(error);
    let retry = retry
        .map(|r| format!(" · {}", clean(r)))
        .unwrap_or_default();
    let line = |error: &str| {
        let text = format!(" ✗ {}: {error}{retry}", clean(name));
        wrap_lines(vec![Line::from(Span::styled(text, theme.warn()))], width, 3)
    };
    let mut max = str_width(&error);
    let mut out = line(&error);
    while out.len() > rows && max > 0 {
        max = (max * 3 / 4).min(max - 1);
        out = line(&truncate(&error, max));
    }
    out
}

/// Draw the outage lines of `sources` at the top of `inner`; returns the
/// area left for the pane's own content.
pub(crate) fn outage_rows(
    frame: &mut Frame,
    inner: Rect,
    app: &App,
    sources: &[&str],
    theme: &Theme,
) -> Rect {
    let lines = outage_lines(
        app,
        sources,
        theme,
        inner.width as usize,
        inner.height as usize,
    );
    let rows = lines.len() as u16;
    if rows == 0 {
        return inner;
    }
    render_lines(
        frame,
        Rect {
            height: rows,
            ..inner
        },
        lines,
    );
    Rect {
        y: inner.y + rows,
        height: inner.height - rows,
        ..inner
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::app::keymap::Keymap;
    use crate::app::msg::Msg;
    use crate::config::Config;
    use crate::runtime::RuntimeEvent;

    fn app() -> App {
        let keymap = Keymap::build(&BTreeMap::new()).unwrap_or_else(|e| panic!("{e:?}"));
        let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, 0);
        let status = crate::domain::environment::fixtures::staging_canary(50, 3, 4, "canary");
        app.update(Msg::Runtime(Box::new(RuntimeEvent::Environment { status })));
        for (name, state) in [
            (
                "prometheus",
                SourceState::retrying("connection refused", Duration::from_secs(4)),
            ),
            ("loki", SourceState::Ok),
            ("docker", SourceState::Ok),
        ] {
            app.update(Msg::Runtime(Box::new(RuntimeEvent::Source {
                name: name.into(),
                state,
            })));
        }
        app
    }

    type Pane = fn(&mut Frame, Rect, &App, &Theme, bool);

    fn pane_text(app: &App, pane: Pane) -> String {
        let mut term = Terminal::new(TestBackend::new(60, 14)).unwrap_or_else(|e| panic!("{e}"));
        let theme = Theme::monochrome();
        term.draw(|f| {
            let area = f.area();
            pane(f, area, app, &theme, false)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let buf = term.backend().buffer().clone();
        buf.content()
            .chunks(60)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn only_the_pane_of_the_degraded_source_names_it_with_the_error_and_the_retry() {
        let app = app();
        let metrics = pane_text(&app, super::super::metrics);
        assert!(
            metrics.contains("✗ prometheus: connection refused · retry in 4s"),
            "{metrics}"
        );
        for other in [super::super::logs as Pane, super::super::environments] {
            let text = pane_text(&app, other);
            assert!(!text.contains('✗'), "{text}");
        }
    }

    #[test]
    fn a_long_reason_wraps_and_leaves_the_pane_a_row() {
        let mut app = app();
        let long = "x".repeat(500);
        app.update(Msg::Runtime(Box::new(RuntimeEvent::Source {
            name: "loki".into(),
            state: SourceState::retrying(long, Duration::from_secs(30)),
        })));
        let theme = Theme::monochrome();
        let rows = outage_lines(&app, &["loki", "prometheus"], &theme, 40, 3);
        assert_eq!(rows.len(), 2, "one row is left to the pane");
        let rows = outage_lines(&app, &["loki", "prometheus"], &theme, 40, 40);
        assert_eq!(rows.len(), MAX_ROWS);
        // Shortened, the long error still ends with its retry.
        let loki: String = rows[..MAX_ROWS / 2]
            .iter()
            .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            loki.contains('…') && loki.ends_with("· retry in 30s"),
            "{loki}"
        );
    }
}
