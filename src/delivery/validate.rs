//! Checks shared by every runtime's delivery: what a version may look like.

use crate::domain::environment::Version;
use crate::domain::sanitize::sanitize_str;
use crate::runtime::RuntimeError;

/// 1..=`max` of A-Z a-z 0-9 . _ -, starting with a letter or digit.
pub fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Versions become instance ids, container names, log labels and
/// arguments: keep them tame.
pub fn validate_version(v: &Version) -> Result<(), RuntimeError> {
    if valid_name(v.as_str(), 64) {
        Ok(())
    } else {
        Err(RuntimeError::Refused(format!(
            "`{}` is not a valid version (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
            sanitize_str(v.as_str())
        )))
    }
}

/// Longest abort reason kept (it is shown in status lines).
const MAX_REASON: usize = 200;

/// An abort reason as given by a person or a script: control characters
/// removed, length bounded, never empty.
pub fn tidy_reason(reason: &str) -> String {
    let r: String = crate::domain::sanitize::strip_all(reason)
        .trim()
        .chars()
        .take(MAX_REASON)
        .collect();
    if r.is_empty() {
        "no reason given".into()
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_tame() {
        assert!(validate_version(&Version::new("v2")).is_ok());
        assert!(validate_version(&Version::new("1.4.0-rc.1")).is_ok());
        assert!(validate_version(&Version::new("abc123_def")).is_ok());
        assert!(validate_version(&Version::new("")).is_err());
        assert!(validate_version(&Version::new("-v2")).is_err());
        assert!(validate_version(&Version::new("v2; rm -rf /")).is_err());
        assert!(validate_version(&Version::new("v2\u{1b}[2J")).is_err());
        assert!(validate_version(&Version::new("x".repeat(65))).is_err());
    }

    #[test]
    fn abort_reasons_are_cleaned_and_bounded() {
        let r = tidy_reason("  p99 too high \u{1b}[2J ");
        assert!(
            r.starts_with("p99 too high") && !r.contains('\u{1b}'),
            "{r:?}"
        );
        assert_eq!(tidy_reason(""), "no reason given");
        assert_eq!(tidy_reason(&"x".repeat(500)).len(), 200);
    }
}
