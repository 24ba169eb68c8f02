//! `BLISSFUL_INFRA_FRAME_DUMP=<file>`: after each frame the console writes
//! the text it believes is on screen to `<file>`, one line per row. When the
//! terminal shows something else (a character whose width the two disagree
//! on, a leaked escape sequence), comparing the file with the terminal's
//! contents shows where. The end-to-end tests do exactly that with tmux.

use std::io::Write;
use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::text::Span;

pub const FRAME_DUMP_VAR: &str = "BLISSFUL_INFRA_FRAME_DUMP";

pub struct FrameDump {
    path: PathBuf,
    last: String,
}

impl FrameDump {
    /// The dump the environment asks for, if any.
    pub fn from_env() -> Option<FrameDump> {
        let path = std::env::var_os(FRAME_DUMP_VAR)?;
        (!path.is_empty()).then(|| FrameDump {
            path: PathBuf::from(path),
            last: String::new(),
        })
    }

    /// Write the frame when it differs from the last one written. The file is
    /// replaced whole (write then rename), so a reader never sees half a frame.
    pub fn write(&mut self, frame: &Buffer) -> std::io::Result<()> {
        let text = buffer_text(frame);
        if text == self.last {
            return Ok(());
        }
        let tmp = self.path.with_extension("partial");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.last = text;
        Ok(())
    }
}

/// The buffer as a terminal shows it: a wide character once (the cells it
/// covers are not repeated), trailing blanks trimmed, rows ended by `\n`.
pub fn buffer_text(frame: &Buffer) -> String {
    let area = frame.area;
    let mut out = String::with_capacity(usize::from(area.width + 1) * usize::from(area.height));
    for y in area.top()..area.bottom() {
        let mut row = String::with_capacity(usize::from(area.width));
        let mut x = area.left();
        while x < area.right() {
            let symbol = frame[(x, y)].symbol();
            row.push_str(symbol);
            let width = Span::raw(symbol).width().max(1);
            x = x.saturating_add(u16::try_from(width).unwrap_or(1));
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;

    use super::*;

    #[test]
    fn wide_characters_count_once_and_rows_are_trimmed() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 2));
        buf.set_string(0, 0, "a界b", ratatui::style::Style::default());
        buf.set_string(0, 1, "│ x", ratatui::style::Style::default());
        assert_eq!(buffer_text(&buf), "a界b\n│ x\n");
    }

    #[test]
    fn the_file_holds_the_latest_frame_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("frame.txt");
        let mut dump = FrameDump {
            path: path.clone(),
            last: String::new(),
        };
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 1));
        buf.set_string(0, 0, "one", ratatui::style::Style::default());
        dump.write(&buf).expect("write");
        buf.set_string(0, 0, "two", ratatui::style::Style::default());
        dump.write(&buf).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
        assert!(!path.with_extension("partial").exists());
    }
}
