//! Redact secrets before text leaves for an LLM or a log file.

use regex::Regex;
use std::sync::OnceLock;

const MASK: &str = "[REDACTED]";

fn patterns() -> &'static [(Regex, &'static str)] {
    static P: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        let specs: [(&str, &'static str); 7] = [
            // PEM private keys, whole block.
            (r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", MASK),
            // Authorization headers and bearer tokens.
            (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
            // key=value / key: value / "key":"value" for secret-looking keys.
            (
                r#"(?i)("?[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth)[A-Za-z0-9_.-]*"?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)"#,
                "${1}[REDACTED]",
            ),
            // Credentials in URLs: scheme://user:pass@host
            (r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", "${1}[REDACTED]@"),
            // AWS access key ids.
            (r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", MASK),
            // GitHub / Slack style tokens.
            (r"\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,})\b", MASK),
            // JSON Web Tokens.
            (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", MASK),
        ];
        specs
            .iter()
            .filter_map(|(re, rep)| Regex::new(re).ok().map(|r| (r, *rep)))
            .collect()
    })
}

/// Replace anything that looks like a secret with `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (re, rep) in patterns() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *rep).into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        assert_eq!(patterns().len(), 7);
    }

    #[test]
    fn redacts_key_values_and_keeps_the_rest() {
        let out = redact("connecting user=bob password=hunter2 db=orders");
        assert_eq!(out, "connecting user=bob password=[REDACTED] db=orders");
        let out = redact(r#"{"api_key":"abc123","level":"info"}"#);
        assert_eq!(out, r#"{"api_key":[REDACTED],"level":"info"}"#);
    }

    #[test]
    fn redacts_tokens_urls_and_keys() {
        let auth = redact("Authorization: Bearer abcdefghijklmnop");
        assert!(!auth.contains("abcdefghijklmnop"), "{auth}");
        assert!(auth.starts_with("Authorization: [REDACTED]"), "{auth}");
        assert_eq!(
            redact("dsn postgres://app:s3cret@db:5432/x"),
            "dsn postgres://app:[REDACTED]@db:5432/x"
        );
        assert_eq!(
            redact("key AKIAABCDEFGHIJKLMNOP here"),
            "key [REDACTED] here"
        );
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----";
        assert_eq!(redact(pem), "[REDACTED]");
        assert!(
            !redact("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4").contains("eyJ")
        );
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let s = "GET /hello/world 200 in 3ms (token bucket ok)";
        assert_eq!(redact(s), s);
    }
}
