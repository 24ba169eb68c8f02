//! Step 7: `reports/chaos/<timestamp>.md` and `.json`. Every string that
//! came from a runtime is cleaned and redacted before it is written.

use std::path::{Path, PathBuf};

use super::SuiteReport;
use crate::domain::chaos::{CheckOutcome, ScenarioVerdict};
use crate::domain::redact::redact;
use crate::domain::sanitize::sanitize_str;

/// Where a report was written.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportPaths {
    pub markdown: PathBuf,
    pub json: PathBuf,
}

/// `2026-12-07T03-04-05Z`: sorts by time and is a valid file name everywhere.
fn file_stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H-%M-%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn clean(s: &str) -> String {
    redact(&sanitize_str(s))
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(
        || "never".to_string(),
        |ms| format!("{:.1}s", ms as f64 / 1000.0),
    )
}

fn expected(v: &ScenarioVerdict) -> String {
    match &v.expected.outcome {
        CheckOutcome::Passed(d) => format!("seen: {}", clean(d)),
        CheckOutcome::Failed(d) => format!("missing: {}", clean(d)),
        CheckOutcome::NotMeasured(d) => format!("not measured: {}", clean(d)),
    }
}

/// The report as Markdown: the FMEA table, each scenario's checks, the
/// steps with their timings, and the score.
pub fn render_markdown(r: &SuiteReport) -> String {
    let mut out = String::new();
    let when = chrono::DateTime::from_timestamp_millis(r.started_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    out.push_str(&format!(
        "# Chaos report: {} on {}\n\n",
        clean(&r.env),
        clean(&r.runtime)
    ));
    out.push_str(&format!(
        "- started: {when}\n- took: {}\n",
        ms(Some(r.finished_at - r.started_at))
    ));
    out.push_str(&format!(
        "- load: {}\n",
        r.plan
            .load
            .as_deref()
            .map_or("the environment's own traffic".to_string(), clean)
    ));
    out.push_str(&format!(
        "- SLOs: error rate ≤ {:.1}%, p99 ≤ {:.0}ms, recovery ≤ {}s\n",
        r.plan.slo.max_error_rate * 100.0,
        r.plan.slo.max_p99_ms,
        r.plan.slo.max_recovery_secs
    ));
    let score = r.score.map_or_else(
        || "none: no scenario was decided by a measurement".to_string(),
        |s| format!("{s:.0}/100"),
    );
    out.push_str(&format!("- resilience score: {score}\n"));
    if let Some(why) = &r.stopped_early {
        out.push_str(&format!("- stopped early: {}\n", clean(why)));
    }
    out.push_str(&format!("- checklist: {}\n", r.scorecard.tally()));
    out.push_str("\n## FMEA\n\n| failure mode | result | severity | detection | recovery | impact | expected | mitigation |\n|---|---|---|---|---|---|---|---|\n");
    for v in &r.verdicts {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            v.scenario,
            v.result.label(),
            v.severity.label(),
            ms(v.detection_ms),
            ms(v.recovery_ms),
            clean(&v.impact).replace('|', "/"),
            expected(v).replace('|', "/"),
            v.mitigation_marks()
        ));
    }
    for (kind, why) in &r.refused {
        out.push_str(&format!(
            "| {kind} | refused | | | | | {} | |\n",
            clean(why).replace('|', "/")
        ));
    }
    out.push_str("\n## Scorecard\n\n");
    out.push_str(&format!("- score: {score}\n"));
    for c in &r.scorecard.checklist {
        out.push_str(&format!("- {}\n", clean(&c.describe())));
    }
    out.push_str("\n## Checks\n");
    for v in &r.verdicts {
        out.push_str(&format!(
            "\n### {} ({})\n\n",
            v.scenario,
            clean(&v.experiment_id)
        ));
        out.push_str(&format!(
            "- baseline: {:.1} req/s, p99 {:.0}ms, errors {:.1}% ({} samples)\n",
            v.baseline.rps,
            v.baseline.p99_ms,
            v.baseline.error_rate * 100.0,
            v.baseline.samples
        ));
        for c in &v.slo_checks {
            out.push_str(&format!("- {}\n", c.describe()));
        }
        out.push_str(&format!(
            "- expected: {} — {}\n",
            v.expected.behaviour,
            expected(v)
        ));
        for c in &v.mitigations {
            out.push_str(&format!("- mitigation: {}\n", clean(&c.describe())));
        }
        if let Some(a) = &v.aborted {
            out.push_str(&format!("- aborted: {}\n", clean(a)));
        }
    }
    out.push_str("\n## Steps\n\n");
    for s in &r.steps {
        out.push_str(&format!("- {}\n", clean(&s.line())));
    }
    out
}

/// Write both files into `dir` (created if missing), each atomically.
pub fn write_report(dir: &Path, r: &SuiteReport) -> Result<ReportPaths, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let stem = file_stamp(r.started_at);
    let paths = ReportPaths {
        markdown: dir.join(format!("{stem}.md")),
        json: dir.join(format!("{stem}.json")),
    };
    let json = serde_json::to_string_pretty(r).map_err(|e| format!("encoding the report: {e}"))?;
    // The JSON keeps its structure; secrets inside its strings are masked.
    crate::durable::replace(&paths.json, redact(&json).as_bytes()).map_err(|e| e.to_string())?;
    crate::durable::replace(&paths.markdown, render_markdown(r).as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(paths)
}
