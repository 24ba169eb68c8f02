//! Rollouts: the accepted line, stage progress, verdicts and outcomes.

use crate::domain::analysis::Verdict;
use crate::domain::pipeline::PipelineRun;
use crate::domain::sanitize::strip_all;
use crate::runtime::{ActionAccepted, RolloutOutcome};

/// `pipeline #7 staging: <message>` for an accepted action.
pub fn accepted_line(a: &ActionAccepted) -> String {
    let versions = match (&a.from_version, &a.to_version) {
        (Some(f), Some(t)) => format!(" ({} -> {})", strip_all(f.as_str()), strip_all(t.as_str())),
        (None, Some(t)) => format!(" (-> {})", strip_all(t.as_str())),
        _ => String::new(),
    };
    format!(
        "pipeline #{} {}: {}{}",
        a.pipeline_id,
        strip_all(&a.env),
        strip_all(&a.message),
        versions
    )
}

/// Progress lines for one pipeline: reports each stage only when its status
/// or detail changes, so repeated progress events print nothing new.
#[derive(Clone, Debug, Default)]
pub struct ProgressTracker {
    seen: Vec<Option<(String, String)>>,
}

impl ProgressTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, run: &PipelineRun) -> Vec<String> {
        let n = run.stages.len();
        if self.seen.len() < n {
            self.seen.resize(n, None);
        }
        let mut lines = Vec::new();
        for (i, stage) in run.stages.iter().enumerate() {
            let label = stage.status.label();
            let key = (label.to_string(), stage.detail.clone());
            if self.seen[i].as_ref() == Some(&key) {
                continue;
            }
            // Stages that have not started yet are not news.
            let first = self.seen[i].is_none();
            self.seen[i] = Some(key);
            if first && label == "pending" {
                continue;
            }
            let mut line = format!("  [{}/{}] {}: {}", i + 1, n, strip_all(&stage.name), label);
            if let crate::domain::pipeline::StageStatus::Failed(why) = &stage.status {
                if !why.is_empty() && *why != stage.detail {
                    line.push_str(&format!(" ({})", strip_all(why)));
                }
            }
            if !stage.detail.is_empty() {
                line.push_str(" - ");
                line.push_str(&strip_all(&stage.detail));
            }
            lines.push(line);
        }
        lines
    }
}

/// `  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)`
pub fn verdict_line(step: usize, v: &Verdict) -> String {
    format!("  analysis after step {}: {}", step + 1, v.summary())
}

/// [`verdict_line`], then where its numbers came from and, for a query
/// source, the PromQL behind each check.
pub fn verdict_lines(step: usize, v: &Verdict) -> Vec<String> {
    let mut lines = vec![verdict_line(step, v)];
    let source = v.source.as_deref().map(strip_all);
    lines.push(format!(
        "    source: {}",
        source.as_deref().unwrap_or("not reported by the runtime")
    ));
    for (metric, query) in &v.queries {
        lines.push(format!("    {}: {}", metric.label(), strip_all(query)));
    }
    lines
}

/// How a rollout ended, with every failed check (metric, value, threshold,
/// and by how much) when it was rolled back on a verdict.
pub fn outcome_lines(env: &str, outcome: &RolloutOutcome) -> Vec<String> {
    let env = strip_all(env);
    match outcome {
        RolloutOutcome::Promoted { version } => {
            vec![format!("promoted {} in {env}", strip_all(version.as_str()))]
        }
        RolloutOutcome::RolledBack {
            version,
            reason,
            verdict,
        } => {
            let mut lines = vec![format!(
                "{} rolled back in {env}: {}",
                strip_all(version.as_str()),
                strip_all(reason)
            )];
            if let Some(v) = verdict {
                for c in v.failed_checks() {
                    lines.push(format!("  {}", c.describe()));
                }
                lines.push(format!(
                    "  canary: {} requests, {} errors, p95 {:.0}ms, p99 {:.0}ms",
                    v.canary.requests, v.canary.errors, v.canary.p95_ms, v.canary.p99_ms
                ));
            }
            lines
        }
        RolloutOutcome::Aborted { reason } => {
            vec![format!("rollout in {env} aborted: {}", strip_all(reason))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analysis::{analyze, Metric, Thresholds, VersionSample};
    use crate::domain::environment::Version;
    use crate::domain::pipeline::{PipelineKind, StageStatus};

    #[test]
    fn progress_tracker_reports_changes_once() {
        let mut run = PipelineRun::new(
            7,
            PipelineKind::Rollout,
            "staging",
            "deploy v2",
            &["start", "canary 5%"],
            0,
        );
        let mut p = ProgressTracker::new();
        assert!(p.update(&run).is_empty());
        run.start_stage(0, 1);
        assert_eq!(p.update(&run), vec!["  [1/2] start: running".to_string()]);
        assert!(p.update(&run).is_empty());
        run.finish_stage(0, StageStatus::Succeeded, "2 instances ready", 2);
        run.start_stage(1, 2);
        assert_eq!(
            p.update(&run),
            vec![
                "  [1/2] start: succeeded - 2 instances ready".to_string(),
                "  [2/2] canary 5%: running".to_string()
            ]
        );
        run.finish_stage(1, StageStatus::Failed("analysis".into()), "p99 too high", 3);
        assert_eq!(
            p.update(&run),
            vec!["  [2/2] canary 5%: failed (analysis) - p99 too high".to_string()]
        );
    }

    #[test]
    fn verdict_lines_name_the_source_and_each_query() {
        let mut v = failing_verdict();
        assert_eq!(
            verdict_lines(0, &v)[1],
            "    source: not reported by the runtime"
        );
        v.source = Some("prometheus".into());
        v.queries = vec![(
            Metric::P99Latency,
            "histogram_quantile(0.99, x{version=\"v2\"})\x1b]0;T\x07".into(),
        )];
        assert_eq!(
            verdict_lines(1, &v),
            vec![
                "  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)".to_string(),
                "    source: prometheus".to_string(),
                "    p99 latency: histogram_quantile(0.99, x{version=\"v2\"})".to_string(),
            ]
        );
    }

    fn failing_verdict() -> Verdict {
        let canary = VersionSample {
            requests: 200,
            errors: 1,
            p50_ms: 50.0,
            p95_ms: 150.0,
            p99_ms: 612.0,
            ..Default::default()
        };
        analyze(&canary, None, &Thresholds::default())
    }

    #[test]
    fn rollback_outcome_names_the_failed_metric_and_threshold() {
        let v = failing_verdict();
        let lines = outcome_lines(
            "staging",
            &RolloutOutcome::RolledBack {
                version: Version::new("v1"),
                reason: v.summary(),
                verdict: Some(Box::new(v.clone())),
            },
        );
        assert_eq!(
            lines,
            vec![
                "v1 rolled back in staging: failed: p99 latency 612ms > 500ms (+112ms)".to_string(),
                "  p99 latency 612ms > 500ms (+112ms)".to_string(),
                "  canary: 200 requests, 1 errors, p95 150ms, p99 612ms".to_string(),
            ]
        );
        assert_eq!(
            verdict_line(1, &v),
            "  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)"
        );
        assert_eq!(
            outcome_lines(
                "prod",
                &RolloutOutcome::Promoted {
                    version: Version::new("v2")
                }
            ),
            vec!["promoted v2 in prod".to_string()]
        );
    }

    #[test]
    fn accepted_line_shows_versions() {
        let a = ActionAccepted {
            pipeline_id: 7,
            env: "staging".into(),
            from_version: Some(Version::new("v1")),
            to_version: Some(Version::new("v2")),
            message: "canary rollout started".into(),
        };
        assert_eq!(
            accepted_line(&a),
            "pipeline #7 staging: canary rollout started (v1 -> v2)"
        );
    }
}
