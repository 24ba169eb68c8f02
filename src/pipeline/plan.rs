//! Before a run: the stages checked (names, gates), grouped into batches
//! (a `parallel_group` is one batch, placed where it first appears), and
//! tools looked up on PATH.

use std::path::{Path, PathBuf};

use super::results::Severity;
use crate::config::PipelineStage;

/// A pipeline that cannot run as configured; says which stage and field.
#[derive(Debug, thiserror::Error)]
#[error("pipeline.stages[{index}] ({name}): {reason}")]
pub struct PlanError {
    pub index: usize,
    pub name: String,
    pub reason: String,
}

/// The batches to run in order; each holds indices into the stage list.
pub fn batches(stages: &[PipelineStage]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut groups: Vec<(String, usize)> = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        match s
            .parallel_group
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            Some(g) => match groups.iter().find(|(name, _)| name == g) {
                Some((_, at)) => {
                    if let Some(b) = out.get_mut(*at) {
                        b.push(i);
                    }
                }
                None => {
                    groups.push((g.to_string(), out.len()));
                    out.push(vec![i]);
                }
            },
            None => out.push(vec![i]),
        }
    }
    out
}

/// Check every stage; the first problem is returned.
pub fn check(stages: &[PipelineStage]) -> Result<(), PlanError> {
    let fail = |index: usize, s: &PipelineStage, reason: String| PlanError {
        index,
        name: crate::domain::sanitize::strip_all(&s.name),
        reason,
    };
    if stages.is_empty() {
        return Err(PlanError {
            index: 0,
            name: String::new(),
            reason:
                "no stages: add `pipeline: { stages: [ {name, command} ] }` to blissful-infra.yaml"
                    .into(),
        });
    }
    for (i, s) in stages.iter().enumerate() {
        if s.name.trim().is_empty() {
            return Err(fail(i, s, "`name` is empty".into()));
        }
        if !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(fail(
                i,
                s,
                "`name` may hold only letters, digits, `-`, `_` and `.`".into(),
            ));
        }
        if stages.iter().take(i).any(|o| o.name == s.name) {
            return Err(fail(i, s, "`name` is used by an earlier stage".into()));
        }
        if s.command.trim().is_empty() {
            return Err(fail(i, s, "`command` is empty".into()));
        }
        if let Some(m) = s.min_coverage {
            if !(0.0..=100.0).contains(&m) {
                return Err(fail(i, s, format!("`min_coverage` {m} is outside 0..100")));
            }
            if s.coverage.is_empty() {
                return Err(fail(
                    i,
                    s,
                    "`min_coverage` needs a `coverage` file to read".into(),
                ));
            }
        }
        if let Some(m) = &s.max_severity {
            if Severity::parse(m).is_none() {
                return Err(fail(
                    i,
                    s,
                    format!("`max_severity` `{m}` is not CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN"),
                ));
            }
            if s.trivy.is_empty() {
                return Err(fail(
                    i,
                    s,
                    "`max_severity` needs a `trivy` report to read".into(),
                ));
            }
        }
        if s.tool.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(fail(i, s, "`tool` is empty".into()));
        }
    }
    Ok(())
}

/// Where `tool` is: itself when it holds a `/`, else the first executable
/// of that name in `path_var` (PATH's value).
pub fn find_tool(tool: &str, path_var: Option<&std::ffi::OsStr>, base: &Path) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = base.join(tool);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var?)
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
