//! Watch streams: newline-delimited `{"type":…,"object":…}` events over a
//! chunked response, bookmarks, `timeoutSeconds`, and the in-stream 410.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::http::{expired, status};
use super::resources::Res;
use super::store::{Event, Filter};
use super::Inner;

struct WatchGuard(Arc<Inner>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

fn line(v: &Value) -> Result<Bytes, Infallible> {
    let mut s = v.to_string();
    s.push('\n');
    Ok(Bytes::from(s))
}

pub(super) fn watch_stream(
    inner: &Arc<Inner>,
    res: &Res,
    filter: Filter,
    query: &BTreeMap<String, String>,
) -> Response {
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let every = *inner.bookmark_every.lock().unwrap();
    let (backlog, live, start_rv) = {
        let st = inner.store.lock().unwrap();
        let from = match query.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => None,
            Some(rv) => match rv.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("invalid resource version: {rv}"),
                        None,
                    )
                }
            },
        };
        let backlog = match from {
            // No start: the current state as synthetic ADDED events.
            None => Ok(st
                .objects
                .iter()
                .filter(|(k, o)| filter.matches(k, o))
                .map(|(k, o)| Event {
                    rv: st.rv,
                    kind: "ADDED",
                    key: k.clone(),
                    object: o.clone(),
                })
                .collect()),
            Some(n) => st.since(n, &filter).map_err(|floor| expired(n, floor)),
        };
        (backlog, st.tx.subscribe(), st.rv)
    };
    inner.open_watches.fetch_add(1, Ordering::SeqCst);
    let guard = WatchGuard(inner.clone());
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let kind = res.kind;
    let gv = res.group_version();
    tokio::spawn(async move {
        let _guard = guard;
        let events = match backlog {
            Ok(e) => e,
            Err(status) => {
                let _ = tx
                    .send(line(&json!({"type": "ERROR", "object": status})))
                    .await;
                return;
            }
        };
        for ev in events {
            if tx.send(line(&ev.to_json())).await.is_err() {
                return;
            }
        }
        run_watch(
            tx,
            live,
            filter,
            bookmarks.then_some(every),
            timeout,
            start_rv,
            kind,
            gv,
        )
        .await;
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("watch response")
}

#[allow(clippy::too_many_arguments)]
async fn run_watch(
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    mut live: broadcast::Receiver<Event>,
    filter: Filter,
    bookmark_every: Option<Duration>,
    timeout: u64,
    mut seen: u64,
    kind: &'static str,
    gv: String,
) {
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);
    let period = bookmark_every.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = tick.tick(), if bookmark_every.is_some() => {
                // Only what this stream has already passed: a client that
                // resumes from a bookmark must not miss an event.
                let bm = json!({"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": gv,
                    "metadata": {"resourceVersion": seen.to_string()}
                }});
                if tx.send(line(&bm)).await.is_err() {
                    return;
                }
            }
            ev = live.recv() => match ev {
                Ok(ev) => {
                    seen = seen.max(ev.rv);
                    if filter.matches(&ev.key, &ev.object) && tx.send(line(&ev.to_json())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(line(&json!({"type": "ERROR", "object": expired(seen, seen)}))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
