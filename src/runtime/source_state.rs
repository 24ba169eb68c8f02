//! How every source words an outage: the error, then when it tries again.
//! Prometheus, Loki, the agent (Ollama) and the Docker Engine all use this,
//! so a degraded pane always reads `<error> · retry in <wait>`.

use std::time::Duration;

use super::SourceState;

/// What separates the error from its retry in a degraded reason.
pub const RETRY_MARK: &str = " · retry in ";

impl SourceState {
    /// A failed attempt that is tried again after `wait`:
    /// `Degraded("connection refused · retry in 4s")`.
    pub fn retrying(error: impl std::fmt::Display, wait: Duration) -> SourceState {
        SourceState::Degraded(format!("{error}{RETRY_MARK}{}", wait_text(wait)))
    }
}

/// A degraded reason split into its error and its retry (`retry in 4s`),
/// when it has one.
pub fn split_retry(reason: &str) -> (&str, Option<&str>) {
    match reason.rfind(RETRY_MARK) {
        Some(i) => (&reason[..i], Some(&reason[i + " · ".len()..])),
        None => (reason, None),
    }
}

/// A backoff as a person reads it: `250ms`, `4s`, `1m30s`.
pub fn wait_text(wait: Duration) -> String {
    let ms = wait.as_millis();
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    // Whole seconds, rounded up: "retry in 0s" would be a lie.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_like_a_person_says_them() {
        assert_eq!(wait_text(Duration::from_millis(250)), "250ms");
        assert_eq!(wait_text(Duration::from_secs(4)), "4s");
        assert_eq!(wait_text(Duration::from_millis(4_200)), "5s");
        assert_eq!(wait_text(Duration::from_secs(60)), "1m");
        assert_eq!(wait_text(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn a_reason_splits_into_its_error_and_its_retry() {
        let SourceState::Degraded(r) = SourceState::retrying("a · b", Duration::from_secs(2))
        else {
            unreachable!()
        };
        assert_eq!(split_retry(&r), ("a · b", Some("retry in 2s")));
        assert_eq!(split_retry("no route"), ("no route", None));
    }

    #[test]
    fn the_reason_names_the_error_then_the_retry() {
        assert_eq!(
            SourceState::retrying("connection refused", Duration::from_secs(4)),
            SourceState::Degraded("connection refused · retry in 4s".into())
        );
    }
}
