//! Project names: kebab-case, short enough for every Kubernetes name built
//! from them (`<name>-production`, `<name>-network-partition`), and usable
//! as a package name in every template language.

use super::ScaffoldError;

pub const MAX_LEN: usize = 40;

/// Words that cannot be a Kotlin/Java package segment or a Go/Python
/// identifier once the name is in snake case.
const RESERVED: [&str; 40] = [
    "abstract",
    "as",
    "assert",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "def",
    "default",
    "do",
    "else",
    "enum",
    "extends",
    "false",
    "final",
    "for",
    "fun",
    "func",
    "go",
    "if",
    "import",
    "in",
    "interface",
    "is",
    "lambda",
    "new",
    "null",
    "object",
    "package",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "while",
];

/// Check a project name; the error says what is wrong and how to fix it.
pub fn validate(name: &str) -> Result<(), ScaffoldError> {
    let bad = |reason: String| ScaffoldError::InvalidName {
        name: crate::domain::sanitize::strip_all(name),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if name.len() > MAX_LEN {
        return Err(bad(format!(
            "it is {} characters long; the limit is {MAX_LEN} (Kubernetes names are built from it)",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        let hint = if c.is_ascii_uppercase() || c == '_' || c == ' ' {
            format!(" (try `{}`)", suggest(name))
        } else {
            String::new()
        };
        return Err(bad(format!(
            "only lowercase letters, digits and `-` are allowed, found `{}`{hint}",
            c.escape_default()
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(bad("it must start with a letter".into()));
    }
    if name.ends_with('-') {
        return Err(bad("it must not end with `-`".into()));
    }
    if name.contains("--") {
        return Err(bad("it must not contain `--`".into()));
    }
    let snake = snake(name);
    if let Some(word) = snake.split('_').find(|w| RESERVED.contains(w)) {
        return Err(bad(format!(
            "`{word}` is a reserved word in one of the template languages; add to it (e.g. `{name}-service`)"
        )));
    }
    Ok(())
}

/// A kebab-case suggestion for a name typed in another style.
pub fn suggest(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
            prev_lower = true;
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
            prev_lower = false;
        }
    }
    out.trim_matches('-').to_string()
}

/// `my-service` -> `my_service`.
pub fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `my-service` -> `MyService`.
pub fn pascal(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_names_pass() {
        for ok in ["a", "my-service", "orders2", "a1-b2-c3"] {
            validate(ok).unwrap();
        }
    }

    #[test]
    fn every_bad_name_says_why() {
        let cases = [
            ("", "empty"),
            ("MyService", "try `my-service`"),
            ("my_service", "try `my-service`"),
            ("1service", "start with a letter"),
            ("service-", "end with"),
            ("a--b", "`--`"),
            ("../etc", "found `.`"),
            ("new", "reserved"),
            ("my-class", "reserved"),
            (&"x".repeat(41), "limit is 40"),
        ];
        for (name, want) in cases {
            let e = validate(name).unwrap_err().to_string();
            assert!(e.contains(want), "{name:?}: {e}");
        }
    }

    #[test]
    fn derived_names() {
        assert_eq!(snake("my-service"), "my_service");
        assert_eq!(pascal("my-service"), "MyService");
        assert_eq!(pascal("a1-b"), "A1B");
        assert_eq!(suggest("My Service_API"), "my-service-api");
    }
}
