//! A SIMULATED Argo Rollouts controller inside the fake apiserver (tests
//! only). It reconciles every canary Rollout with a pod template, through
//! the same store as the API, so watchers see each change with its
//! resourceVersion:
//!
//! - a new `spec.template` is a new revision: a ReplicaSet and Pods for its
//!   hash, then the canary steps one at a time (`setWeight`, `pause` with or
//!   without a duration, `analysis`), and once past the last step the new
//!   ReplicaSet is stable and the Rollout Healthy. A template equal to the
//!   stable one (an undo) is stable at once;
//! - AnalysisRuns from the Rollout's AnalysisTemplates (step and background
//!   analysis), measured from a script the test gives per metric; a metric
//!   over its `failureLimit` aborts the Rollout, naming it;
//! - the plugin's intents: promote (pause conditions removed, or the step
//!   index moved), `promoteFull`, `spec.paused`, `status.abort` and retry
//!   (abort cleared), `spec.restartAt`.
//!
//! With [`RolloutsController::sync_app`] it also plays Argo CD for an
//! Application (see `argocd.rs`). Durations (pauses, measurement
//! intervals) are multiplied by the time scale. Blue-green Rollouts and `workloadRef` Rollouts are left alone.

mod analysis;
mod argocd;
mod expr;
mod replicas;
mod rollout;
mod status;
mod steps;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

pub use argocd::ArgoApp;

use super::store::ObjKey;
use super::FakeKube;

/// One scripted measurement.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// The provider's result, as Argo stores it (`"0.97"`, `"[0.97]"`).
    Value(String),
    /// The provider failed with this message.
    Error(String),
}

/// What the controller remembers besides the objects.
#[derive(Default)]
struct Mem {
    pub scale: f64,
    /// Metric name -> measurements still to come.
    pub script: BTreeMap<String, VecDeque<Measure>>,
    pub rollouts: BTreeMap<ObjKey, rollout::RolloutMem>,
    /// AnalysisRun -> metric -> when the next measurement is due.
    pub runs: BTreeMap<ObjKey, BTreeMap<String, Instant>>,
    pub pod_seq: u64,
    /// Applications whose sync operations are simulated.
    pub apps: Vec<ArgoApp>,
}

impl Mem {
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale)
    }
}

/// A running simulated controller; dropping it stops it.
pub struct RolloutsController {
    mem: Arc<Mutex<Mem>>,
    task: JoinHandle<()>,
}

impl Drop for RolloutsController {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RolloutsController {
    /// Append measurements for every AnalysisRun metric named `metric`.
    pub fn script(&self, metric: &str, values: &[&str]) {
        let mut mem = self.mem.lock().unwrap();
        let q = mem.script.entry(metric.to_string()).or_default();
        q.extend(values.iter().map(|v| Measure::Value(v.to_string())));
    }

    /// Append one measurement (a value or a provider error).
    pub fn script_one(&self, metric: &str, m: Measure) {
        let mut mem = self.mem.lock().unwrap();
        mem.script
            .entry(metric.to_string())
            .or_default()
            .push_back(m);
    }

    /// Simulate Argo CD for this Application: its sync operations apply
    /// the overlay's image tags at the requested revision to the Rollout.
    pub fn sync_app(&self, app: ArgoApp) {
        self.mem.lock().unwrap().apps.push(app);
    }

    /// Scripted measurements not yet taken for `metric`.
    pub fn pending(&self, metric: &str) -> usize {
        self.mem
            .lock()
            .unwrap()
            .script
            .get(metric)
            .map_or(0, VecDeque::len)
    }
}

impl FakeKube {
    /// Start the simulated Argo Rollouts controller; durations are
    /// multiplied by `time_scale` (0.01: a 30 s pause lasts 300 ms).
    pub fn start_rollouts_controller(&self, time_scale: f64) -> RolloutsController {
        let mem = Arc::new(Mutex::new(Mem {
            scale: time_scale,
            ..Mem::default()
        }));
        let inner = self.inner.clone();
        let m = mem.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            loop {
                tick.tick().await;
                argocd::sync_all(&inner, &m).await;
                let mut st = inner.store.lock().unwrap();
                let mut mem = m.lock().unwrap();
                analysis::measure_all(&mut st, &mut mem);
                let keys: Vec<ObjKey> = st
                    .objects
                    .keys()
                    .filter(|k| k.plural == "rollouts")
                    .cloned()
                    .collect();
                for key in keys {
                    rollout::reconcile(&mut st, &mut mem, &key);
                }
            }
        });
        RolloutsController { mem, task }
    }
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `1h`) or a number of seconds.
pub(super) fn duration(v: &Value) -> Option<Duration> {
    if let Some(n) = v.as_f64() {
        return Some(Duration::from_secs_f64(n.max(0.0)));
    }
    let s = v.as_str()?.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(Duration::from_secs_f64(n.max(0.0)));
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// Now as RFC 3339 in UTC, seconds precision (as Kubernetes writes times).
pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
