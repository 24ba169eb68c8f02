//! Waiting for an ephemeral environment's Deployments, as `kubectl rollout
//! status` judges one: the controller has seen the latest spec, every
//! replica runs the new template, and as many are available as asked for.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::api;
use crate::kubernetes::connect::{Connection, KubeError};
use crate::kubernetes::fields::{count, list, raw, text, uint};

/// One Deployment's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub name: String,
    pub available: u32,
    /// `spec.replicas` (1 when not set).
    pub want: u32,
    pub ready: bool,
    /// Why not ready, when known (`ProgressDeadlineExceeded: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A Deployment (as the API sent it) judged.
pub fn readiness(d: &Value) -> Readiness {
    let want = count(d, &["spec", "replicas"]).unwrap_or(1);
    let st = |k: &str| count(d, &["status", k]).unwrap_or(0);
    let (replicas, updated, available) = (
        st("replicas"),
        st("updatedReplicas"),
        st("availableReplicas"),
    );
    let generation = uint(d, &["metadata", "generation"]).unwrap_or(0);
    let observed = uint(d, &["status", "observedGeneration"]).unwrap_or(0);
    let seen = observed >= generation;
    let stuck = list(d, &["status", "conditions"]).iter().find(|c| {
        raw(c, &["type"]) == Some("Progressing")
            && raw(c, &["reason"]) == Some("ProgressDeadlineExceeded")
    });
    let why = match stuck {
        Some(c) => Some(match text(c, &["message"]) {
            Some(m) => format!("ProgressDeadlineExceeded: {m}"),
            None => "ProgressDeadlineExceeded".into(),
        }),
        None if !seen => Some("its controller has not seen the latest spec yet".into()),
        None if replicas > updated => Some(format!(
            "{} old replica(s) still running",
            replicas - updated
        )),
        None => None,
    };
    Readiness {
        name: text(d, &["metadata", "name"]).unwrap_or_default(),
        available,
        want,
        ready: seen && updated >= want && replicas <= updated && available >= want,
        why,
    }
}

/// `orders 0/1 available, web 2/2 available`.
pub fn summary(states: &[Readiness]) -> String {
    states
        .iter()
        .map(|r| format!("{} {}/{} available", r.name, r.available, r.want))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a wait ended; each holds the last state of every Deployment waited
/// for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    Ready(Vec<Readiness>),
    TimedOut(Vec<Readiness>),
}

/// The Deployments `names` of `all`, in that order; one not there is not
/// ready.
fn judge(all: &[Value], names: &[String]) -> Vec<Readiness> {
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|d| raw(d, &["metadata", "name"]) == Some(name.as_str()))
                .map(readiness)
                .unwrap_or_else(|| Readiness {
                    name: crate::kubernetes::fields::clean(name),
                    available: 0,
                    want: 1,
                    ready: false,
                    why: Some("not found".into()),
                })
        })
        .collect()
}

/// Poll the Deployments `names` of `namespace` every `poll` until all are
/// ready or `timeout` passes; `progress` gets a line each time the summary
/// changes.
pub async fn wait_ready(
    conn: &Connection,
    namespace: &str,
    names: &[String],
    (timeout, poll): (Duration, Duration),
    progress: &mut dyn FnMut(&str),
) -> Result<WaitEnd, KubeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let states = judge(&api::deployments(conn, namespace).await?, names);
        if states.iter().all(|r| r.ready) {
            return Ok(WaitEnd::Ready(states));
        }
        let line = summary(&states);
        if line != last {
            progress(&line);
            last = line;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(WaitEnd::TimedOut(states));
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}
