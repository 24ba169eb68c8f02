//! The single-pattern rules of the redactor, in the order they run.

use std::sync::OnceLock;

use regex::{Captures, Regex};

use super::MASK;

/// What a match becomes (`None`: the match is not a secret).
type Fix = fn(&Captures<'_>) -> Option<String>;

/// A pattern and its fix.
struct Rule {
    re: Regex,
    fix: Fix,
}

/// Words that make a key (or a flag) name a secret.
const KEYWORDS: &str = r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth|authorization|cookie|session[_-]?id|dsn|connection[_-]?string|jaas[_.-]?config";

fn whole(_: &Captures<'_>) -> Option<String> {
    Some(MASK.to_string())
}

/// Keep group `keep`, mask the rest of the match.
fn keep_prefix(c: &Captures<'_>) -> Option<String> {
    Some(format!(
        "{}{MASK}",
        c.name("keep").map_or("", |m| m.as_str())
    ))
}

/// A value that is a reference to a secret, not the secret itself.
fn placeholder(value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'' || c == '\\');
    v.is_empty()
        || v.contains(MASK)
        || v.starts_with("${")
        || v.starts_with("{{")
        || (v.starts_with('$')
            && v[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        || v.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

/// Text that reads like a word rather than a token: letters only.
fn wordlike(value: &str) -> bool {
    value
        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
        .chars()
        .all(|c| c.is_ascii_lowercase())
}

/// `key=value`, `key: value`, `"key":"value"`; the value keeps its quotes.
fn key_value(c: &Captures<'_>) -> Option<String> {
    let key = c.name("key")?;
    let kw = c.name("kw")?;
    let value = c.name("val")?.as_str();
    // A keyword glued to letters before it is part of another word
    // (`bypass`, `oauth`) unless the key is camelCase or all capitals.
    let before = key.as_str()[..kw.start() - key.start()].chars().next_back();
    if let Some(b) = before.filter(char::is_ascii_alphanumeric) {
        let first = kw.as_str().chars().next().unwrap_or('a');
        let camel = first.is_ascii_uppercase() && b.is_ascii_lowercase();
        let capitals = !key.as_str().chars().any(|c| c.is_ascii_lowercase());
        if !(camel || capitals) {
            return None;
        }
    }
    // `"secret.yaml": …` names a file.
    let rest = &key.as_str()[kw.end() - key.start()..];
    let file = [".yaml", ".yml", ".json", ".txt", ".toml", ".ini", ".conf"]
        .iter()
        .any(|ext| rest.trim_end_matches(['"', '\\']).ends_with(ext));
    if file || placeholder(value) {
        return None;
    }
    // A quoted value keeps its quotes (one cut off at the line's end, its first).
    let quote = ["\\\"", "\"", "'"]
        .into_iter()
        .find(|q| value.starts_with(q));
    let masked = match quote {
        Some(q) if value.len() >= 2 * q.len() && value.ends_with(q) => format!("{q}{MASK}{q}"),
        Some(q) => format!("{q}{MASK}"),
        None => MASK.to_string(),
    };
    Some(format!(
        "{}{}{}{masked}",
        &c["pre"],
        key.as_str(),
        &c["sep"]
    ))
}

fn flag(c: &Captures<'_>) -> Option<String> {
    if placeholder(&c["val"]) {
        return None;
    }
    Some(format!("{}{}{}{MASK}", &c["pre"], &c["flag"], &c["sp"]))
}

/// "the password is X": only when X does not read as a plain word.
fn prose(c: &Captures<'_>) -> Option<String> {
    let value = &c["val"];
    if wordlike(value) || placeholder(value) {
        return None;
    }
    Some(format!("{}{}{MASK}", &c["kw"], &c["sep"]))
}

/// `Bearer <token>`: a token, not a word like "authentication".
fn scheme(c: &Captures<'_>) -> Option<String> {
    let value = &c["val"];
    if (wordlike(value) && value.len() < 24) || placeholder(value) {
        return None;
    }
    Some(format!("{} {MASK}", &c["scheme"]))
}

fn url_credentials(c: &Captures<'_>) -> Option<String> {
    if placeholder(&c["pass"]) {
        return None;
    }
    Some(format!("{}{MASK}@", &c["keep"]))
}

fn ipv4(c: &Captures<'_>) -> Option<String> {
    let ip: std::net::Ipv4Addr = c[0].parse().ok()?;
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| MASK.to_string())
}

fn ipv6(c: &Captures<'_>) -> Option<String> {
    let text = &c[0];
    let ip: std::net::Ipv6Addr = text.parse().ok()?;
    // Three groups at least and a digit: `add::` is a Rust path, not an address.
    let groups = text.split(':').filter(|g| !g.is_empty()).count();
    let real = groups >= 3 && text.chars().any(|c| c.is_ascii_digit());
    (real && !ip.is_loopback() && !ip.is_unspecified()).then(|| MASK.to_string())
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let key_value_re = format!(
            r#"(?i)(?P<pre>^|[^A-Za-z0-9_./\\-])(?P<key>\\?"?[A-Za-z0-9_.-]*?(?P<kw>{KEYWORDS})(?:[_.-][A-Za-z0-9_.-]*)?\\?"?)(?P<sep>[ \t]*[:=][ \t]*)(?P<val>(?:bearer|basic|token|digest)[ \t]+[^\s,;}}&"']+|"(?:[^"\\]|\\.)*"|'[^']*'|\\"[^"\\]*\\"|"(?:[^"\\]|\\.)*$|[^\s,;}}&"']+)"#
        );
        let flag_re = format!(
            r"(?i)(?P<pre>^|\s)(?P<flag>--?(?:[a-z]+-)?(?:{KEYWORDS}))(?P<sp>[ \t]+)(?P<val>[^\s=:-]\S*)"
        );
        let specs: Vec<(String, Fix)> = vec![
            // user:password@ in any URL (the user may be empty).
            (
                r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<pass>[^@\s/]+)@".into(),
                url_credentials,
            ),
            (
                r"(?P<keep>hooks\.slack\.com/services/)[A-Za-z0-9/_-]+".into(),
                keep_prefix,
            ),
            // AWS key ids.
            (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b".into(), whole),
            // GitHub, GitLab, Slack, Stripe, OpenAI-style, Google, npm.
            (r"\bgh[pousr]_[A-Za-z0-9]{20,}\b".into(), whole),
            (r"\bgithub_pat_[A-Za-z0-9_]{22,}".into(), whole),
            (
                r"\bgl(?:pat|rt|dt|ptt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,}".into(),
                whole,
            ),
            (r"\bxox[abposr]-[A-Za-z0-9-]{10,}".into(), whole),
            (r"\b[srp]k_(?:live|test)_[A-Za-z0-9]{16,}\b".into(), whole),
            (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}".into(), whole),
            (r"\bAIza[0-9A-Za-z_-]{35}".into(), whole),
            (r"\bnpm_[A-Za-z0-9]{36}\b".into(), whole),
            // JSON Web Tokens.
            (
                r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}".into(),
                whole,
            ),
            (
                r"(?i)\b(?P<scheme>bearer|basic)\s+(?P<val>[A-Za-z0-9._~+/=%-]{8,})".into(),
                scheme,
            ),
            (key_value_re, key_value),
            (flag_re, flag),
            (
                r"(?i)\b(?P<kw>password|passphrase|passwd|secret|token|api key)(?P<sep>\s+(?:is|was)\s+)(?P<val>\S+)".into(),
                prose,
            ),
            // E-mail addresses.
            (
                r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b".into(),
                whole,
            ),
            (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b".into(), ipv4),
            (
                r"\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b".into(),
                ipv6,
            ),
        ];
        specs
            .into_iter()
            .filter_map(|(re, fix)| Regex::new(&re).ok().map(|re| Rule { re, fix }))
            .collect()
    })
}

/// How many rules compiled (all of them, or a unit test fails).
#[cfg(test)]
pub(super) fn rule_count() -> usize {
    rules().len()
}

/// Run every single-pattern rule over one logical line.
pub(super) fn apply_all(text: &str) -> String {
    let mut out = text.to_string();
    for rule in rules() {
        if rule.re.is_match(&out) {
            out = rule
                .re
                .replace_all(&out, |c: &Captures<'_>| {
                    (rule.fix)(c).unwrap_or_else(|| c[0].to_string())
                })
                .into_owned();
        }
    }
    out
}
