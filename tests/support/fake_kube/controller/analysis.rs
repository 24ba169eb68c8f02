//! AnalysisRuns of the simulated controller: created from the Rollout's
//! AnalysisTemplates, measured from the test's script at each metric's
//! (scaled) interval, assessed against `successCondition`,
//! `failureCondition`, `failureLimit`, `inconclusiveLimit` and
//! `consecutiveErrorLimit` as Argo does, with Argo's messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::store::{ObjKey, Store};
use super::replicas::{HASH_LABEL, REVISION};
use super::steps::Ctx;
use super::{duration, expr, now_rfc3339, Measure, Mem};

const GV: &str = "argoproj.io/v1alpha1";

/// The run `name` of this revision, created if missing; the reason to
/// abort when a template is missing.
pub(super) fn ensure_run(
    st: &mut Store,
    mem: &mut Mem,
    cx: &Ctx<'_>,
    name: &str,
    templates: &Value,
    kind: &str,
    args: &Value,
) -> Result<ObjKey, String> {
    let key = ObjKey::new(GV, "analysisruns", cx.ns, name);
    if st.objects.contains_key(&key) {
        return Ok(key);
    }
    let mut metrics = Vec::new();
    for t in templates.as_array().into_iter().flatten() {
        let tname = t["templateName"].as_str().unwrap_or_default();
        let tkey = ObjKey::new(GV, "analysistemplates", cx.ns, tname);
        let Some(at) = st.objects.get(&tkey) else {
            return Err(format!("AnalysisTemplate \"{tname}\" not found"));
        };
        metrics.extend(
            at["spec"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    let ro = cx.ro;
    let mut spec = json!({"metrics": metrics});
    if args.is_array() {
        spec["args"] = args.clone();
    }
    let run = json!({
        "apiVersion": GV, "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": cx.ns, "uid": format!("uid-{}-{name}", cx.ns), "generation": 1,
            "creationTimestamp": now_rfc3339(),
            "labels": {"rollout-type": kind, HASH_LABEL: cx.hash},
            "annotations": {REVISION: cx.revision.to_string()},
            "ownerReferences": [{"apiVersion": GV, "kind": "Rollout", "blockOwnerDeletion": true, "controller": true,
                "name": ro["metadata"]["name"], "uid": ro["metadata"]["uid"].as_str().unwrap_or_default()}]},
        "spec": spec,
        "status": {"phase": "Running", "startedAt": now_rfc3339(), "metricResults": []},
    });
    st.put(key.clone(), run);
    mem.runs.insert(key.clone(), BTreeMap::new());
    Ok(key)
}

/// The run's phase and message.
pub(super) fn phase(st: &Store, key: &ObjKey) -> (String, String) {
    let run = st.objects.get(key);
    let get = |f: &str| {
        run.and_then(|r| r["status"][f].as_str())
            .unwrap_or_default()
            .to_string()
    };
    (get("phase"), get("message"))
}

/// `status.canary.current*AnalysisRunStatus`.
pub(super) fn run_status(name: &str, phase: &str, message: &str) -> Value {
    let mut v = json!({"name": name, "status": phase});
    if !message.is_empty() {
        v["message"] = json!(message);
    }
    v
}

/// Ask every running run of this Rollout to stop.
pub(super) fn terminate_runs(st: &mut Store, ro: &Value, ns: &str) {
    let name = &ro["metadata"]["name"];
    let keys: Vec<ObjKey> = st
        .objects
        .iter()
        .filter(|(k, o)| {
            k.plural == "analysisruns"
                && k.namespace == ns
                && o["metadata"]["ownerReferences"][0]["name"] == *name
                && o["status"]["phase"] == "Running"
                && o["spec"]["terminate"] != json!(true)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        if let Some(mut run) = st.objects.get(&k).cloned() {
            run["spec"]["terminate"] = json!(true);
            st.put(k, run);
        }
    }
}

fn limit(metric: &Value, field: &str, default: i64) -> i64 {
    metric[field].as_i64().unwrap_or(default)
}

/// Take the measurements that are due, for every run this controller made.
pub(super) fn measure_all(st: &mut Store, mem: &mut Mem) {
    let keys: Vec<ObjKey> = mem.runs.keys().cloned().collect();
    for key in keys {
        let Some(mut run) = st.objects.get(&key).cloned() else {
            mem.runs.remove(&key);
            continue;
        };
        if run["status"]["phase"] != "Running" {
            mem.runs.remove(&key);
            continue;
        }
        let before = run.clone();
        if run["spec"]["terminate"] == json!(true) {
            run["status"]["phase"] = json!("Successful");
            run["status"]["message"] = json!("run terminated");
        } else {
            measure_run(&mut run, mem, &key);
        }
        if run != before {
            st.put(key, run);
        }
    }
}

fn measure_run(run: &mut Value, mem: &mut Mem, key: &ObjKey) {
    let metrics = run["spec"]["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut results: Vec<Value> = run["status"]["metricResults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for m in &metrics {
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let i = match results.iter().position(|r| r["name"] == name) {
            Some(i) => i,
            None => {
                results.push(
                    json!({"name": name, "phase": "Running", "count": 0, "measurements": []}),
                );
                results.len() - 1
            }
        };
        if results[i]["phase"] != "Running" {
            continue;
        }
        let due = mem.runs.get(key).and_then(|d| d.get(&name)).copied();
        if due.is_some_and(|d| Instant::now() < d) {
            continue;
        }
        let Some(next) = mem.script.get_mut(&name).and_then(|q| q.pop_front()) else {
            continue;
        };
        let interval = m
            .get("interval")
            .and_then(duration)
            .unwrap_or(Duration::ZERO);
        let when = Instant::now() + mem.scaled(interval);
        mem.runs
            .entry(key.clone())
            .or_default()
            .insert(name.clone(), when);
        record(&mut results[i], m, next);
    }
    let phases: Vec<&str> = results.iter().filter_map(|r| r["phase"].as_str()).collect();
    let first = |p: &str| {
        results
            .iter()
            .find(|r| r["phase"] == p)
            .and_then(|r| r["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (phase, message) = if phases.contains(&"Failed") {
        ("Failed", first("Failed"))
    } else if phases.contains(&"Error") {
        ("Error", first("Error"))
    } else if phases.len() == metrics.len() && phases.iter().all(|p| *p != "Running") {
        if phases.contains(&"Inconclusive") {
            ("Inconclusive", first("Inconclusive"))
        } else {
            ("Successful", String::new())
        }
    } else {
        ("Running", String::new())
    };
    run["status"]["metricResults"] = Value::Array(results);
    run["status"]["phase"] = json!(phase);
    if !message.is_empty() {
        run["status"]["message"] = json!(message);
    }
}

/// Add one measurement to a metric's result and assess the metric.
fn record(r: &mut Value, metric: &Value, m: Measure) {
    let now = now_rfc3339();
    let (phase, value, message) = match m {
        Measure::Error(e) => ("Error", None, Some(e)),
        Measure::Value(v) => match assess(metric, &v) {
            Ok(p) => (p, Some(v), None),
            Err(e) => ("Error", Some(v), Some(e)),
        },
    };
    let mut entry = json!({"phase": phase, "startedAt": now, "finishedAt": now});
    if let Some(v) = value {
        entry["value"] = json!(v);
    }
    if let Some(e) = &message {
        entry["message"] = json!(e);
    }
    if let Some(list) = r["measurements"].as_array_mut() {
        list.push(entry);
    }
    let bump = |r: &mut Value, f: &str| r[f] = json!(r[f].as_i64().unwrap_or(0) + 1);
    bump(r, "count");
    match phase {
        "Successful" => bump(r, "successful"),
        "Failed" => bump(r, "failed"),
        "Inconclusive" => bump(r, "inconclusive"),
        _ => bump(r, "error"),
    }
    if phase == "Error" {
        bump(r, "consecutiveError");
    } else {
        r["consecutiveError"] = json!(0);
    }
    let n = |f: &str| r[f].as_i64().unwrap_or(0);
    let name = metric["name"].as_str().unwrap_or_default();
    let (fl, il, el) = (
        limit(metric, "failureLimit", 0),
        limit(metric, "inconclusiveLimit", 0),
        limit(metric, "consecutiveErrorLimit", 4),
    );
    let count = metric["count"]
        .as_i64()
        .or(metric.get("interval").is_none().then_some(1));
    let verdict = if fl >= 0 && n("failed") > fl {
        Some((
            "Failed",
            format!(
                "metric \"{name}\" assessed Failed due to failed ({}) > failureLimit ({fl})",
                n("failed")
            ),
        ))
    } else if il >= 0 && n("inconclusive") > il {
        Some(("Inconclusive", format!("metric \"{name}\" assessed Inconclusive due to inconclusive ({}) > inconclusiveLimit ({il})", n("inconclusive"))))
    } else if el >= 0 && n("consecutiveError") > el {
        Some(("Error", format!("metric \"{name}\" assessed Error due to consecutiveErrors ({}) > consecutiveErrorLimit ({el})", n("consecutiveError"))))
    } else if count.is_some_and(|c| n("count") >= c) {
        Some(("Successful", String::new()))
    } else {
        None
    };
    if let Some((p, msg)) = verdict {
        r["phase"] = json!(p);
        if !msg.is_empty() {
            r["message"] = json!(msg);
        }
    }
}

/// A measurement's phase from the metric's conditions.
fn assess(metric: &Value, value: &str) -> Result<&'static str, String> {
    let result: Value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
    let cond = |f: &str| metric[f].as_str().filter(|c| !c.trim().is_empty());
    let eval = |c: &str| expr::eval(c, &result).map_err(|e| format!("cannot evaluate {c:?}: {e}"));
    Ok(match (cond("successCondition"), cond("failureCondition")) {
        (None, None) => "Successful",
        (Some(s), None) => {
            if eval(s)? {
                "Successful"
            } else {
                "Failed"
            }
        }
        (None, Some(f)) => {
            if eval(f)? {
                "Failed"
            } else {
                "Successful"
            }
        }
        (Some(s), Some(f)) => {
            if eval(s)? {
                "Successful"
            } else if eval(f)? {
                "Failed"
            } else {
                "Inconclusive"
            }
        }
    })
}
