//! Pod logs: `GET /api/v1/namespaces/{ns}/pods/{name}/log` with `follow`,
//! `timestamps`, `sinceSeconds`, `tailLines` and `container`, served from
//! lines the test pushes (plain text, one line per `\n`).

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::http::status;
use super::store::ObjKey;
use super::Inner;

type Key = (String, String, String);

#[derive(Clone, Debug)]
enum Live {
    Line(Key, DateTime<Utc>, String),
    End(Key),
}

pub(super) struct Logs {
    lines: BTreeMap<Key, Vec<(DateTime<Utc>, String)>>,
    ended: HashSet<Key>,
    tx: broadcast::Sender<Live>,
}

impl Default for Logs {
    fn default() -> Logs {
        Logs {
            lines: BTreeMap::new(),
            ended: HashSet::new(),
            tx: broadcast::channel(4096).0,
        }
    }
}

fn key(ns: &str, pod: &str, container: &str) -> Key {
    (ns.into(), pod.into(), container.into())
}

impl Logs {
    pub(super) fn push(&mut self, ns: &str, pod: &str, container: &str, line: &str) {
        let k = key(ns, pod, container);
        let now = Utc::now();
        self.lines
            .entry(k.clone())
            .or_default()
            .push((now, line.to_string()));
        let _ = self.tx.send(Live::Line(k, now, line.to_string()));
    }

    pub(super) fn end(&mut self, ns: &str, pod: &str, container: &str) {
        let k = key(ns, pod, container);
        self.ended.insert(k.clone());
        let _ = self.tx.send(Live::End(k));
    }
}

fn render(ts: &DateTime<Utc>, line: &str, timestamps: bool) -> Bytes {
    let text = if timestamps {
        format!(
            "{} {line}\n",
            ts.to_rfc3339_opts(SecondsFormat::Nanos, true)
        )
    } else {
        format!("{line}\n")
    };
    Bytes::from(text)
}

pub(super) fn serve(
    inner: &Arc<Inner>,
    ns: &str,
    pod: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let pods = super::resources::RESOURCES
        .iter()
        .find(|r| r.plural == "pods")
        .expect("pods resource");
    let Some(obj) = inner
        .store
        .lock()
        .unwrap()
        .objects
        .get(&ObjKey::new("v1", "pods", ns, pod))
        .cloned()
    else {
        return super::http::not_found(pods, pod);
    };
    let names: Vec<String> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| obj.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match query.get("container") {
        Some(c) if names.contains(c) => c.clone(),
        Some(c) => {
            let msg = format!("container {c} is not valid for pod {pod}");
            return status(400, "BadRequest", &msg, None);
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            let msg = format!(
                "a container name must be specified for pod {pod}, choose one of: [{}]",
                names.join(" ")
            );
            return status(400, "BadRequest", &msg, None);
        }
    };
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
    let follow = flag("follow");
    let timestamps = flag("timestamps");
    let since = query
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| Utc::now() - chrono::Duration::seconds(s));
    let tail = query.get("tailLines").and_then(|s| s.parse::<usize>().ok());
    let k = key(ns, pod, &container);
    let (stored, ended, mut live) = {
        let logs = inner.logs.lock().unwrap();
        let mut stored: Vec<(DateTime<Utc>, String)> = logs
            .lines
            .get(&k)
            .into_iter()
            .flatten()
            .filter(|(ts, _)| since.is_none_or(|s| *ts >= s))
            .cloned()
            .collect();
        if let Some(n) = tail {
            stored.drain(..stored.len().saturating_sub(n));
        }
        (stored, logs.ended.contains(&k), logs.tx.subscribe())
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    tokio::spawn(async move {
        for (ts, line) in &stored {
            if tx.send(Ok(render(ts, line, timestamps))).await.is_err() {
                return;
            }
        }
        if !follow || ended {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                msg = live.recv() => match msg {
                    Ok(Live::Line(lk, ts, line)) if lk == k => {
                        if tx.send(Ok(render(&ts, &line, timestamps))).await.is_err() {
                            return;
                        }
                    }
                    Ok(Live::End(lk)) if lk == k => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("log response")
}
