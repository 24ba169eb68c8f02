//! Serving: the accept loop, one connection at a time, routing a request to
//! a version's backend (faults applied), and the `/metrics` handler.

use super::*;

/// Resolve when `rx` turns true or its sender is gone.
pub(super) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    let Ok(permit) = shared.conn_limit.clone().try_acquire_owned() else {
                        shared.refused_connections.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(shared.clone(), stream, peer, stop.clone(), permit));
                }
                Err(_) => {
                    // Typically EMFILE: back off instead of spinning.
                    shared.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        conns.shutdown().await;
    }
}

pub(super) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let svc = service_fn(move |req| handle(shared.clone(), peer, req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

pub(super) fn json_response(status: StatusCode, body: &'static str) -> Response<RespBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, DroppedByFault> {
    let start = Instant::now();
    let pick = lock(&shared.routes).pick();
    let fault = lock(&shared.fault).clone();
    let intended = match &pick {
        Pick::Backend { version, .. } | Pick::Nothing { version } => version.clone(),
    };

    if let Some(f) = fault {
        if f.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        }
        if f.drop_rate > 0.0 && fastrand::f64() < f.drop_rate {
            shared.record(&intended, CODE_DROPPED, start.elapsed());
            return Err(DroppedByFault);
        }
        if f.error_rate > 0.0 && fastrand::f64() < f.error_rate {
            shared.record(&intended, 503, start.elapsed());
            return Ok(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"injected by chaos"}"#,
            ));
        }
    }

    let (version, addr) = match pick {
        Pick::Backend { version, addr } => (version, addr),
        Pick::Nothing { version } => {
            shared.record(&version, 503, start.elapsed());
            return Ok(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"no ready instances"}"#,
            ));
        }
    };

    let upstream = match upstream_request(req, addr, peer) {
        Some(r) => r,
        None => {
            shared.record(&version, 400, start.elapsed());
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                r#"{"error":"bad request target"}"#,
            ));
        }
    };
    match tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(upstream)).await {
        Ok(Ok(resp)) => {
            let status = resp.status();
            shared.record(&version, status.as_u16(), start.elapsed());
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            if let Ok(v) = HeaderValue::from_str(&version) {
                parts.headers.insert("x-served-by-version", v);
            }
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Ok(Err(_)) => {
            shared.record(&version, 502, start.elapsed());
            Ok(json_response(
                StatusCode::BAD_GATEWAY,
                r#"{"error":"upstream unavailable"}"#,
            ))
        }
        Err(_) => {
            shared.record(&version, 504, start.elapsed());
            Ok(json_response(
                StatusCode::GATEWAY_TIMEOUT,
                r#"{"error":"upstream timed out"}"#,
            ))
        }
    }
}

/// The client's request re-targeted at `addr`, minus hop-by-hop headers, plus
/// `x-forwarded-for`. `None` if the target cannot form a valid URI.
pub(super) fn upstream_request(
    req: Request<Incoming>,
    addr: SocketAddr,
    peer: SocketAddr,
) -> Option<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: Uri = format!("http://{addr}{pq}").parse().ok()?;
    strip_hop_by_hop(&mut parts.headers);
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {}", peer.ip()),
        _ => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    Some(Request::from_parts(parts, body))
}

pub(super) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including any the `Connection` header names.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

impl Shared {
    pub(super) fn record(&self, version: &Arc<str>, code: u16, elapsed: Duration) {
        let error = code >= 500 || code == CODE_DROPPED;
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut stats = lock(&self.stats);
        let s = match stats.get_mut(version) {
            Some(s) => s,
            None => stats.entry(version.clone()).or_default(),
        };
        *s.codes.entry(code).or_insert(0) += 1;
        if error {
            s.errors += 1;
        }
        s.duration.observe(elapsed.as_secs_f64());
        s.window.record(ms, error);
        s.analysis.record(ms, error);
    }

    pub(super) fn render_metrics(&self) -> String {
        let env = self.env.as_str();
        // Copy what is needed under the locks, format without them.
        let snapshot: Vec<StatsSnapshot> = lock(&self.stats)
            .iter()
            .map(|(v, s)| StatsSnapshot {
                version: v.to_string(),
                codes: s.codes.iter().map(|(c, n)| (*c, *n)).collect(),
                errors: s.errors,
                duration: s.duration.clone(),
            })
            .collect();
        let (weight, backends) = {
            let r = lock(&self.routes);
            let weight = if r.canary.is_some() { r.weight } else { 0 };
            let mut b: Vec<(String, usize)> = r
                .versions
                .iter()
                .map(|(k, v)| (k.to_string(), v.addrs.len()))
                .collect();
            b.sort();
            (weight, b)
        };
        let fault = lock(&self.fault).clone().unwrap_or_default();
        let process = lock(&self.process).clone();

        let mut out = String::with_capacity(4096);
        write_header(
            &mut out,
            "blissful_router_requests_total",
            "counter",
            "Requests handled by the edge router, by version and status code.",
        );
        for snap in &snapshot {
            for (code, n) in &snap.codes {
                let code = if *code == CODE_DROPPED {
                    "dropped".to_string()
                } else {
                    code.to_string()
                };
                write_sample(
                    &mut out,
                    "blissful_router_requests_total",
                    &[("env", env), ("version", &snap.version), ("code", &code)],
                    *n as f64,
                );
            }
        }
        write_header(
            &mut out,
            "blissful_router_errors_total",
            "counter",
            "Failed requests (5xx, upstream failures, dropped connections).",
        );
        for snap in &snapshot {
            write_sample(
                &mut out,
                "blissful_router_errors_total",
                &[("env", env), ("version", &snap.version)],
                snap.errors as f64,
            );
        }
        write_header(
            &mut out,
            "blissful_router_request_duration_seconds",
            "histogram",
            "Time from request arrival to response headers.",
        );
        for snap in &snapshot {
            snap.duration.write(
                &mut out,
                "blissful_router_request_duration_seconds",
                &[("env", env), ("version", &snap.version)],
            );
        }
        write_header(
            &mut out,
            "blissful_router_canary_weight",
            "gauge",
            "Percent of traffic routed to the canary.",
        );
        write_sample(
            &mut out,
            "blissful_router_canary_weight",
            &[("env", env)],
            weight as f64,
        );
        write_header(
            &mut out,
            "blissful_router_fault_active",
            "gauge",
            "1 while an injected fault of this kind is active.",
        );
        for (kind, on) in [
            ("latency", fault.latency_ms > 0),
            ("error", fault.error_rate > 0.0),
            ("drop", fault.drop_rate > 0.0),
        ] {
            write_sample(
                &mut out,
                "blissful_router_fault_active",
                &[("env", env), ("kind", kind)],
                if on { 1.0 } else { 0.0 },
            );
        }
        write_header(
            &mut out,
            "blissful_router_backends",
            "gauge",
            "Ready instances the router sends traffic to, by version.",
        );
        for (v, n) in &backends {
            write_sample(
                &mut out,
                "blissful_router_backends",
                &[("env", env), ("version", v)],
                *n as f64,
            );
        }
        write_header(
            &mut out,
            "blissful_router_refused_connections_total",
            "counter",
            "Client connections refused at the connection limit.",
        );
        write_sample(
            &mut out,
            "blissful_router_refused_connections_total",
            &[("env", env)],
            self.refused_connections.load(Ordering::Relaxed) as f64,
        );
        super::process::write_process_metrics(&mut out, env, &process);
        out
    }
}

pub(super) async fn metrics_handler(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.render_metrics(),
    )
        .into_response()
}
