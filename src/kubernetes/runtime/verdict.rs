//! An AnalysisRun's conclusion as a [`Verdict`], so it overlays the Metrics
//! pane like the sandbox's own analysis. Its metrics are arbitrary queries
//! judged by expressions, so they become [`Finding`]s, not fixed checks;
//! a run that is still measuring gives no verdict.

use crate::domain::analysis::{Finding, Outcome, Verdict, VersionSample};
use crate::kubernetes::analysis::{AnalysisPhase, AnalysisRunView, MetricView, SOURCE};

fn metric_outcome(phase: AnalysisPhase) -> Option<Outcome> {
    match phase {
        AnalysisPhase::Successful => Some(Outcome::Pass),
        AnalysisPhase::Failed | AnalysisPhase::Error => Some(Outcome::Fail),
        AnalysisPhase::Inconclusive => Some(Outcome::Inconclusive),
        _ => None,
    }
}

/// `Failed · 1 of 1 failed (failureLimit 0) · last value false · <message>`.
fn detail(m: &MetricView) -> String {
    let mut parts = vec![m.phase.label().to_string()];
    let mut counts = format!("{} measured", m.count);
    for (n, what, limit) in [
        (m.failed, "failed", &m.failure_limit),
        (m.inconclusive, "inconclusive", &m.inconclusive_limit),
        (m.error, "errors", &None),
    ] {
        if n > 0 || limit.is_some() {
            counts.push_str(&format!(", {n} {what}"));
            if let Some(l) = limit {
                counts.push_str(&format!(" (limit {l})",));
            }
        }
    }
    parts.push(counts);
    if let Some(v) = m.measurements.last().and_then(|x| x.value.as_deref()) {
        parts.push(format!("last value {v}"));
    }
    if let Some(c) = &m.success_condition {
        parts.push(format!("success when {c}"));
    }
    if let Some(msg) = &m.message {
        parts.push(msg.clone());
    }
    parts.join(" · ")
}

/// The verdict of a finished run; `None` while it runs.
pub fn run_verdict(run: &AnalysisRunView) -> Option<Verdict> {
    let outcome = run.outcome()?;
    let findings = run
        .metrics
        .iter()
        .map(|m| Finding {
            name: m.name.clone(),
            outcome: metric_outcome(m.phase),
            detail: detail(m),
            query: Some(m.provider.describe()).filter(|q| !q.is_empty()),
        })
        .collect();
    Some(Verdict {
        outcome,
        checks: Vec::new(),
        canary: VersionSample::default(),
        stable: None,
        source: Some(SOURCE.to_string()),
        queries: Vec::new(),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::analysis_run_view;
    use crate::kubernetes::fixture::{all, fixture};

    #[test]
    fn a_failed_run_says_which_metric_failed_and_why() {
        let run = analysis_run_view(&fixture("argo-rollouts/analysisrun-failed-web-metric.yaml"));
        let v = run_verdict(&run).unwrap();
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.source.as_deref(), Some("argo-rollouts"));
        assert_eq!(v.findings.len(), 1);
        let f = &v.findings[0];
        assert_eq!(f.name, "web");
        assert_eq!(f.outcome, Some(Outcome::Fail));
        assert_eq!(
            f.query.as_deref(),
            Some("https://jsonplaceholder.typicode.com/todos/1")
        );
        assert_eq!(
            v.summary(),
            "failed: web: Failed · 1 measured, 1 failed · last value false · success when result == \"true\""
        );
    }

    #[test]
    fn running_runs_give_no_verdict_and_finished_ones_do() {
        for path in all("argo-rollouts", "analysisrun-") {
            let run = analysis_run_view(&fixture(&path));
            match run_verdict(&run) {
                Some(v) => assert_eq!(Some(v.outcome), run.outcome(), "{path}"),
                None => assert!(run.outcome().is_none(), "{path}"),
            }
        }
        let running = analysis_run_view(&fixture("argo-rollouts/analysisrun-running.yaml"));
        assert!(run_verdict(&running).is_none());
    }
}
