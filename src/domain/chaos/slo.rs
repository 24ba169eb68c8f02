//! Chaos SLOs and the checks a finished experiment is judged by: each
//! observed figure beside its limit, so a verdict can always be explained.

use serde::{Deserialize, Serialize};

/// Chaos SLOs: what counts as impact, and how fast recovery must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosSlo {
    pub max_error_rate: f64,
    pub max_p99_ms: f64,
    pub max_recovery_secs: u64,
}

impl Default for ChaosSlo {
    fn default() -> Self {
        ChaosSlo {
            max_error_rate: 0.05,
            max_p99_ms: 250.0,
            max_recovery_secs: 30,
        }
    }
}

/// What an SLO check measures (decides the unit it is shown in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    /// Peak error rate, a fraction 0..1 (shown in %).
    ErrorRate,
    /// Peak p99 latency, ms.
    P99,
    /// Time to recover after the fault, ms (shown in s).
    Recovery,
}

impl SloMetric {
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::ErrorRate => "error rate",
            SloMetric::P99 => "p99",
            SloMetric::Recovery => "recovery",
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            SloMetric::ErrorRate => format!("{:.1}%", v * 100.0),
            SloMetric::P99 => format!("{v:.0}ms"),
            SloMetric::Recovery => format!("{:.1}s", v / 1000.0),
        }
    }
}

/// One figure of an experiment beside its limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    pub metric: SloMetric,
    /// `None` when it was never reached (recovery that did not come).
    pub observed: Option<f64>,
    pub limit: f64,
    pub passed: bool,
}

impl SloCheck {
    fn new(metric: SloMetric, observed: Option<f64>, limit: f64) -> Self {
        SloCheck {
            metric,
            observed,
            limit,
            passed: observed.is_some_and(|v| v <= limit),
        }
    }

    /// `error rate 100.0% (limit 5.0%) ✗`.
    pub fn describe(&self) -> String {
        let observed = match self.observed {
            Some(v) => self.metric.show(v),
            None => "never".to_string(),
        };
        format!(
            "{} {observed} (limit {}) {}",
            self.metric.name(),
            self.metric.show(self.limit),
            if self.passed { "✓" } else { "✗" }
        )
    }
}

impl ChaosSlo {
    /// Judge the peaks and the recovery time of an experiment.
    pub fn checks(
        &self,
        peak_error_rate: f64,
        peak_p99_ms: f64,
        recovery_ms: Option<i64>,
    ) -> Vec<SloCheck> {
        vec![
            SloCheck::new(
                SloMetric::ErrorRate,
                Some(peak_error_rate),
                self.max_error_rate,
            ),
            SloCheck::new(SloMetric::P99, Some(peak_p99_ms), self.max_p99_ms),
            SloCheck::new(
                SloMetric::Recovery,
                recovery_ms.map(|ms| ms as f64),
                (self.max_recovery_secs as f64) * 1000.0,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_figure_is_shown_beside_its_limit() {
        let checks = ChaosSlo::default().checks(1.0, 120.0, None);
        let text: Vec<String> = checks.iter().map(SloCheck::describe).collect();
        assert_eq!(
            text,
            vec![
                "error rate 100.0% (limit 5.0%) ✗",
                "p99 120ms (limit 250ms) ✓",
                "recovery never (limit 30.0s) ✗",
            ]
        );
        // Exactly at the limit passes.
        let at = ChaosSlo::default().checks(0.05, 250.0, Some(30_000));
        assert!(at.iter().all(|c| c.passed), "{at:?}");
    }
}
