//! The resilience gate: a version moves on only when the last FMEA of the
//! environment it comes from scored at least the configured minimum.

use crate::domain::EpochMillis;

/// The last FMEA score of an environment and when that suite ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastScore {
    pub score: f64,
    pub at: EpochMillis,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gate {
    /// Scored at least the minimum.
    Open(LastScore),
    /// No FMEA has scored this environment: nothing to judge by.
    NoScore,
    /// Below the minimum: refused unless overridden with confirmation.
    Closed { last: LastScore, min: f64 },
}

pub fn resilience_gate(last: Option<LastScore>, min: f64) -> Gate {
    match last {
        None => Gate::NoScore,
        Some(l) if l.score >= min => Gate::Open(l),
        Some(l) => Gate::Closed { last: l, min },
    }
}

impl Gate {
    /// One line saying what the gate found, for `env`.
    pub fn describe(&self, env: &str) -> String {
        match self {
            Gate::Open(l) => format!("resilience gate open: {env} scored {:.0}/100 in its last FMEA", l.score),
            Gate::NoScore => format!(
                "no FMEA score for {env} yet (`blissful-infra chaos --env {env}`); the resilience gate is not applied"
            ),
            Gate::Closed { last, min } => format!(
                "resilience gate closed: {env} scored {:.0}/100 in its last FMEA, below the minimum {min:.0} (comparison.thresholds.min_resilience_score)",
                last.score
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_at_the_minimum_and_says_why_it_is_closed() {
        let at = |score| Some(LastScore { score, at: 0 });
        assert!(matches!(resilience_gate(at(80.0), 80.0), Gate::Open(_)));
        assert!(matches!(
            resilience_gate(at(79.9), 80.0),
            Gate::Closed { .. }
        ));
        assert_eq!(resilience_gate(None, 80.0), Gate::NoScore);
        let closed = resilience_gate(at(66.7), 80.0).describe("staging");
        assert!(
            closed.contains("67/100") && closed.contains("minimum 80"),
            "{closed}"
        );
        assert!(resilience_gate(None, 80.0)
            .describe("staging")
            .contains("chaos --env staging"));
    }
}
