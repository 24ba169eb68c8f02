//! Redact secrets before text leaves the process: for an LLM, the audit
//! journal, a crash report or a log file. One redactor for every path.
//!
//! Private key blocks are masked over the whole text, then the values of a
//! Kubernetes Secret's `data`/`stringData` and `env` entries named like a
//! secret (`kube.rs`). The other rules (`rules.rs`) run on each logical
//! line: credentials in URLs, vendor tokens of a known shape,
//! `Authorization` schemes, `key=value` / `key: value` / `"key":"value"`
//! for secret-looking keys, command-line flags, "the password is …" in
//! prose, then e-mail and IP addresses other than loopback. A logical line
//! ends at a line break or at the two characters `\n` that the sanitiser
//! and JSON make of one. Placeholders (`${VAR}`, `$VAR`, `{{ … }}`) and
//! values already redacted are left as they are, so redacting twice
//! changes nothing. The corpus in `tests/corpus/secrets/` measures it.

mod kube;
mod pem;
mod rules;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use regex::Regex;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Replace anything that looks like a secret with `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let out = pem::private_keys(text);
    let out = kube::secret_data(&out);
    let out = kube::env_pairs(&out);
    map_lines(&out, rules::apply_all)
}

/// `text` split into logical lines, each with the break that ends it.
fn logical_lines(text: &str) -> Vec<(&str, &str)> {
    static BREAK: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = BREAK
        .get_or_init(|| Regex::new(r"\r?\n|\\r\\n|\\n").ok())
        .as_ref()
    else {
        return vec![(text, "")];
    };
    let mut out = Vec::new();
    let mut at = 0;
    for m in re.find_iter(text) {
        out.push((&text[at..m.start()], m.as_str()));
        at = m.end();
    }
    out.push((&text[at..], ""));
    out
}

/// Apply `f` to every logical line and join them with their breaks.
fn map_lines(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    for (line, brk) in logical_lines(text) {
        out.push_str(&f(line));
        out.push_str(brk);
    }
    out
}
