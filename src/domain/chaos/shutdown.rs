//! How an instance answered SIGTERM when a runtime stopped it: the line a
//! runtime logs (as itself, never as the instance, so a service cannot
//! print one) and its reading back, for the graceful-shutdown item of the
//! scorecard.

use std::fmt;

/// One stop: SIGTERM sent, then either the instance exited within the grace
/// period or it was killed when the period ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigtermStop {
    pub instance: String,
    /// Time from SIGTERM to exit; the whole grace period when killed.
    pub after_ms: u64,
    pub grace_ms: u64,
    pub killed: bool,
}

impl fmt::Display for SigtermStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.killed {
            write!(
                f,
                "instance {} was still running {} ms after SIGTERM (grace period {} ms): killed",
                self.instance, self.after_ms, self.grace_ms
            )
        } else {
            write!(
                f,
                "instance {} exited {} ms after SIGTERM (grace period {} ms)",
                self.instance, self.after_ms, self.grace_ms
            )
        }
    }
}

impl SigtermStop {
    /// Read back a line written by `Display`; anything else is `None`.
    pub fn parse(text: &str) -> Option<SigtermStop> {
        let rest = text.strip_prefix("instance ")?;
        let (instance, rest, killed) = match rest.split_once(" was still running ") {
            Some((i, r)) => (i, r, true),
            None => {
                let (i, r) = rest.split_once(" exited ")?;
                (i, r, false)
            }
        };
        let (after, rest) = rest.split_once(" ms after SIGTERM (grace period ")?;
        let (grace, tail) = rest.split_once(" ms)")?;
        let tail_ok = if killed {
            tail == ": killed"
        } else {
            tail.is_empty()
        };
        if instance.is_empty() || instance.contains(' ') || !tail_ok {
            return None;
        }
        Some(SigtermStop {
            instance: instance.to_string(),
            after_ms: after.parse().ok()?,
            grace_ms: grace.parse().ok()?,
            killed,
        })
    }
}

#[cfg(test)]
mod tests;
