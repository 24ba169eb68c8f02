//! Pure types for what Jenkins reports, and the mapping from its JSON.
//! No IO here: the client hands the bodies in.
//!
//! Every string from Jenkins is hostile. Names, ids, statuses and parameter
//! values are passed through `strip_all` (no escapes, no controls), cut to
//! a bounded length, and parameter values through the secret redactor; the
//! lists are bounded too.

use serde::{Deserialize, Serialize};

use crate::domain::redact::redact;
use crate::domain::sanitize::strip_all;

/// Most runs kept from one `wfapi/runs` answer (Jenkins sends up to 10 by default).
pub const MAX_RUNS: usize = 100;
/// Most stages kept for one run.
pub const MAX_STAGES: usize = 200;
/// Most build parameters kept.
pub const MAX_PARAMS: usize = 100;
/// Longest name, id or value kept, in characters.
pub const MAX_TEXT: usize = 200;

/// A stage's or run's status, as the Pipeline Stage View plugin names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
    InProgress,
    Aborted,
    NotExecuted,
    PausedPendingInput,
    Unstable,
    /// Anything else Jenkins sent, cleaned.
    #[serde(untagged)]
    Other(String),
}

impl Status {
    pub fn parse(raw: &str) -> Status {
        match raw {
            "SUCCESS" => Status::Success,
            "FAILED" | "FAILURE" => Status::Failed,
            "IN_PROGRESS" => Status::InProgress,
            "ABORTED" => Status::Aborted,
            "NOT_EXECUTED" | "NOT_BUILT" => Status::NotExecuted,
            "PAUSED_PENDING_INPUT" => Status::PausedPendingInput,
            "UNSTABLE" => Status::Unstable,
            other => Status::Other(clean(other)),
        }
    }

    /// Still going: more stages or console text may come.
    pub fn is_running(&self) -> bool {
        matches!(self, Status::InProgress | Status::PausedPendingInput)
    }

    pub fn label(&self) -> &str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::InProgress => "IN_PROGRESS",
            Status::Aborted => "ABORTED",
            Status::NotExecuted => "NOT_EXECUTED",
            Status::PausedPendingInput => "PAUSED_PENDING_INPUT",
            Status::Unstable => "UNSTABLE",
            Status::Other(s) => s,
        }
    }
}

/// One stage of a Pipeline run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub id: String,
    pub name: String,
    pub status: Status,
    pub start_ms: i64,
    pub duration_ms: u64,
}

/// A Pipeline run with its stages (`wfapi/runs`, `wfapi/describe`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub number: u64,
    pub name: String,
    pub status: Status,
    pub start_ms: i64,
    pub duration_ms: u64,
    pub stages: Vec<Stage>,
    /// Stages Jenkins listed beyond [`MAX_STAGES`].
    pub stages_dropped: usize,
}

/// A build parameter (`hudson.model.ParametersAction`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Param {
    pub name: String,
    pub value: String,
}

/// A build as its `api/json` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Build {
    pub number: u64,
    /// `SUCCESS`, `FAILURE`, `UNSTABLE`, `ABORTED`, `NOT_BUILT`; none while building.
    pub result: Option<String>,
    pub building: bool,
    pub timestamp_ms: i64,
    pub duration_ms: u64,
    pub params: Vec<Param>,
}

/// What a trigger left in Jenkins' queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The queue item's URL (`Location` header), e.g. `…/queue/item/42/`.
    pub location: String,
    /// Its id, when the URL ends in one.
    pub queue_id: Option<u64>,
}

/// Strip escapes and controls and bound the length.
pub fn clean(raw: &str) -> String {
    let s = strip_all(raw);
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

fn millis(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// The number of a run: its `id`, else the digits of `#12`.
fn run_number(id: &str, name: &str) -> Option<u64> {
    id.trim()
        .parse()
        .ok()
        .or_else(|| name.trim().trim_start_matches('#').parse().ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[derive(Default)]
struct RawStage {
    id: String,
    name: String,
    status: String,
    start_time_millis: i64,
    duration_millis: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[derive(Default)]
struct RawRun {
    id: String,
    name: String,
    status: String,
    start_time_millis: i64,
    duration_millis: i64,
    stages: Vec<RawStage>,
}

fn map_run(raw: RawRun) -> Option<Run> {
    let number = run_number(&raw.id, &raw.name)?;
    let stages_dropped = raw.stages.len().saturating_sub(MAX_STAGES);
    Some(Run {
        number,
        name: clean(&raw.name),
        status: Status::parse(&raw.status),
        start_ms: raw.start_time_millis,
        duration_ms: millis(raw.duration_millis),
        stages: raw
            .stages
            .into_iter()
            .take(MAX_STAGES)
            .map(|s| Stage {
                id: clean(&s.id),
                name: clean(&s.name),
                status: Status::parse(&s.status),
                start_ms: s.start_time_millis,
                duration_ms: millis(s.duration_millis),
            })
            .collect(),
        stages_dropped,
    })
}

/// `<job>/wfapi/runs`: newest first, as Jenkins sends them. Runs without a
/// number are skipped.
pub fn parse_runs(body: &[u8]) -> Result<Vec<Run>, serde_json::Error> {
    let raw: Vec<RawRun> = serde_json::from_slice(body)?;
    Ok(raw.into_iter().filter_map(map_run).take(MAX_RUNS).collect())
}

/// `<job>/<n>/wfapi/describe`.
pub fn parse_describe(body: &[u8]) -> Result<Option<Run>, serde_json::Error> {
    let raw: RawRun = serde_json::from_slice(body)?;
    Ok(map_run(raw))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawParam {
    name: String,
    value: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAction {
    parameters: Vec<RawParam>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawBuild {
    number: u64,
    result: Option<String>,
    building: bool,
    timestamp: i64,
    duration: i64,
    /// Jenkins puts `{}` for actions it does not describe, and may put `null`.
    actions: Vec<Option<RawAction>>,
}

/// `<job>/<n>/api/json`.
pub fn parse_build(body: &[u8]) -> Result<Build, serde_json::Error> {
    let raw: RawBuild = serde_json::from_slice(body)?;
    let params = raw
        .actions
        .into_iter()
        .flatten()
        .flat_map(|a| a.parameters)
        .take(MAX_PARAMS)
        .map(|p| {
            let value = match p.value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            Param {
                name: clean(&p.name),
                value: clean(&redact(&value)),
            }
        })
        .collect();
    Ok(Build {
        number: raw.number,
        result: raw.result.as_deref().map(clean),
        building: raw.building,
        timestamp_ms: raw.timestamp,
        duration_ms: millis(raw.duration),
        params,
    })
}

/// The crumb to send with a POST (`/crumbIssuer/api/json`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Crumb {
    pub crumb: String,
    pub crumb_request_field: String,
}

pub fn parse_crumb(body: &[u8]) -> Result<Crumb, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The queue item a `Location` header points at.
pub fn queued(location: &str) -> Queued {
    let location = clean(location);
    let queue_id = location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok());
    Queued { location, queue_id }
}

#[cfg(test)]
mod tests;
