//! The canary steps of a Rollout, one transition per reconcile: setWeight,
//! pause (timed or until promoted), step analysis, background analysis,
//! and the abort they may end in.

use std::time::Instant;

use serde_json::{json, Value};

use super::super::store::Store;
use super::rollout::RolloutMem;
use super::status::{remove, set_condition, Stage, ABORTED};
use super::{analysis, duration, now_rfc3339, Mem};

pub(super) fn index(s: &Value) -> u64 {
    s["currentStepIndex"].as_u64().unwrap_or(0)
}

/// Abort with Argo's message (`Rollout aborted update to revision N[: why]`).
pub(super) fn abort(s: &mut Value, revision: u64, why: Option<&str>) {
    s["abort"] = json!(true);
    if s.get("abortedAt").is_none() {
        s["abortedAt"] = json!(now_rfc3339());
    }
    let mut m = format!("Rollout aborted update to revision {revision}");
    if let Some(w) = why {
        m = format!("{m}: {w}");
    }
    set_condition(s, "Progressing", "False", ABORTED, &m);
    remove(s, &["pauseConditions", "controllerPause"]);
}

fn advance(s: &mut Value, rm: &mut RolloutMem) {
    s["currentStepIndex"] = json!(index(s) + 1);
    remove(s, &["pauseConditions", "controllerPause"]);
    rm.pause = None;
}

fn pause_for(s: &mut Value, reason: &str) {
    s["pauseConditions"] = json!([{"reason": reason, "startTime": now_rfc3339()}]);
    s["controllerPause"] = json!(true);
}

pub(super) struct Ctx<'a> {
    pub ro: &'a Value,
    pub ns: &'a str,
    pub hash: &'a str,
    pub revision: u64,
    pub attempt: u64,
}

impl Ctx<'_> {
    pub fn run_name(&self, step: Option<u64>) -> String {
        let base = format!(
            "{}-{}-{}",
            self.ro["metadata"]["name"].as_str().unwrap_or_default(),
            self.hash,
            self.revision
        );
        let base = step.map_or(base.clone(), |i| format!("{base}-{i}"));
        if self.attempt == 0 {
            base
        } else {
            format!("{base}.{}", self.attempt)
        }
    }
}

/// One step of progress at most; the stage it leaves.
pub(super) fn step(
    st: &mut Store,
    mem: &mut Mem,
    rm: &mut RolloutMem,
    cx: &Ctx<'_>,
    s: &mut Value,
) -> Stage {
    let steps = cx.ro["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let idx = index(s);
    let Some(step) = steps.get(idx as usize) else {
        return Stage::Progressing;
    };
    let held = s["controllerPause"] == json!(true);
    let has_conditions = s["pauseConditions"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let holds = step.get("pause").is_some() || step.get("analysis").is_some();
    if holds && held && !has_conditions {
        advance(s, rm); // promoted: the pause conditions were removed
        return Stage::Progressing;
    }
    if let Some(p) = step.get("pause") {
        if !held {
            pause_for(s, "CanaryPauseStep");
            rm.pause = Some((cx.hash.to_string(), idx, Instant::now()));
            return Stage::Paused;
        }
        let Some(d) = p.get("duration").and_then(duration) else {
            return Stage::Paused;
        };
        let started = match &rm.pause {
            Some((h, i, t)) if h == cx.hash && *i == idx => *t,
            _ => {
                rm.pause = Some((cx.hash.to_string(), idx, Instant::now()));
                Instant::now()
            }
        };
        if started.elapsed() >= mem.scaled(d) {
            advance(s, rm);
            return Stage::Progressing;
        }
        return Stage::Paused;
    }
    if let Some(a) = step.get("analysis") {
        let name = cx.run_name(Some(idx));
        let key =
            match analysis::ensure_run(st, mem, cx, &name, &a["templates"], "Step", &a["args"]) {
                Ok(k) => k,
                Err(why) => {
                    abort(s, cx.revision, Some(&why));
                    return Stage::Aborted;
                }
            };
        let (phase, message) = analysis::phase(st, &key);
        s["canary"]["currentStepAnalysisRunStatus"] = analysis::run_status(&name, &phase, &message);
        return match phase.as_str() {
            "Successful" => {
                advance(s, rm);
                Stage::Progressing
            }
            "Failed" | "Error" => {
                abort(
                    s,
                    cx.revision,
                    Some(&format!(
                        "Step-based analysis phase error/failed: {message}"
                    )),
                );
                Stage::Aborted
            }
            "Inconclusive" => {
                if !held {
                    pause_for(s, "InconclusiveAnalysisRun");
                }
                Stage::Paused
            }
            _ => Stage::Progressing,
        };
    }
    advance(s, rm); // setWeight, and kinds the simulation does not model
    Stage::Progressing
}

/// The weight the steps ask for at `idx`.
pub(super) fn set_weight(ro: &Value, idx: u64) -> u64 {
    let steps = ro["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    steps
        .iter()
        .take(idx as usize + 1)
        .rev()
        .find_map(|s| s["setWeight"].as_u64())
        .unwrap_or(0)
}

/// Background analysis of the canary; the abort reason when it failed.
pub(super) fn background(
    st: &mut Store,
    mem: &mut Mem,
    cx: &Ctx<'_>,
    s: &mut Value,
    stable: &str,
) -> Option<String> {
    let a = &cx.ro["spec"]["strategy"]["canary"]["analysis"];
    let starting = a["startingStep"].as_u64().unwrap_or(0);
    if a["templates"].as_array().is_none_or(|t| t.is_empty())
        || cx.hash == stable
        || index(s) < starting
    {
        return None;
    }
    let name = cx.run_name(None);
    let key = match analysis::ensure_run(
        st,
        mem,
        cx,
        &name,
        &a["templates"],
        "Background",
        &a["args"],
    ) {
        Ok(k) => k,
        Err(why) => return Some(why),
    };
    let (phase, message) = analysis::phase(st, &key);
    s["canary"]["currentBackgroundAnalysisRunStatus"] =
        analysis::run_status(&name, &phase, &message);
    matches!(phase.as_str(), "Failed" | "Error").then_some(message)
}
