//! Pass/fail limits and the check of a run against them.

use serde::Serialize;

use super::ms;

/// Pass/fail limits for a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    pub p95_ms: f64,
    pub max_error_rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdFailure {
    /// `p95_ms` or `error_rate`.
    pub threshold: &'static str,
    pub limit: f64,
    pub actual: f64,
    pub over_by: f64,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdReport {
    pub p95_ms: f64,
    pub max_error_rate: f64,
    pub passed: bool,
    pub failures: Vec<ThresholdFailure>,
}

/// Compare a run against its limits; each failure says by how much.
pub fn check(limits: Thresholds, p95_ms: f64, error_rate: f64) -> ThresholdReport {
    let mut failures = Vec::new();
    if p95_ms > limits.p95_ms {
        let over = p95_ms - limits.p95_ms;
        failures.push(ThresholdFailure {
            threshold: "p95_ms",
            limit: limits.p95_ms,
            actual: p95_ms,
            over_by: over,
            message: format!(
                "p95 latency {} is above the limit {} by {}",
                ms(p95_ms),
                ms(limits.p95_ms),
                ms(over)
            ),
        });
    }
    if error_rate > limits.max_error_rate {
        let over = error_rate - limits.max_error_rate;
        failures.push(ThresholdFailure {
            threshold: "error_rate",
            limit: limits.max_error_rate,
            actual: error_rate,
            over_by: over,
            message: format!(
                "error rate {:.2}% is above the limit {:.2}% by {:.2} percentage points",
                error_rate * 100.0,
                limits.max_error_rate * 100.0,
                over * 100.0
            ),
        });
    }
    ThresholdReport {
        p95_ms: limits.p95_ms,
        max_error_rate: limits.max_error_rate,
        passed: failures.is_empty(),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_run_has_no_failures() {
        let r = check(
            Thresholds {
                p95_ms: 200.0,
                max_error_rate: 0.01,
            },
            200.0,
            0.01,
        );
        assert!(r.passed);
        assert!(r.failures.is_empty());
    }
}
