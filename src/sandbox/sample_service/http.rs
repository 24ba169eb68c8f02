//! The HTTP routes: the standard endpoints, the request log middleware
//! with injected latency and errors, and the event WebSocket.

#[allow(unused_imports)]
use super::*;

pub(super) fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Route template for metrics labels; arbitrary paths collapse to `unmatched`.
pub(super) fn route_label(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/ready" => "/ready",
        "/live" => "/live",
        "/metrics" => "/metrics",
        "/hello" => "/hello",
        "/echo" => "/echo",
        "/ws/events" => "/ws/events",
        p => match p.strip_prefix("/hello/") {
            Some(name) if !name.is_empty() && !name.contains('/') => "/hello/{name}",
            _ => "unmatched",
        },
    }
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Accept a caller's request id only if it is short and plain.
pub(super) fn request_id_from(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(random_hex16)
}

// ---------------------------------------------------------------------------
// HTTP

/// The sample service's routes with behaviour injection, metrics and logging.
pub fn sample_service_router(state: Arc<SampleServiceState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/live", get(live))
        .route("/metrics", get(metrics))
        .route("/hello", get(hello))
        .route("/hello/{name}", get(hello_name))
        .route("/echo", post(echo))
        .route("/ws/events", get(ws_events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The request's dependency call, if the instance has one: why it failed,
/// or `None` when the request may go on (answered, or degraded while the
/// breaker is open). A retry is logged, as a real client's would be.
async fn call_dependency(st: &Arc<SampleServiceState>) -> Option<String> {
    let dep = st.opts.dependency.clone()?;
    let retried = |e: &str| {
        st.log_lifecycle(
            "warn",
            "retrying the dependency call",
            json!({ "dependency": dep.name, "error": e }),
        )
    };
    match dep.call(retried).await {
        dependency::CallOutcome::Ok | dependency::CallOutcome::Degraded => None,
        dependency::CallOutcome::Failed(e) => Some(format!("{} failed: {e}", dep.name)),
    }
}

pub(super) async fn observe(
    State(st): State<Arc<SampleServiceState>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let path = truncate(req.uri().path(), MAX_TEXT).to_string();
    let request_id = request_id_from(req.headers());
    let probe = PROBE_PATHS.contains(&path.as_str());

    let mut resp = if probe {
        next.run(req).await
    } else {
        if st.opts.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(st.opts.latency_ms)).await;
        }
        if st.opts.error_rate > 0.0 && fastrand::f64() < st.opts.error_rate {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "injected failure" })),
            )
                .into_response()
        } else if let Some(failed) = call_dependency(&st).await {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": failed })),
            )
                .into_response()
        } else {
            next.run(req).await
        }
    };

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    st.record(method, route_label(&path), status, elapsed.as_secs_f64());
    let level = match status {
        500.. => "error",
        400..=499 => "warn",
        _ => "info",
    };
    let safe_path = sanitize_str(&path);
    let line = RequestLog {
        ts: now_rfc3339_millis(),
        level,
        msg: "request",
        method,
        path: &safe_path,
        status,
        duration_ms: (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        version: &st.opts.version,
        instance: &st.opts.instance,
        request_id: &request_id,
    };
    if let Ok(text) = serde_json::to_string(&line) {
        st.logs.emit(text);
    }
    resp
}

pub(super) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "healthy", "timestamp": now_rfc3339() }))
}

pub(super) async fn ready(State(st): State<Arc<SampleServiceState>>) -> Response {
    if st.is_ready() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
            .into_response()
    }
}

pub(super) async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

pub(super) async fn metrics(State(st): State<Arc<SampleServiceState>>) -> Response {
    let rss = crate::sandbox::procstat::self_rss_bytes().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.render_metrics(rss),
    )
        .into_response()
}

pub(super) async fn hello() -> Json<serde_json::Value> {
    Json(json!({ "message": "Hello, World!" }))
}

pub(super) async fn hello_name(
    State(st): State<Arc<SampleServiceState>>,
    Path(name): Path<String>,
) -> Json<serde_json::Value> {
    let name = truncate(&name, MAX_TEXT);
    let message = format!("Hello, {name}!");
    st.publish(&DomainEvent::greeting(name, &message));
    Json(json!({ "message": message }))
}

pub(super) async fn echo(headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

pub(super) async fn ws_events(
    State(st): State<Arc<SampleServiceState>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Subscribe before answering so no event published after the 101 is missed.
    let rx = st.events.subscribe();
    let closing = st.closing.subscribe();
    ws.on_upgrade(move |socket| stream_events(st, socket, rx, closing))
}

pub(super) async fn stream_events(
    st: Arc<SampleServiceState>,
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<str>>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            ev = next_event(&mut rx, &st) => {
                let Some(ev) = ev else { break };
                if socket.send(Message::text(ev.to_string())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                // Pings are answered by the WebSocket layer; other input is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = wait_true(&mut closing) => {
                let frame = CloseFrame { code: close_code::AWAY, reason: "shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}

/// Next event for a subscriber; a lagging subscriber skips what it missed
/// (bounded memory) and the skip is counted and logged.
pub(super) async fn next_event(
    rx: &mut broadcast::Receiver<Arc<str>>,
    st: &SampleServiceState,
) -> Option<Arc<str>> {
    loop {
        match rx.recv().await {
            Ok(ev) => return Some(ev),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                st.events_skipped.fetch_add(n, Ordering::Relaxed);
                st.log_lifecycle(
                    "warn",
                    "websocket subscriber lagged; events skipped",
                    json!({ "skipped": n }),
                );
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

// ---------------------------------------------------------------------------
// Memory growth
