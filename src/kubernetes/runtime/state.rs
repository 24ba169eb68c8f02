//! What the runtime knows, and how each watch message changes it: the
//! objects per namespace, the source state summed over every watch, the
//! statuses and verdicts last published, and the recent log lines. Folding
//! is pure; the caller publishes the events it returns.

use std::collections::{BTreeMap, VecDeque};

use super::events::event_line;
use super::kinds::Kind;
use super::pods::owner_replicaset;
use super::settings::{EnvTarget, KubeSettings};
use super::shutdown::{sigterm_stop, stop_line};
use super::status::{environment_status, NamespaceStore};
use super::verdict::run_verdict;
use crate::domain::environment::{ActiveFault, EnvironmentStatus};
use crate::domain::logs::{LogLine, LogStore};
use crate::domain::EpochMillis;
use crate::kubernetes::analysis_run_view;
use crate::kubernetes::objects::ObjectFeed;
use crate::kubernetes::watch::ARGO_MISSING;
use crate::runtime::{RecordedVerdict, RuntimeEvent, SourceState};

/// The name of the runtime's source in `RuntimeEvent::Source`.
pub const SOURCE_NAME: &str = "kubernetes";
/// Log lines kept for `recent_logs`.
pub const LOG_CAPACITY: usize = 10_000;
const VERDICT_HISTORY: usize = 100;

/// One message of one watch.
#[derive(Clone, Debug)]
pub struct Feed {
    pub kind: Kind,
    pub namespace: String,
    pub msg: ObjectFeed,
}

pub struct State {
    /// Bumped by every reset, so a stopping session's last messages are ignored.
    pub generation: u64,
    pub source: SourceState,
    /// The state of each watch, by namespace and kind.
    watches: BTreeMap<(String, Kind), SourceState>,
    pub stores: BTreeMap<String, NamespaceStore>,
    /// The status last published per environment.
    pub sent: BTreeMap<String, EnvironmentStatus>,
    /// The AnalysisRun (name and phase) last judged per environment.
    judged: BTreeMap<String, String>,
    pub logs: LogStore,
    pub verdicts: VecDeque<RecordedVerdict>,
    /// Chaos faults in effect per environment (Chaos Mesh resources).
    faults: BTreeMap<String, Vec<ActiveFault>>,
    /// Pods (namespace/name) whose stop after SIGTERM was logged, newest
    /// last: each is logged once however often the pod changes after.
    stops_logged: VecDeque<String>,
}

/// Pod stops remembered against logging twice.
const STOPS_REMEMBERED: usize = 1024;

impl Default for State {
    fn default() -> Self {
        State {
            generation: 0,
            source: SourceState::Connecting,
            watches: BTreeMap::new(),
            stores: BTreeMap::new(),
            sent: BTreeMap::new(),
            judged: BTreeMap::new(),
            logs: LogStore::new(LOG_CAPACITY),
            verdicts: VecDeque::new(),
            faults: BTreeMap::new(),
            stops_logged: VecDeque::new(),
        }
    }
}

/// A watch's problem in plain words, with what to do and what happens now.
fn explain(reason: &str) -> String {
    if reason == ARGO_MISSING {
        format!(
            "{reason}: install Argo Rollouts in this cluster, or pick a cluster that has it \
             (:ctx, --context); plain Deployments are not shown"
        )
    } else {
        format!("{reason}; retrying every second, the panes keep the last data (stale)")
    }
}

impl State {
    /// Another cluster: forget its objects and watches, keep the logs.
    pub fn reset(&mut self, settings: &KubeSettings, now: EpochMillis) -> Vec<RuntimeEvent> {
        self.generation += 1;
        self.watches.clear();
        self.stores.clear();
        self.judged.clear();
        let mut out = self.set_source(SourceState::Connecting);
        for target in &settings.envs {
            self.refresh(target, now, &mut out);
        }
        out
    }

    /// Fold one message; returns the events to publish.
    pub fn apply(
        &mut self,
        settings: &KubeSettings,
        feed: Feed,
        now: EpochMillis,
    ) -> Vec<RuntimeEvent> {
        let Feed {
            kind,
            namespace,
            msg,
        } = feed;
        let mut out = Vec::new();
        if let (Kind::Pods, ObjectFeed::Applied { object, .. }) = (kind, &msg) {
            if let Some(line) = self.measured_stop(settings, &namespace, object) {
                self.push_log(line.clone());
                out.push(RuntimeEvent::Log { line });
            }
        }
        let store = self.stores.entry(namespace.clone()).or_default();
        match msg {
            ObjectFeed::State(s) => {
                if kind == Kind::Rollouts {
                    store.problem = match &s {
                        SourceState::Degraded(r) => Some(r.clone()),
                        _ => None,
                    };
                }
                self.watches.insert((namespace.clone(), kind), s);
                let expected = settings.namespaces().len() * Kind::ALL.len();
                let summed = self.summed(expected);
                out.extend(self.set_source(summed));
            }
            ObjectFeed::Synced => {
                if kind == Kind::Rollouts {
                    store.rollouts_synced = true;
                }
            }
            ObjectFeed::Applied { object, .. } if kind == Kind::Events => {
                let env = event_env(settings, &namespace, &object);
                if let Some(env) = env {
                    let line = event_line(&object, &env, now);
                    self.push_log(line.clone());
                    out.push(RuntimeEvent::Log { line });
                }
                return out;
            }
            ObjectFeed::Applied { name, object, .. } => {
                if let Some(map) = kind.map_in(store) {
                    map.insert(name, *object);
                }
            }
            ObjectFeed::Removed { name, .. } => {
                if let Some(map) = kind.map_in(store) {
                    map.remove(&name);
                }
            }
        }
        for target in settings.envs_in(&namespace) {
            self.refresh(target, now, &mut out);
        }
        out
    }

    fn set_source(&mut self, s: SourceState) -> Vec<RuntimeEvent> {
        if s == self.source {
            return Vec::new();
        }
        self.source = s.clone();
        vec![RuntimeEvent::Source {
            name: SOURCE_NAME.into(),
            state: s,
        }]
    }

    /// Degraded when a watch is (a Rollout watch's reason first),
    /// connecting until every watch has spoken, else ok.
    fn summed(&self, expected: usize) -> SourceState {
        let degraded = |rollouts_only: bool| {
            self.watches.iter().find_map(|((_, k), s)| match s {
                SourceState::Degraded(r) if !rollouts_only || *k == Kind::Rollouts => Some(r),
                _ => None,
            })
        };
        if let Some(r) = degraded(true).or_else(|| degraded(false)) {
            return SourceState::Degraded(explain(r));
        }
        let waiting = self.watches.values().any(|s| *s == SourceState::Connecting);
        if waiting || self.watches.len() < expected {
            SourceState::Connecting
        } else {
            SourceState::Ok
        }
    }

    /// Publish the status of `target` if it changed, and a verdict when its
    /// newest AnalysisRun reaches a new conclusion.
    fn refresh(&mut self, target: &EnvTarget, now: EpochMillis, out: &mut Vec<RuntimeEvent>) {
        let empty = NamespaceStore::default();
        let store = self.stores.get(&target.namespace).unwrap_or(&empty);
        let before = self.sent.get(&target.env);
        let mut status = environment_status(target, store, before.map_or(now, |b| b.last_change));
        status.faults = self.faults.get(&target.env).cloned().unwrap_or_default();
        if before != Some(&status) {
            status.last_change = now;
            self.sent.insert(target.env.clone(), status.clone());
            out.push(RuntimeEvent::Environment {
                status: status.clone(),
            });
        }
        let Some(run) = store.latest_run(&target.rollout).map(analysis_run_view) else {
            return;
        };
        let key = format!(
            "{}/{}",
            run.name.as_deref().unwrap_or("-"),
            run.phase.label()
        );
        if self.judged.get(&target.env) == Some(&key) {
            return;
        }
        self.judged.insert(target.env.clone(), key);
        if let Some(verdict) = run_verdict(&run) {
            let step = status.step.map_or(0, |(i, _)| i);
            if self.verdicts.len() == VERDICT_HISTORY {
                self.verdicts.pop_front();
            }
            self.verdicts.push_back(RecordedVerdict {
                env: target.env.clone(),
                verdict: verdict.clone(),
                step,
            });
            out.push(RuntimeEvent::Verdict {
                env: target.env.clone(),
                step,
                verdict,
            });
        }
    }

    /// The chaos faults in effect on `env`; the events to publish.
    pub fn set_faults(
        &mut self,
        settings: &KubeSettings,
        env: &str,
        faults: Vec<ActiveFault>,
        now: EpochMillis,
    ) -> Vec<RuntimeEvent> {
        self.faults.insert(env.to_string(), faults);
        let mut out = Vec::new();
        if let Some(target) = settings.env(env) {
            self.refresh(target, now, &mut out);
        }
        out
    }

    /// The line of a pod of an environment here that stopped after SIGTERM,
    /// the first time its termination is seen.
    fn measured_stop(
        &mut self,
        settings: &KubeSettings,
        namespace: &str,
        pod: &serde_json::Value,
    ) -> Option<LogLine> {
        let (stop, finished) = sigterm_stop(pod)?;
        let key = format!("{namespace}/{}", stop.instance);
        if self.stops_logged.contains(&key) {
            return None;
        }
        let store = self.stores.get(namespace)?;
        let set = owner_replicaset(pod)?;
        let env = settings.envs_in(namespace).find(|t| {
            store.replicasets_of(&t.rollout).any(|rs| {
                rs.pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
                    == Some(set)
            })
        })?;
        if self.stops_logged.len() == STOPS_REMEMBERED {
            self.stops_logged.pop_front();
        }
        self.stops_logged.push_back(key);
        Some(stop_line(&stop, finished, &env.env))
    }

    pub fn push_log(&mut self, line: LogLine) {
        self.logs.push(line);
    }

    /// The statuses last published, in the config's order.
    pub fn statuses(&self, settings: &KubeSettings) -> Vec<EnvironmentStatus> {
        settings
            .envs
            .iter()
            .filter_map(|t| self.sent.get(&t.env).cloned())
            .collect()
    }

    /// Every Rollout watch has listed or is degraded.
    pub fn settled(&self, settings: &KubeSettings) -> bool {
        settings.namespaces().iter().all(|ns| {
            self.stores
                .get(ns)
                .is_some_and(|s| s.rollouts_synced || s.problem.is_some())
        })
    }
}

/// The environment an event of `namespace` belongs to: the one whose
/// Rollout name starts the involved object's name, else the namespace's first.
fn event_env(settings: &KubeSettings, namespace: &str, ev: &serde_json::Value) -> Option<String> {
    let object = ev
        .pointer("/involvedObject/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let mut envs = settings.envs_in(namespace).peekable();
    let first = envs.peek().map(|t| t.env.clone());
    envs.find(|t| object.starts_with(&t.rollout))
        .map(|t| t.env.clone())
        .or(first)
}

#[cfg(test)]
mod tests;
