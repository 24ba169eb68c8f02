//! Rendering the console into a test buffer, and the buffer as text, for
//! the snapshot tests.

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use blissful_infra::app::state::App;
use blissful_infra::ui::{self, Theme};

/// Draw `app` once on a `w`x`h` test terminal.
pub fn render(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|f| ui::draw(f, app, theme)).expect("draw");
    terminal.backend().buffer().clone()
}

/// The buffer as text lines (trailing spaces trimmed; wide characters once).
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut skip = 0usize;
        for x in area.left()..area.right() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            let w = ratatui::text::Span::raw(sym).width();
            skip = w.saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
