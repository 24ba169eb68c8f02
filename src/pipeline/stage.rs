//! One stage from start to record: its command, then its result files and
//! gates. The tool and change-detector checks come before (`runner.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::exec::{run_command, BoundedLog, Exit};
use super::model::{StageRecord, StageStatus};
use super::results::{
    expand, read_coverage, read_junit, read_text, read_trivy, Coverage, JunitSummary, Severity,
    TrivySummary,
};
use crate::config::PipelineStage;

/// What a finished command left: its log and its record.
pub struct StageRun {
    pub record: StageRecord,
    pub log: BoundedLog,
}

/// Run `cfg`'s command in `dir`, then read its results and apply its gates.
/// With `live`, the output also goes to that file as it arrives.
pub async fn run_stage(
    cfg: &PipelineStage,
    mut record: StageRecord,
    dir: &Path,
    live: Option<&Path>,
    cancel: &CancellationToken,
) -> StageRun {
    let log = Arc::new(Mutex::new(match live {
        Some(path) => BoundedLog::with_live(path),
        None => BoundedLog::default(),
    }));
    record.started_ms = Some(crate::clock::now_ms());
    record.status = StageStatus::Running;
    let exit = run_command(&cfg.command, dir, cancel, log.clone()).await;
    record.ended_ms = Some(crate::clock::now_ms());
    let mut log = match Arc::try_unwrap(log) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default(),
    };
    log.end_live();
    record.log_lines = log.total;
    record.log_dropped = log.dropped;
    let mut failure: Option<String> = match &exit {
        Exit::Code(0) => None,
        Exit::Code(c) => {
            record.exit_code = Some(*c);
            Some(format!("exit code {c}"))
        }
        Exit::Signal(s) => Some(format!("killed by signal {s}")),
        Exit::Cancelled => {
            record.status = StageStatus::Cancelled;
            record.reason = Some("cancelled: its process group was killed".into());
            return StageRun { record, log };
        }
        Exit::SpawnFailed(e) => Some(e.clone()),
    };
    if matches!(exit, Exit::Code(0)) {
        record.exit_code = Some(0);
    }
    read_results(cfg, dir, &mut record);
    let gate = gates(cfg, &record);
    // A result file that cannot be read fails a stage that exited 0.
    if failure.is_none() {
        failure = gate.or_else(|| record.result_errors.first().cloned());
    } else if let Some(g) = gate {
        failure = failure.map(|f| format!("{g}; {f}"));
    }
    match failure {
        Some(f) => {
            record.status = StageStatus::Failed;
            record.reason = Some(f);
        }
        None => record.status = StageStatus::Passed,
    }
    StageRun { record, log }
}

fn read_results(cfg: &PipelineStage, dir: &Path, rec: &mut StageRecord) {
    let mut errors = Vec::new();
    let mut junit: Option<JunitSummary> = None;
    for file in files(dir, "junit", &cfg.junit, &mut errors) {
        match read_text(&file).and_then(|t| read_junit(&file, &t)) {
            Ok(s) => junit.get_or_insert_with(JunitSummary::default).merge(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut coverage: Option<Coverage> = None;
    for file in files(dir, "coverage", &cfg.coverage, &mut errors) {
        match read_text(&file).and_then(|t| read_coverage(&file, &t)) {
            Ok(c) => {
                coverage = Some(match coverage.take() {
                    Some(prev) => prev.merge(c),
                    None => c,
                })
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut trivy: Option<TrivySummary> = None;
    for file in files(dir, "trivy", &cfg.trivy, &mut errors) {
        match read_text(&file).and_then(|t| read_trivy(&file, &t)) {
            Ok(s) => trivy.get_or_insert_with(TrivySummary::default).merge(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    rec.junit = junit;
    rec.coverage = coverage;
    rec.trivy = trivy;
    rec.result_errors = errors;
}

fn files(
    dir: &Path,
    kind: &str,
    patterns: &[String],
    errors: &mut Vec<String>,
) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let found = expand(dir, p);
        if found.is_empty() {
            errors.push(format!(
                "{kind}: no file matches `{}`",
                crate::domain::sanitize::strip_all(p)
            ));
        }
        out.extend(found);
    }
    out
}

/// The first gate the stage's results break, in words.
fn gates(cfg: &PipelineStage, rec: &StageRecord) -> Option<String> {
    if let Some(j) = rec.junit.as_ref().filter(|j| j.has_failures()) {
        let first = j
            .failures
            .first()
            .map(|f| format!(": {}", f.name))
            .unwrap_or_default();
        return Some(format!(
            "{} of {} tests failed{first}",
            j.failed + j.errors,
            j.tests
        ));
    }
    if let (Some(min), Some(c)) = (cfg.min_coverage, rec.coverage.as_ref()) {
        if c.percent < min {
            return Some(format!(
                "coverage {:.1}% below min_coverage {min}%",
                c.percent
            ));
        }
    }
    if let (Some(max), Some(t)) = (
        cfg.max_severity.as_deref().and_then(Severity::parse),
        rec.trivy.as_ref(),
    ) {
        if let Some(worst) = t.worst().filter(|w| *w > max) {
            let above: u64 = Severity::ALL
                .into_iter()
                .filter(|s| *s > max)
                .map(|s| t.count(s))
                .sum();
            return Some(format!(
                "{above} findings above max_severity {max} (worst {worst})"
            ));
        }
    }
    None
}
