//! A chaos experiment: its fault window, what was observed, and its verdict.

use serde::{Deserialize, Serialize};

use super::{ChaosSlo, FaultParams, ScenarioKind, SloCheck};
use crate::domain::EpochMillis;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentState {
    Running,
    /// Fault removed, waiting for metrics to return within the SLO.
    Recovering,
    Completed,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentResult {
    /// Impact seen (instances missing) but every SLO held, recovery included.
    Resilient,
    /// No impact seen at all.
    NoImpact,
    /// Recovery took longer than the SLO, or never came.
    NotRecovered,
    /// Recovered in time, but the peak error rate or p99 broke its SLO.
    SloBreached,
}

impl ExperimentResult {
    pub fn label(self) -> &'static str {
        match self {
            ExperimentResult::Resilient => "resilient",
            ExperimentResult::NoImpact => "no impact",
            ExperimentResult::NotRecovered => "not recovered",
            ExperimentResult::SloBreached => "SLO breached",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: String,
    pub env: String,
    pub scenario: ScenarioKind,
    pub params: FaultParams,
    pub started_at: EpochMillis,
    pub ends_at: EpochMillis,
    pub state: ExperimentState,
    /// ms from start until impact was first seen.
    pub detection_ms: Option<i64>,
    /// ms from the end of the fault (or of the impact, for pod-kill) until back within SLO.
    pub recovery_ms: Option<i64>,
    /// Worst error rate and p99 seen while the experiment ran.
    pub peak_error_rate: f64,
    pub peak_p99_ms: f64,
    pub failed_requests: u64,
    pub result: Option<ExperimentResult>,
    /// Set while the experiment is in its impacted window (internal bookkeeping).
    #[serde(default)]
    pub impacted_since: Option<EpochMillis>,
    #[serde(default)]
    pub last_impact_at: Option<EpochMillis>,
    /// The figures the verdict was taken from, each beside its limit
    /// (filled when the experiment completes).
    #[serde(default)]
    pub slo_checks: Vec<SloCheck>,
    /// The runtime gave no request figures (Kubernetes without request
    /// metrics): only instance counts were watched, and the error-rate and
    /// p99 SLOs are left out of the checks rather than passed on zeros.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requests_unmeasured: bool,
}

impl Experiment {
    pub fn new(
        id: String,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
        now: EpochMillis,
    ) -> Self {
        let ends_at = now + (params.duration_secs as i64) * 1000;
        Experiment {
            id,
            env: env.to_string(),
            scenario,
            params,
            started_at: now,
            ends_at,
            state: ExperimentState::Running,
            detection_ms: None,
            recovery_ms: None,
            peak_error_rate: 0.0,
            peak_p99_ms: 0.0,
            failed_requests: 0,
            result: None,
            impacted_since: None,
            last_impact_at: None,
            slo_checks: Vec::new(),
            requests_unmeasured: false,
        }
    }

    /// Fold one observation of a runtime that counts instances but sees no
    /// requests: impact is fewer ready instances than desired, nothing else.
    pub fn observe_instances(&mut self, now: EpochMillis, instances_short: bool, slo: &ChaosSlo) {
        self.requests_unmeasured = true;
        self.observe(now, 0.0, 0.0, 0, instances_short, slo);
    }

    /// Fold one environment-wide observation into the experiment.
    /// `healthy_instances_short` is true while fewer instances are ready than desired.
    pub fn observe(
        &mut self,
        now: EpochMillis,
        error_rate: f64,
        p99_ms: f64,
        errors: u64,
        instances_short: bool,
        slo: &ChaosSlo,
    ) {
        if matches!(
            self.state,
            ExperimentState::Completed | ExperimentState::Aborted
        ) {
            return;
        }
        self.peak_error_rate = self.peak_error_rate.max(error_rate);
        self.peak_p99_ms = self.peak_p99_ms.max(p99_ms);
        self.failed_requests += errors;
        let impacted =
            error_rate > slo.max_error_rate || p99_ms > slo.max_p99_ms || instances_short;
        if impacted {
            if self.detection_ms.is_none() {
                self.detection_ms = Some(now - self.started_at);
            }
            self.last_impact_at = Some(now);
        }
        if self.state == ExperimentState::Recovering {
            let fault_end = self.ends_at.min(now);
            if !impacted {
                // Recovered now, unless the impact had already ended with the fault.
                let still_impacted_after_fault =
                    self.last_impact_at.is_some_and(|t| t >= fault_end);
                self.recovery_ms = Some(if still_impacted_after_fault {
                    now - fault_end
                } else {
                    0
                });
                self.complete(slo);
            } else if now - fault_end > (slo.max_recovery_secs as i64) * 1000 {
                self.complete(slo);
            }
        }
    }

    /// Judge the experiment: every figure against its SLO. A breach of the
    /// error rate or p99 is never "resilient", however fast recovery was.
    fn complete(&mut self, slo: &ChaosSlo) {
        use super::SloMetric;
        self.state = ExperimentState::Completed;
        self.slo_checks = slo.checks(self.peak_error_rate, self.peak_p99_ms, self.recovery_ms);
        if self.requests_unmeasured {
            self.slo_checks.retain(|c| c.metric == SloMetric::Recovery);
        }
        let failed = |m: SloMetric| self.slo_checks.iter().any(|c| c.metric == m && !c.passed);
        self.result = Some(if failed(SloMetric::Recovery) {
            ExperimentResult::NotRecovered
        } else if failed(SloMetric::ErrorRate) || failed(SloMetric::P99) {
            ExperimentResult::SloBreached
        } else if self.detection_ms.is_some() {
            ExperimentResult::Resilient
        } else {
            ExperimentResult::NoImpact
        });
    }

    /// The fault has been removed; from now on the experiment waits for recovery.
    pub fn fault_removed(&mut self, now: EpochMillis) {
        if self.state == ExperimentState::Running {
            self.ends_at = now;
            self.state = ExperimentState::Recovering;
        }
    }

    /// The impact; once judged, each figure beside its limit.
    pub fn impact_summary(&self) -> String {
        if self.requests_unmeasured {
            let checks: Vec<String> = self.slo_checks.iter().map(SloCheck::describe).collect();
            let judged = match checks.is_empty() {
                true => String::new(),
                false => format!(", {}", checks.join(", ")),
            };
            return format!("requests not measured (instance counts only){judged}");
        }
        if !self.slo_checks.is_empty() {
            let checks: Vec<String> = self.slo_checks.iter().map(SloCheck::describe).collect();
            return format!("{}, {} failed", checks.join(", "), self.failed_requests);
        }
        format!(
            "peak err {:.1}%, peak p99 {:.0}ms, {} failed",
            self.peak_error_rate * 100.0,
            self.peak_p99_ms,
            self.failed_requests
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: EpochMillis = 1_000_000;

    fn slo() -> ChaosSlo {
        ChaosSlo {
            max_error_rate: 0.05,
            max_p99_ms: 250.0,
            max_recovery_secs: 30,
        }
    }

    fn exp(kind: ScenarioKind) -> Experiment {
        Experiment::new("x1".into(), "staging", kind, FaultParams::default(), T0)
    }

    #[test]
    fn scenario_names_round_trip() {
        for k in ScenarioKind::every() {
            assert_eq!(k.name().parse::<ScenarioKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        let err = "pod-nuke".parse::<ScenarioKind>().unwrap_err();
        assert!(err.to_string().contains("pod-nuke") && err.to_string().contains("cpu-stress"));
    }

    #[test]
    fn new_experiment_ends_after_its_duration() {
        let e = exp(ScenarioKind::NetworkLatency);
        assert_eq!(e.ends_at, T0 + 30_000);
        assert_eq!(e.state, ExperimentState::Running);
        assert_eq!(e.result, None);
    }

    #[test]
    fn error_impact_breaches_the_slo_with_detection_and_recovery_times() {
        let mut e = exp(ScenarioKind::ErrorInjection);
        let s = slo();
        e.observe(T0 + 1_000, 0.01, 100.0, 1, false, &s);
        assert_eq!(e.detection_ms, None);
        e.observe(T0 + 2_000, 0.30, 120.0, 30, false, &s);
        assert_eq!(e.detection_ms, Some(2_000));
        e.observe(T0 + 3_000, 0.20, 300.0, 20, false, &s);
        assert_eq!(e.detection_ms, Some(2_000), "detection is the first impact");
        e.fault_removed(T0 + 10_000);
        assert_eq!(e.state, ExperimentState::Recovering);
        assert_eq!(e.ends_at, T0 + 10_000);
        e.observe(T0 + 11_000, 0.10, 100.0, 10, false, &s);
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 14_000, 0.0, 90.0, 0, false, &s);
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.recovery_ms, Some(4_000));
        assert_eq!(e.result, Some(ExperimentResult::SloBreached));
        assert_eq!(e.peak_error_rate, 0.30);
        assert_eq!(e.peak_p99_ms, 300.0);
        assert_eq!(e.failed_requests, 61);
        assert_eq!(
            e.impact_summary(),
            "error rate 30.0% (limit 5.0%) ✗, p99 300ms (limit 250ms) ✗, recovery 4.0s (limit 30.0s) ✓, 61 failed"
        );
        // Completed experiments ignore further observations.
        e.observe(T0 + 15_000, 0.9, 900.0, 100, true, &s);
        assert_eq!(e.failed_requests, 61);
    }

    #[test]
    fn impact_that_ends_with_the_fault_recovers_in_zero() {
        let mut e = exp(ScenarioKind::NetworkLatency);
        e.observe(T0 + 500, 0.0, 600.0, 0, false, &slo());
        e.fault_removed(T0 + 5_000);
        e.observe(T0 + 6_000, 0.0, 50.0, 0, false, &slo());
        assert_eq!(e.recovery_ms, Some(0));
        // The p99 broke its SLO while the fault was on.
        assert_eq!(e.result, Some(ExperimentResult::SloBreached));
        assert_eq!(e.detection_ms, Some(500));
    }

    #[test]
    fn no_impact() {
        let mut e = exp(ScenarioKind::CpuStress);
        // Exactly at the SLO is not impact.
        e.observe(T0 + 1_000, 0.05, 250.0, 0, false, &slo());
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 3_000, 0.0, 10.0, 0, false, &slo());
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.detection_ms, None);
        assert_eq!(e.result, Some(ExperimentResult::NoImpact));
        assert_eq!(ExperimentResult::NoImpact.label(), "no impact");
    }

    #[test]
    fn pod_kill_counts_missing_instances_as_impact() {
        let mut e = exp(ScenarioKind::PodKill);
        e.fault_removed(T0 + 100);
        e.observe(T0 + 1_000, 0.0, 10.0, 0, true, &slo());
        assert_eq!(e.detection_ms, Some(1_000));
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 8_100, 0.0, 10.0, 0, false, &slo());
        assert_eq!(e.recovery_ms, Some(8_000));
        assert_eq!(e.result, Some(ExperimentResult::Resilient));
    }

    #[test]
    fn not_recovered_when_impact_outlasts_the_slo() {
        let s = slo();
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.5, 10.0, 5, false, &s);
        e.fault_removed(T0 + 2_000);
        // Exactly at the limit it is still waiting.
        e.observe(T0 + 32_000, 0.5, 10.0, 5, false, &s);
        assert_eq!(e.state, ExperimentState::Recovering);
        e.observe(T0 + 32_001, 0.5, 10.0, 5, false, &s);
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.result, Some(ExperimentResult::NotRecovered));
        assert_eq!(e.recovery_ms, None);

        // Recovered, but later than the SLO allows (observations were sparse).
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.0, 10.0, 0, true, &s);
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 20_000, 0.0, 10.0, 0, true, &s);
        e.observe(T0 + 32_000, 0.0, 10.0, 0, false, &s);
        assert_eq!(e.recovery_ms, Some(30_000));
        assert_eq!(
            e.result,
            Some(ExperimentResult::Resilient),
            "at the limit counts"
        );
        let mut e = exp(ScenarioKind::ErrorInjection);
        e.observe(T0 + 1_000, 0.0, 10.0, 0, true, &s);
        e.fault_removed(T0 + 2_000);
        e.observe(T0 + 31_000, 0.0, 10.0, 0, true, &s);
        e.observe(T0 + 32_001, 0.0, 10.0, 0, false, &s);
        assert_eq!(e.recovery_ms, Some(30_001));
        assert_eq!(e.result, Some(ExperimentResult::NotRecovered));
    }

    #[test]
    fn pod_kill_with_a_100_percent_error_peak_is_not_resilient() {
        // The case from the field: a pod-kill whose error rate peaked at 100%
        // with 31 failed requests was reported "resilient".
        let mut e = exp(ScenarioKind::PodKill);
        e.fault_removed(T0 + 100);
        e.observe(T0 + 1_000, 1.0, 40.0, 31, true, &slo());
        e.observe(T0 + 3_100, 0.0, 12.0, 0, false, &slo());
        assert_eq!(e.state, ExperimentState::Completed);
        assert_eq!(e.failed_requests, 31);
        assert_eq!(e.result, Some(ExperimentResult::SloBreached));
        assert_ne!(e.result, Some(ExperimentResult::Resilient));
        let summary = e.impact_summary();
        assert!(
            summary.contains("error rate 100.0% (limit 5.0%) ✗"),
            "{summary}"
        );
        assert!(summary.contains("p99 40ms (limit 250ms) ✓"), "{summary}");
        assert!(
            summary.contains("recovery 3.0s (limit 30.0s) ✓"),
            "{summary}"
        );
        assert!(summary.ends_with("31 failed"), "{summary}");
        assert_eq!(ExperimentResult::SloBreached.label(), "SLO breached");
    }

    #[test]
    fn fault_removed_only_acts_while_running() {
        let mut e = exp(ScenarioKind::ConnectionDrop);
        e.fault_removed(T0 + 1_000);
        e.fault_removed(T0 + 9_000);
        assert_eq!(e.ends_at, T0 + 1_000);
    }

    #[test]
    fn without_request_figures_only_instances_and_recovery_are_judged() {
        use crate::domain::chaos::SloMetric;
        let mut x = exp(ScenarioKind::NetworkLatency);
        x.observe_instances(T0 + 1000, false, &slo());
        x.fault_removed(T0 + 2000);
        x.observe_instances(T0 + 3000, false, &slo());
        assert_eq!(x.state, ExperimentState::Completed);
        assert!(x.requests_unmeasured);
        let metrics: Vec<_> = x.slo_checks.iter().map(|c| c.metric).collect();
        assert_eq!(
            metrics,
            vec![SloMetric::Recovery],
            "no error-rate or p99 check on zeros"
        );
        assert!(
            x.impact_summary().starts_with("requests not measured"),
            "{}",
            x.impact_summary()
        );
        let json = serde_json::to_value(&x).unwrap();
        assert_eq!(json["requests_unmeasured"], true);
        let measured = exp(ScenarioKind::NetworkLatency);
        assert!(serde_json::to_value(&measured)
            .unwrap()
            .get("requests_unmeasured")
            .is_none());
    }
}
