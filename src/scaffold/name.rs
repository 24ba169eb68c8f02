//! Project names: kebab-case, short enough for every Kubernetes name built
//! from them (`<name>-production`, `<name>-network-partition`), and usable
//! as a package name in every template language.

use super::ScaffoldError;

pub const MAX_LEN: usize = 40;

/// Words that cannot be a whole Kotlin/Java package segment or a Go/Python
/// identifier; [`derive`] suffixes such a segment with `_`.
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
/// A reserved word as one segment (`svc-go-chi`, `class-api`) is fine: only
/// whole identifiers derived from the name are checked, by [`derive`].
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
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        let hint = if c.is_ascii_uppercase() || c == '_' || c == ' ' {
            format!(" (try `{}`)", suggest(name))
        } else {
            String::new()
        };
        return Err(bad(format!(
            "only lowercase letters, digits, `-` and `.` are allowed, found `{}`{hint}",
            c.escape_default()
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad("it must start with a letter or a digit".into()));
    }
    if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad("it must end with a letter or a digit".into()));
    }
    if let Some(pair) = ["--", "..", ".-", "-."].iter().find(|p| name.contains(*p)) {
        return Err(bad(format!("it must not contain `{pair}`")));
    }
    derive(name).map(|_| ())
}

/// The identifiers a template builds from a project name, each made valid
/// for where it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedNames {
    /// Kubernetes resource and Compose project names (an RFC 1035 label).
    pub dns: String,
    /// `my_service`, for file and variable names.
    pub snake: String,
    /// `MyService`, for type names.
    pub pascal: String,
    /// The last segment of the Kotlin/Java package.
    pub package_segment: String,
}

/// Longest suffix a manifest appends to the DNS name (`-network-partition`).
const LONGEST_DNS_SUFFIX: usize = "-network-partition".len();

/// Derive every identifier; refuse, naming the identifier and the rule, only
/// when one cannot be made valid.
pub fn derive(name: &str) -> Result<DerivedNames, ScaffoldError> {
    let refuse = |identifier: &str, value: &str, why: &str| ScaffoldError::InvalidName {
        name: crate::domain::sanitize::strip_all(name),
        reason: format!("the {identifier} `{value}` derived from it {why}"),
    };
    let mut dns = name.replace('.', "-");
    // A Kubernetes Service name must start with a letter.
    if dns.starts_with(|c: char| c.is_ascii_digit()) {
        dns = format!("svc-{dns}");
    }
    if dns.len() + LONGEST_DNS_SUFFIX > 63 {
        return Err(refuse(
            "Kubernetes name",
            &dns,
            "leaves no room for suffixes within 63 characters",
        ));
    }
    if !dns
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(refuse(
            "Kubernetes name",
            &dns,
            "may only hold lowercase letters, digits and `-`",
        ));
    }
    let snake = snake(name);
    let mut package_segment = snake.clone();
    if package_segment.starts_with(|c: char| c.is_ascii_digit()) {
        package_segment = format!("_{package_segment}");
    }
    if RESERVED.contains(&package_segment.as_str()) {
        package_segment.push('_');
    }
    let mut pascal = pascal(name);
    if pascal.starts_with(|c: char| c.is_ascii_digit()) {
        pascal = format!("Svc{pascal}");
    }
    Ok(DerivedNames {
        dns,
        snake,
        pascal,
        package_segment,
    })
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

/// `my-service` -> `my_service` (`.` too).
pub fn snake(name: &str) -> String {
    name.replace(['-', '.'], "_")
}

/// `my-service` -> `MyService`.
pub fn pascal(name: &str) -> String {
    name.split(['-', '.'])
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
        for ok in [
            "a",
            "my-service",
            "orders2",
            "a1-b2-c3",
            "svc-go-chi",
            "class-api",
            "fn",
            "my.service",
            "9lives",
            "new",
        ] {
            validate(ok).unwrap();
        }
    }

    #[test]
    fn every_bad_name_says_why() {
        let cases = [
            ("", "empty"),
            ("MyService", "try `my-service`"),
            ("my_service", "try `my-service`"),
            ("-service", "start with a letter or a digit"),
            ("service-", "end with"),
            ("a--b", "`--`"),
            ("a.-b", "`.-`"),
            ("../etc", "found `/`"),
            (".hidden", "start with"),
            ("a/b", "found `/`"),
            (&"x".repeat(41), "limit is 40"),
        ];
        for (name, want) in cases {
            let e = validate(name).unwrap_err().to_string();
            assert!(e.contains(want), "{name:?}: {e}");
        }
    }

    #[test]
    fn every_identifier_is_derived_valid() {
        let d = |n: &str| derive(n).unwrap();
        assert_eq!(d("svc-go-chi").package_segment, "svc_go_chi");
        assert_eq!(d("class-api").package_segment, "class_api");
        assert_eq!(d("class").package_segment, "class_");
        assert_eq!(d("new").package_segment, "new_");
        assert_eq!(d("fn").dns, "fn");
        let dotted = d("my.service");
        assert_eq!(
            (
                dotted.dns.as_str(),
                dotted.snake.as_str(),
                dotted.pascal.as_str()
            ),
            ("my-service", "my_service", "MyService")
        );
        let digit = d("9lives");
        assert_eq!(digit.dns, "svc-9lives");
        assert_eq!(digit.package_segment, "_9lives");
        assert_eq!(digit.pascal, "Svc9lives");
    }

    #[test]
    fn derived_names() {
        assert_eq!(snake("my-service"), "my_service");
        assert_eq!(pascal("my-service"), "MyService");
        assert_eq!(pascal("a1-b"), "A1B");
        assert_eq!(suggest("My Service_API"), "my-service-api");
    }
}
