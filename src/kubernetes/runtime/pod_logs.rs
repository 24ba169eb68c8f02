//! Pod logs through the kube log API (`follow`, `timestamps`, `sinceSeconds`):
//! one follower per pod of each environment's Rollout, started and stopped
//! as pods come and go, reconnecting from the last line seen when a stream
//! ends while its pod lives. Lines go through `logparse`, like the other
//! runtimes' output: bounded, sanitised, JSON and level read once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::pods::first_container;
use super::settings::KubeSettings;
use super::state::State;
use crate::clock::now_ms;
use crate::domain::environment::InstancePhase;
use crate::domain::logs::LogLine;
use crate::kubernetes::connect::Connection;
use crate::kubernetes::fields::at;
use crate::logparse::{
    parse_log_line, read_bounded_line, split_timestamp, MAX_LINE_BYTES, TRUNCATED_MARKER,
};

/// Most pods followed per environment (the first by name).
pub const MAX_FOLLOWED: usize = 50;
/// Lines read from a pod's history when it is first followed.
const INITIAL_TAIL: i64 = 200;
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Where a followed pod's lines go.
pub type Sink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// One pod to follow, and the labels of its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTarget {
    pub namespace: String,
    pub pod: String,
    /// The first container (`None`: the pod's only one).
    pub container: Option<String>,
    pub env: Arc<str>,
    pub version: Arc<str>,
}

/// The pods whose logs to follow now: the live pods of every environment's
/// Rollout, at most [`MAX_FOLLOWED`] each.
pub fn log_targets(state: &State, settings: &KubeSettings) -> Vec<LogTarget> {
    let mut out = Vec::new();
    for t in &settings.envs {
        let Some(store) = state.stores.get(&t.namespace) else {
            continue;
        };
        let mut pods: Vec<&Value> = store.pods_of(&t.rollout);
        let name = |p: &Value| -> String {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        pods.sort_by_key(|p| name(p));
        for pod in pods.into_iter().take(MAX_FOLLOWED) {
            let inst = super::pods::pod_instance(pod);
            if inst.phase == InstancePhase::Stopped {
                continue;
            }
            let spec = at(pod, &["spec"]).unwrap_or(&Value::Null);
            out.push(LogTarget {
                namespace: t.namespace.clone(),
                pod: inst.id,
                container: first_container(spec),
                env: Arc::from(t.env.as_str()),
                version: Arc::from(inst.version.as_str()),
            });
        }
    }
    out
}

/// The followers of one connection; dropping it stops them all.
pub struct PodLogs {
    conn: Connection,
    sink: Sink,
    followers: HashMap<LogTargetKey, AbortHandle>,
    tasks: JoinSet<()>,
}

type LogTargetKey = (String, String);

impl PodLogs {
    pub fn new(conn: Connection, sink: Sink) -> Self {
        PodLogs {
            conn,
            sink,
            followers: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Follow exactly `wanted`: stop followers of pods gone, start new ones.
    pub fn sync(&mut self, wanted: Vec<LogTarget>) {
        // Finished tasks leave the set as they are reaped.
        while self.tasks.try_join_next().is_some() {}
        let keys: Vec<LogTargetKey> = wanted
            .iter()
            .map(|t| (t.namespace.clone(), t.pod.clone()))
            .collect();
        self.followers.retain(|k, h| {
            let keep = keys.contains(k);
            if !keep {
                h.abort();
            }
            keep
        });
        for (key, target) in keys.into_iter().zip(wanted) {
            if self.followers.contains_key(&key) {
                continue;
            }
            let handle = self
                .tasks
                .spawn(follow(self.conn.clone(), target, self.sink.clone()));
            self.followers.insert(key, handle);
        }
    }
}

/// Seconds back to the line at `last_ns`, rounded up (the server's
/// granularity); lines already seen are skipped by their timestamp.
fn since_seconds(last_ns: i64, now_ms: i64) -> i64 {
    ((now_ms - last_ns / 1_000_000) / 1000 + 1).max(1)
}

async fn follow(conn: Connection, t: LogTarget, sink: Sink) {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &t.namespace);
    let instance: Arc<str> = Arc::from(t.pod.as_str());
    let mut last_ns: Option<i64> = None;
    let mut backoff = RETRY_MIN;
    let mut buf = Vec::new();
    loop {
        let params = LogParams {
            container: t.container.clone(),
            follow: true,
            timestamps: true,
            since_seconds: last_ns.map(|ns| since_seconds(ns, now_ms())),
            tail_lines: last_ns.is_none().then_some(INITIAL_TAIL),
            ..LogParams::default()
        };
        // A pod still starting answers 400 (container waiting): try again later.
        if let Ok(stream) = api.log_stream(&t.pod, &params).await {
            let mut reader = Box::pin(stream).compat();
            while let Ok(Some(truncated)) =
                read_bounded_line(&mut reader, &mut buf, MAX_LINE_BYTES).await
            {
                let (ts, body) = split_timestamp(&buf);
                if let (Some(ns), Some(last)) = (ts, last_ns) {
                    if ns <= last {
                        continue; // seen before the reconnect
                    }
                }
                if ts.is_some() {
                    last_ns = ts;
                }
                backoff = RETRY_MIN;
                let now = ts.map_or_else(now_ms, |ns| ns / 1_000_000);
                let mut line = parse_log_line(body, &t.env, &t.version, &instance, now);
                if truncated {
                    line = line.with_suffix(TRUNCATED_MARKER);
                }
                sink(line);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_asks_back_to_the_last_line_rounded_up() {
        let last_ns = 10_000 * 1_000_000; // 10 s
        assert_eq!(since_seconds(last_ns, 12_500), 3);
        assert_eq!(since_seconds(last_ns, 10_000), 1);
        assert_eq!(since_seconds(last_ns, 5_000), 1);
    }
}
