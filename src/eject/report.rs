//! What `eject` tells the user: the files written, what was skipped, and
//! what the files still expect.

use super::EjectReport;
use crate::report::Table;

/// The report as the table shown to a person (every cell is stripped of
/// escapes by [`Table`]; the lines around it name only our own paths and
/// the skipped sources, which are cleaned the same way).
pub fn report_table(r: &EjectReport) -> String {
    let clean = crate::domain::sanitize::strip_all;
    let mut s = String::new();
    let how = match &r.renderer {
        Some(t) => format!(", overlays rendered with {t}"),
        None => String::new(),
    };
    s.push_str(&format!(
        "{} {} into {}{how}\n\n",
        if r.replaced { "Re-ejected" } else { "Ejected" },
        clean(&r.project),
        clean(&r.directory)
    ));
    let mut t = Table::new(&["FILE", "FROM", "BYTES"]);
    for f in &r.files {
        t.row([f.path.clone(), f.source.clone(), f.bytes.to_string()]);
    }
    s.push_str(&t.render());
    s.push_str(&format!(
        "{} files, {} bytes\n",
        r.files.len(),
        r.files.iter().map(|f| f.bytes).sum::<usize>()
    ));
    if !r.skipped.is_empty() {
        s.push_str("\nSkipped:\n");
        for k in &r.skipped {
            s.push_str(&format!("  {}: {}\n", clean(&k.source), clean(&k.reason)));
        }
    }
    if !r.notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in &r.notes {
            s.push_str(&format!("  {}\n", clean(n)));
        }
    }
    s.push_str(&format!(
        "\n{}/README.md says how to use them with kubectl, Docker Compose and Jenkins alone.\n",
        clean(r.directory.trim_end_matches('/'))
    ));
    s
}
