//! Rules that need more than one pattern: the values of a Kubernetes
//! Secret's `data` and `stringData`, whatever their keys are called, and a
//! container's `env` entry whose name says it holds a secret.

use std::sync::OnceLock;

use regex::{Captures, Regex};

use super::MASK;

struct Patterns {
    secret_kind: Regex,
    inline_map: Regex,
    map_value: Regex,
    block_start: Regex,
    block_entry: Regex,
    env_name: Regex,
    env_value: Regex,
    env_json: Regex,
    secret_name: Regex,
}

fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| {
        Some(Patterns {
            secret_kind: Regex::new(r#""?kind"?\s*:\s*"?Secret\b"#).ok()?,
            inline_map: Regex::new(
                r#"(?P<keep>(?:^|[^A-Za-z0-9_])"?(?:data|stringData)"?\s*:\s*\{)(?P<body>[^{}]*)\}"#,
            )
                .ok()?,
            map_value: Regex::new(r#"(?P<keep>"[^"]*"\s*:\s*)"(?P<val>[^"]*)""#).ok()?,
            block_start: Regex::new(r"(?:^|\s)(?P<key>data|stringData):[ \t]*$").ok()?,
            block_entry: Regex::new(r"^(?P<lead>.*?)(?P<key>[A-Za-z0-9._-]+):[ \t]+(?P<val>\S.*)$")
                .ok()?,
            env_name: Regex::new(r#"\bname:\s*["']?(?P<name>[A-Za-z0-9_.-]+)["']?\s*$"#).ok()?,
            env_value: Regex::new(r"^(?P<lead>.*?\bvalue:[ \t]*)(?P<val>\S.*)$").ok()?,
            env_json: Regex::new(
                r#"(?P<keep>"name"\s*:\s*"(?P<name>[^"]*)"\s*,\s*"value"\s*:\s*)"(?P<val>[^"]*)""#,
            )
            .ok()?,
            secret_name: Regex::new(
                r"(?i)(pass|pwd|secret|token|api_?key|credential|auth|private_?key|dsn)",
            )
            .ok()?,
        })
    })
    .as_ref()
}

fn masked(val: &str) -> bool {
    val.contains(MASK) || val.starts_with("${") || val.starts_with("{{")
}

/// Mask every value of a Secret's `data`/`stringData`, as YAML blocks or as
/// inline maps (JSON, `kubectl` errors).
pub(super) fn secret_data(text: &str) -> String {
    let Some(p) = patterns() else {
        return text.to_string();
    };
    if !p.secret_kind.is_match(text) {
        return text.to_string();
    }
    let text = p.inline_map.replace_all(text, |c: &Captures<'_>| {
        let body = p.map_value.replace_all(&c["body"], |v: &Captures<'_>| {
            if masked(&v["val"]) {
                v[0].to_string()
            } else {
                format!("{}\"{MASK}\"", &v["keep"])
            }
        });
        format!("{}{body}}}", &c["keep"])
    });
    let mut out = String::with_capacity(text.len());
    // The column of the `data:` key whose block we are in.
    let mut block: Option<usize> = None;
    for (line, brk) in super::logical_lines(&text) {
        out_line(&mut out, &mut block, p, line);
        out.push_str(brk);
    }
    out
}

/// One line of [`secret_data`]: masked when it is an entry of the block.
fn out_line(out: &mut String, block: &mut Option<usize>, p: &Patterns, line: &str) {
    if let (Some(col), Some(c)) = (*block, p.block_entry.captures(line)) {
        if c["lead"].chars().count() > col {
            if masked(&c["val"]) {
                out.push_str(line);
            } else {
                out.push_str(&line[..c.name("val").map_or(line.len(), |m| m.start())]);
                out.push_str(MASK);
            }
            return;
        }
    }
    if line.trim().is_empty() && block.is_some() {
        out.push_str(line);
        return;
    }
    *block = p
        .block_start
        .captures(line)
        .and_then(|c| c.name("key").map(|k| line[..k.start()].chars().count()));
    out.push_str(line);
}

/// `- name: DB_PASSWORD` followed by `value: …` (YAML) or
/// `{"name":"DB_PASSWORD","value":"…"}` (JSON): the value is masked.
pub(super) fn env_pairs(text: &str) -> String {
    let Some(p) = patterns() else {
        return text.to_string();
    };
    let text = p.env_json.replace_all(text, |c: &Captures<'_>| {
        if p.secret_name.is_match(&c["name"]) && !masked(&c["val"]) {
            format!("{}\"{MASK}\"", &c["keep"])
        } else {
            c[0].to_string()
        }
    });
    if !text.contains("value:") {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut secret_named = false;
    for (line, brk) in super::logical_lines(&text) {
        let value = p.env_value.captures(line).filter(|_| secret_named);
        secret_named = p
            .env_name
            .captures(line)
            .is_some_and(|c| p.secret_name.is_match(&c["name"]));
        match value {
            Some(c) if !masked(&c["val"]) => {
                out.push_str(&c["lead"]);
                out.push_str(MASK);
            }
            _ => out.push_str(line),
        }
        out.push_str(brk);
    }
    out
}
