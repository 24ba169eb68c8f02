//! Private key blocks: whole ones, and ones cut short by a log limit.

use std::sync::OnceLock;

use regex::Regex;

use super::MASK;

/// PEM private key blocks, whole. A block cut short (no END line, as a log
/// limit leaves it) is masked from its BEGIN through every following line
/// that holds a base64 run (16 characters or more) or a PEM header,
/// whatever prefix a log line gives it; two other lines in a row end it.
pub(super) fn private_keys(text: &str) -> String {
    static RE: OnceLock<Option<(Regex, Regex, Regex)>> = OnceLock::new();
    let Some((whole, begin, base64)) = RE
        .get_or_init(|| {
            let begin = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----";
            let whole = format!(r"(?s){begin}.*?-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----");
            Some((
                Regex::new(&whole).ok()?,
                Regex::new(begin).ok()?,
                Regex::new(r"(?:Proc-Type|DEK-Info):[^\n]*|[A-Za-z0-9+/=]{16,}").ok()?,
            ))
        })
        .as_ref()
    else {
        return text.to_string();
    };
    let text = whole.replace_all(text, MASK);
    if !begin.is_match(&text) {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    // Inside a cut-short key; one line without base64 (the blank line after
    // the headers, which a log prefix makes non-blank) does not end it.
    let (mut in_key, mut gap) = (false, false);
    for (line, brk) in super::logical_lines(&text) {
        if let Some(m) = begin.find(line) {
            out.push_str(&line[..m.start()]);
            out.push_str(MASK);
            (in_key, gap) = (true, false);
        } else if in_key && base64.is_match(line) {
            out.push_str(&base64.replace_all(line, MASK));
            gap = false;
        } else {
            in_key = in_key && !gap;
            gap = true;
            out.push_str(line);
        }
        out.push_str(brk);
    }
    out
}
