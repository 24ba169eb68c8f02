//! Reconciling one canary Rollout: revisions, intents, steps, and the
//! status and ReplicaSets that follow from them.

use std::collections::BTreeMap;
use std::time::Instant;

use blissful_infra::kubernetes::undo::derivative;
use serde_json::{json, Value};

use super::super::store::{ObjKey, Store};
use super::replicas::{self, bare, pod_hash, revision_of, REVISION};
use super::status::{self, condition_message, remove, set_condition, Stage, ABORTED};
use super::steps::{abort, background, index, set_weight, step, Ctx};
use super::{analysis, Mem};

/// What the controller remembers of a Rollout.
#[derive(Default)]
pub(super) struct RolloutMem {
    /// Pod templates seen (without the hash label) and their hashes.
    templates: Vec<(Value, String)>,
    /// The pause being timed: hash, step index, start.
    pub pause: Option<(String, u64, Instant)>,
    /// Retries of the current revision (AnalysisRun name suffix).
    pub attempt: u64,
}

impl RolloutMem {
    /// Learn the templates of the ReplicaSets already there, and the
    /// Rollout's own as its current hash (a fixture's starting point).
    fn adopt(st: &Store, ro: &Value, ns: &str) -> RolloutMem {
        let mut m = RolloutMem::default();
        for (hash, key) in replicas::owned(st, ro, ns) {
            if let Some(rs) = st.objects.get(&key) {
                m.templates.push((bare(&rs["spec"]["template"]), hash));
            }
        }
        if let Some(cur) = ro.pointer("/status/currentPodHash").and_then(Value::as_str) {
            if !m.templates.iter().any(|(_, h)| h == cur) {
                m.templates
                    .push((bare(&ro["spec"]["template"]), cur.to_string()));
            }
        }
        m
    }

    fn hash_for(&mut self, template: &Value) -> String {
        let t = bare(template);
        let found = self
            .templates
            .iter()
            .find(|(k, _)| *k == t)
            .or_else(|| self.templates.iter().find(|(k, _)| derivative(&t, k)));
        if let Some((_, h)) = found {
            return h.clone();
        }
        let h = pod_hash(&t);
        self.templates.push((t, h.clone()));
        h
    }
}

pub(super) fn reconcile(st: &mut Store, mem: &mut Mem, key: &ObjKey) {
    let Some(ro) = st.objects.get(key).cloned() else {
        mem.rollouts.remove(key);
        return;
    };
    let template = ro
        .pointer("/spec/template")
        .filter(|t| t.is_object())
        .cloned();
    let (true, Some(template)) = (
        ro.pointer("/spec/strategy/canary")
            .is_some_and(Value::is_object),
        template,
    ) else {
        return;
    };
    let ns = key.namespace.clone();
    let mut rm = mem
        .rollouts
        .remove(key)
        .unwrap_or_else(|| RolloutMem::adopt(st, &ro, &ns));
    let hash = rm.hash_for(&template);
    let mut obj = ro.clone();
    let mut s = ro
        .get("status")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or(json!({}));
    let n = ro["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .map_or(0, |a| a.len() as u64);
    let owned = replicas::owned(st, &ro, &ns);
    if s["currentPodHash"].as_str() != Some(hash.as_str()) {
        let revision = owned
            .values()
            .filter_map(|k| st.objects.get(k))
            .map(revision_of)
            .max();
        let revision = revision.unwrap_or(0) + 1;
        replicas::ensure_rs(st, &ro, &ns, &hash, &template, revision);
        obj["metadata"]["annotations"][REVISION] = json!(revision.to_string());
        new_revision(&mut s, &mut rm, &hash, n);
    } else if !owned.contains_key(&hash) {
        replicas::ensure_rs(st, &ro, &ns, &hash, &template, revision_of(&ro).max(1));
    }
    let revision = revision_of(&obj);
    if let Some(g) = ro.pointer("/metadata/generation").and_then(Value::as_u64) {
        s["observedGeneration"] = json!(g.to_string());
    }
    if let Some(at) = ro.pointer("/spec/restartAt").filter(|a| a.is_string()) {
        if s.get("restartedAt") != Some(at) {
            replicas::delete_pods(st, &ro, &ns);
            s["restartedAt"] = at.clone();
        }
    }
    let mut aborted = abort_or_retry(&mut s, &mut rm, revision);
    let stable = s["stableRS"].as_str().unwrap_or(&hash).to_string();
    let cx = Ctx {
        ro: &ro,
        ns: &ns,
        hash: &hash,
        revision,
        attempt: rm.attempt,
    };
    let mut stage = Stage::Progressing;
    if !aborted {
        if s["promoteFull"] == json!(true) {
            s["currentStepIndex"] = json!(n);
        }
        if let Some(why) = background(st, mem, &cx, &mut s, &stable) {
            abort(&mut s, revision, Some(&why));
            aborted = true;
        } else if ro["spec"]["paused"] == json!(true) {
            stage = Stage::ManuallyPaused;
        } else {
            stage = step(st, mem, &mut rm, &cx, &mut s);
            aborted = stage == Stage::Aborted;
        }
    }
    let desired = ro["spec"]["replicas"].as_u64().unwrap_or(1);
    let mut counts = BTreeMap::new();
    let weight;
    if aborted {
        stage = Stage::Aborted;
        analysis::terminate_runs(st, &ro, &ns);
        counts.insert(stable.clone(), desired);
        weight = 0;
    } else if index(&s) >= n {
        stage = Stage::Complete;
        s["stableRS"] = json!(hash);
        remove(
            &mut s,
            &["pauseConditions", "controllerPause", "promoteFull"],
        );
        analysis::terminate_runs(st, &ro, &ns);
        counts.insert(hash.clone(), desired);
        weight = 0;
    } else {
        let w = set_weight(&ro, index(&s));
        let canary = (desired * w).div_ceil(100).min(desired);
        counts.insert(hash.clone(), canary);
        counts.insert(stable.clone(), desired - canary);
        weight = w;
    }
    let ready = replicas::scale(st, mem, &ro, &ns, &counts);
    let stable_now = s["stableRS"].as_str().unwrap_or_default().to_string();
    status::weights(&mut s, &ro, &hash, &stable_now, weight);
    status::counts(
        &mut s,
        &ro,
        ready.values().sum(),
        ready.get(&hash).copied().unwrap_or(0),
    );
    let rs_name = format!(
        "{}-{hash}",
        ro["metadata"]["name"].as_str().unwrap_or_default()
    );
    status::finish(&mut s, stage, &rs_name, ready.values().sum(), desired);
    obj["status"] = s;
    mem.rollouts.insert(key.clone(), rm);
    if obj != ro {
        st.put(key.clone(), obj);
    }
}

/// A new template: its hash is current, from the first step (or done at
/// once when it is the stable one, as after an undo).
fn new_revision(s: &mut Value, rm: &mut RolloutMem, hash: &str, steps: u64) {
    s["currentPodHash"] = json!(hash);
    let keys = [
        "abort",
        "abortedAt",
        "pauseConditions",
        "controllerPause",
        "promoteFull",
    ];
    remove(s, &keys);
    s["canary"] = json!({});
    let stable = s["stableRS"].as_str().map(str::to_string);
    let at_once = stable.is_none() || stable.as_deref() == Some(hash);
    s["currentStepIndex"] = json!(if at_once { steps } else { 0 });
    if stable.is_none() {
        s["stableRS"] = json!(hash);
    }
    rm.attempt = 0;
    rm.pause = None;
}

/// `status.abort` as the plugin left it: a retry (abort cleared after an
/// abort) starts over; a user's abort gets Argo's message. Whether the
/// rollout is aborted.
fn abort_or_retry(s: &mut Value, rm: &mut RolloutMem, revision: u64) -> bool {
    let aborted = s["abort"] == json!(true);
    if !aborted && s.get("abortedAt").is_some() {
        remove(s, &["abortedAt", "pauseConditions", "controllerPause"]);
        s["currentStepIndex"] = json!(0);
        s["canary"] = json!({});
        let m = "Retrying Rollout after abort";
        set_condition(s, "Progressing", "True", "RolloutRetry", m);
        rm.attempt += 1;
        rm.pause = None;
    }
    if aborted && condition_message(s, "Progressing", ABORTED).is_none() {
        abort(s, revision, None);
    }
    aborted
}
