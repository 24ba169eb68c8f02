//! Left-aligned text tables whose cells can never carry an escape sequence.

use crate::domain::sanitize::strip_all;

/// Display width of a cell (wide characters count double).
fn width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

/// Left-aligned columns separated by two spaces, with a header row. Cells
/// are stripped of every escape sequence (colour would break alignment).
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are blank, extra cells are dropped.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .map(|c| crate::domain::unicode::layout_safe(&strip_all(c.as_ref())).replace('\t', " "))
            .collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// The table, one `\n`-terminated line per row, no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_counts_wide_characters_twice() {
        let mut t = Table::new(&["A", "B"]);
        t.row(["日本", "x"]);
        t.row(["ab", "y"]);
        assert_eq!(t.render(), "A     B\n日本  x\nab    y\n");
    }

    #[test]
    fn cells_lose_escapes_and_controls() {
        let mut t = Table::new(&["A"]);
        t.row(["v1\x1b]52;c;aGk=\x07\x1b[2J\u{9b}31mx\x07"]);
        let out = t.render();
        assert_eq!(out, "A\nv1x\n");
    }
}
