//! LogQL from the log pane's filter.
//!
//! The query is a stream selector (the configured `loki.selector`, or
//! `{app="<project>"}` when it is `{}`) with equality matchers for the
//! environment and version, then an unanchored line filter `|~` for the grep
//! text and a label filter on the level label:
//!
//! ```text
//! {app="shop", env="staging", version="v2"} |~ "timeout" | level=~"(?i)(warn|warning|error|...)"
//! ```
//!
//! Every value goes into a double-quoted LogQL string with Go's escapes, so
//! no value (a hostile environment name, a regex with quotes) can change the
//! query's shape. Label names are checked, not escaped: LogQL has no quoting
//! for them.

mod level;
mod quote;
mod selector;

pub use level::level_regex;
pub use quote::{is_label_name, quote};

use quote::label_name;
use selector::selector_matchers;

use crate::config::LokiConfig;
use crate::domain::logs::Level;
use crate::domain::sanitize::strip_all;

/// What to read: the log pane's (or `logs`') filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogQuery {
    /// The project; the default selector is `{app="<project>"}`.
    pub project: String,
    /// Only this environment (matched on `loki.labels.env`).
    pub env: Option<String>,
    /// Only this version (matched on `loki.labels.version`).
    pub version: Option<String>,
    /// Only lines at this level or above, by the level label. `Trace` and
    /// `Unknown` filter nothing.
    pub min_level: Option<Level>,
    /// A regex the raw line must contain a match of (RE2 syntax, LogQL `|~`).
    pub grep: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogQlError {
    #[error(
        "`{0}` is not a Loki label name (ASCII letters, digits and `_`, not starting with a digit)"
    )]
    LabelName(String),
    #[error("loki.selector `{selector}` is not a stream selector: {reason}")]
    Selector { selector: String, reason: String },
    #[error("regex `{regex}` is invalid: {reason}")]
    Regex { regex: String, reason: String },
    #[error("no stream selector: the project name is empty and loki.selector is `{{}}`")]
    NoMatcher,
}

/// The label matched against the project by the default selector.
pub const PROJECT_LABEL: &str = "app";

/// Build the LogQL for `q` with the configured selector and label names.
pub fn build(cfg: &LokiConfig, q: &LogQuery) -> Result<String, LogQlError> {
    let labels = &cfg.labels;
    let mut matchers = selector_matchers(&cfg.selector)?;
    if matchers.is_empty() {
        if q.project.is_empty() {
            return Err(LogQlError::NoMatcher);
        }
        matchers.push(format!("{PROJECT_LABEL}={}", quote(&q.project)));
    }
    if let Some(env) = &q.env {
        matchers.push(format!("{}={}", label_name(&labels.env)?, quote(env)));
    }
    if let Some(version) = &q.version {
        matchers.push(format!(
            "{}={}",
            label_name(&labels.version)?,
            quote(version)
        ));
    }
    let mut out = format!("{{{}}}", matchers.join(", "));
    if let Some(re) = q.grep.as_deref().filter(|g| !g.is_empty()) {
        regex::Regex::new(re).map_err(|e| LogQlError::Regex {
            regex: strip_all(re),
            reason: strip_all(&e.to_string()),
        })?;
        out.push_str(" |~ ");
        out.push_str(&quote(re));
    }
    if let Some(re) = q.min_level.and_then(level_regex) {
        out.push_str(&format!(
            " | {}=~{}",
            label_name(&labels.level)?,
            quote(&re)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::quote::tests::unquote;
    use super::selector::Parser;
    use super::*;

    fn cfg() -> LokiConfig {
        LokiConfig::default()
    }

    fn query() -> LogQuery {
        LogQuery {
            project: "shop".into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_selector_is_the_project() {
        assert_eq!(build(&cfg(), &query()).unwrap(), r#"{app="shop"}"#);
    }

    #[test]
    fn full_filter() {
        let q = LogQuery {
            env: Some("staging".into()),
            version: Some("v2".into()),
            min_level: Some(Level::Warn),
            grep: Some("time(out)?".into()),
            ..query()
        };
        assert_eq!(
            build(&cfg(), &q).unwrap(),
            r#"{app="shop", env="staging", version="v2"} |~ "time(out)?" | level=~"(?i)(warn|warning|error|err|fatal|critical|crit|panic)""#
        );
    }

    #[test]
    fn configured_labels_and_selector_are_used() {
        let mut c = cfg();
        c.selector = r#" { namespace = "shop" ,cluster=~`eu-.*`, job!="x\"y\\" } "#.into();
        c.labels.env = "deployment_environment".into();
        c.labels.version = "service_version".into();
        c.labels.level = "detected_level".into();
        let q = LogQuery {
            env: Some("prod".into()),
            version: Some("1.2.3".into()),
            min_level: Some(Level::Error),
            ..query()
        };
        assert_eq!(
            build(&c, &q).unwrap(),
            r#"{namespace="shop", cluster=~`eu-.*`, job!="x\"y\\", deployment_environment="prod", service_version="1.2.3"} | detected_level=~"(?i)(error|err|fatal|critical|crit|panic)""#
        );
    }

    #[test]
    fn hostile_values_stay_inside_their_strings() {
        let hostile = "a\"} |= \"x\" or {app=~\".+\x1b[2J\n\\";
        let q = LogQuery {
            project: hostile.into(),
            env: Some(hostile.into()),
            version: Some("`v1`".into()),
            grep: Some(r#"a"b\d+"#.into()),
            ..Default::default()
        };
        let logql = build(&cfg(), &q).unwrap();
        assert!(
            !logql.contains('\n') && !logql.contains('\x1b'),
            "{logql:?}"
        );
        // Take the query apart on its own grammar: every quoted string comes
        // back as the value that went in.
        let selector_end = logql.find("} |~ ").expect("selector then line filter");
        let inner = &logql[1..selector_end];
        let mut p = Parser { s: inner, i: 0 };
        let mut values = Vec::new();
        loop {
            p.skip_ws();
            let name = p.ident().unwrap().to_string();
            let op = p.op().unwrap();
            let v = p.string().unwrap();
            values.push((name, op, unquote(v)));
            p.skip_ws();
            if p.done() {
                break;
            }
            assert!(p.eat(','));
        }
        assert_eq!(
            values,
            vec![
                ("app".into(), "=", hostile.to_string()),
                ("env".into(), "=", hostile.to_string()),
                ("version".into(), "=", "`v1`".to_string()),
            ]
        );
        let grep = &logql[selector_end + "} |~ ".len()..];
        assert_eq!(unquote(grep), r#"a"b\d+"#);
    }

    #[test]
    fn bad_label_names_and_selectors_are_refused() {
        let mut c = cfg();
        c.labels.env = "env\"} or {x=\"".into();
        let q = LogQuery {
            env: Some("a".into()),
            ..query()
        };
        assert!(matches!(build(&c, &q), Err(LogQlError::LabelName(_))));
        for sel in [
            r#"app="x""#,
            r#"{app="x"} |= "y""#,
            r#"{app="x" env="y"}"#,
            r#"{app=="x"}"#,
            r#"{app="x}"#,
            r#"{app="\q"}"#,
            r#"{1app="x"}"#,
            "{app=`x}",
            "{app=\"a\nb\"}",
        ] {
            let mut c = cfg();
            c.selector = sel.into();
            let err = build(&c, &query()).unwrap_err();
            assert!(matches!(err, LogQlError::Selector { .. }), "{sel}: {err:?}");
        }
        let none = LogQuery::default();
        assert_eq!(build(&cfg(), &none), Err(LogQlError::NoMatcher));
        let mut empty = cfg();
        empty.selector = String::new();
        assert_eq!(build(&empty, &query()).unwrap(), r#"{app="shop"}"#);
    }

    #[test]
    fn invalid_grep_is_refused_locally() {
        let q = LogQuery {
            grep: Some("(unclosed".into()),
            ..query()
        };
        assert!(matches!(build(&cfg(), &q), Err(LogQlError::Regex { .. })));
        let empty = LogQuery {
            grep: Some(String::new()),
            ..query()
        };
        assert_eq!(build(&cfg(), &empty).unwrap(), r#"{app="shop"}"#);
    }
}
