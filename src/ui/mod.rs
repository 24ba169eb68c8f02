//! Pure render functions: read `App` and a theme, draw, no IO, no clock
//! (`app.now` is the time), no mutation.

pub mod comparison;
pub mod confirm;
pub mod header;
pub mod help;
pub mod layout;
pub mod palette;
pub mod panes;
pub mod picker;
pub mod statusbar;
pub mod text;
pub mod theme;

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::app::state::{App, Mode};

pub use text::{format_ago, format_duration_ms, sgr_to_spans};
pub use theme::{Theme, ThemeError};

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    frame.render_widget(Block::new().style(theme.base()), area);
    let l = layout::compute(area, app.focus, app.zoomed);
    if l.header.height > 0 {
        header::header(frame, l.header, app, theme);
    }
    if let Some(tabs) = l.tabs {
        header::tabs(frame, tabs, app, theme);
    }
    for (pane, rect) in &l.panes {
        panes::draw_pane(frame, *pane, *rect, app, theme, *pane == app.focus);
    }
    if l.status.height > 0 {
        statusbar::status_bar(frame, l.status, app, theme);
    }
    match &app.mode {
        Mode::Help { scroll } => help::help(frame, area, app, theme, *scroll),
        Mode::Palette(p) => palette::palette(frame, area, app, theme, p),
        Mode::Confirm(c) => confirm::confirm(frame, area, app, theme, c),
        Mode::Picker(p) => picker::picker(frame, area, app, theme, p),
        Mode::Comparison { scroll } => comparison::comparison(frame, area, app, theme, *scroll),
        Mode::Normal | Mode::LogFilter { .. } | Mode::AgentInput => {}
    }
    if theme.monochrome {
        strip_colors(frame, area);
    }
}

/// Safety net for `NO_COLOR`: widgets with built-in colours (the textarea's
/// placeholder, for one) must not leak a colour onto the screen.
fn strip_colors(frame: &mut Frame, area: Rect) {
    let buf = frame.buffer_mut();
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.fg = Color::Reset;
                cell.bg = Color::Reset;
                cell.underline_color = Color::Reset;
            }
        }
    }
}

/// Clear `area` and give it the base style (popups).
pub(crate) fn clear(frame: &mut Frame, area: Rect, theme: &Theme) {
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new("").style(theme.base()), area);
}

/// A centred popup of at most `width` × `height`: clears what is under it,
/// draws a border with `title`, and returns the inner area.
pub(crate) fn popup(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    height: u16,
    title: ratatui::text::Line<'static>,
    border: ratatui::style::Style,
    theme: &Theme,
) -> Rect {
    let r = layout::centered(area, width, height);
    clear(frame, r, theme);
    let title = text::truncate_line(title, r.width.saturating_sub(2) as usize);
    let block = Block::bordered()
        .border_type(ratatui::widgets::BorderType::Rounded)
        .border_style(border)
        .style(theme.base())
        .padding(ratatui::widgets::Padding::horizontal(u16::from(
            r.width >= 24,
        )))
        .title(title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}
