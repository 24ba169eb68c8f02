//! Rendering configured PromQL templates: `{env}` and `{version}` become
//! regexes that match only the given names (or anything), `{range}` a
//! duration. Values are escaped so a name can never change the query's shape.

use std::time::Duration;

/// Regex for "any value" (Prometheus anchors regexes, so this is non-empty values).
pub const ANY: &str = ".+";

/// Escape `s` so it matches itself literally as a Prometheus (RE2) regex.
pub fn literal_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A regex matching exactly one of `values`, or anything when there are none.
pub fn any_of(values: &[String]) -> String {
    if values.is_empty() {
        return ANY.to_string();
    }
    values
        .iter()
        .map(|v| literal_regex(v))
        .collect::<Vec<_>>()
        .join("|")
}

/// Escape text for the inside of a double-quoted PromQL string.
fn quote_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// A range as PromQL writes it: whole seconds, at least one.
pub fn range_literal(range: Duration) -> String {
    let secs = range.as_secs() + u64::from(range.subsec_nanos() > 0);
    format!("{}s", secs.max(1))
}

/// Substitute the placeholders in one pass (so a substituted value is never
/// scanned again). `env_regex` and `version_regex` are regexes; they are
/// quote-escaped here for use inside `"..."`.
pub fn render(template: &str, env_regex: &str, version_regex: &str, range: Duration) -> String {
    let env = quote_escape(env_regex);
    let version = quote_escape(version_regex);
    let range = range_literal(range);
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (value, len) = if tail.starts_with("{env}") {
            (env.as_str(), "{env}".len())
        } else if tail.starts_with("{version}") {
            (version.as_str(), "{version}".len())
        } else if tail.starts_with("{range}") {
            (range.as_str(), "{range}".len())
        } else {
            ("{", 1)
        };
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_regex_escapes_metacharacters() {
        assert_eq!(literal_regex("v1.2"), r"v1\.2");
        assert_eq!(literal_regex("a|b(c)"), r"a\|b\(c\)");
        assert_eq!(literal_regex("staging"), "staging");
    }

    #[test]
    fn any_of_joins_or_matches_anything() {
        assert_eq!(any_of(&[]), ".+");
        assert_eq!(
            any_of(&["staging".into(), "prod.eu".into()]),
            r"staging|prod\.eu"
        );
    }

    #[test]
    fn render_substitutes_every_placeholder_once() {
        let q = render(
            r#"sum(rate(x{env=~"{env}",version=~"{version}"}[{range}])) by ({unknown})"#,
            "staging",
            r"v1\.0",
            Duration::from_millis(1500),
        );
        assert_eq!(
            q,
            r#"sum(rate(x{env=~"staging",version=~"v1\\.0"}[2s])) by ({unknown})"#
        );
    }

    #[test]
    fn render_cannot_be_broken_out_of_by_a_value() {
        let q = render(
            r#"x{env=~"{env}"}"#,
            &literal_regex("a\"}) or vector(1) #{version}"),
            "v",
            Duration::from_secs(5),
        );
        // The quote stays escaped and the nested placeholder is not expanded.
        assert!(q.contains(r#"a\""#), "{q}");
        assert!(q.contains(r"\\{version\\}"), "{q}");
        assert!(q.ends_with("\"}"), "{q}");
    }

    #[test]
    fn range_literal_rounds_up_to_whole_seconds() {
        assert_eq!(range_literal(Duration::from_secs(30)), "30s");
        assert_eq!(range_literal(Duration::from_millis(10)), "1s");
        assert_eq!(range_literal(Duration::ZERO), "1s");
    }
}
