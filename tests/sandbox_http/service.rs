//! The sample service: its endpoints, WebSocket events, injected errors and
//! latency.

use super::*;

#[tokio::test]
async fn sample_service_endpoints() {
    let mut svc = start_service(opts("v1")).await;
    let c = client();

    let r = get(&c, svc.addr, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["status"], "healthy");
    chrono::DateTime::parse_from_rfc3339(j["timestamp"].as_str().unwrap()).unwrap();

    let r = get(&c, svc.addr, "/hello").await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::OK,
            serde_json::json!({"message": "Hello, World!"})
        )
    );

    let r = get(&c, svc.addr, "/hello/alice").await;
    assert_eq!(r.json(), serde_json::json!({"message": "Hello, alice!"}));
    // Percent-encoded names are decoded.
    let r = get(&c, svc.addr, "/hello/J%C3%BCrgen").await;
    assert_eq!(r.json()["message"], "Hello, Jürgen!");

    let r = send(
        &c,
        Method::POST,
        svc.addr,
        "/echo",
        Some(("text/x-custom", "ping \"pong\"")),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get("content-type").unwrap(), "text/x-custom");
    assert_eq!(&r.body[..], b"ping \"pong\"");

    let r = get(&c, svc.addr, "/ready").await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    );
    assert_eq!(get(&c, svc.addr, "/live").await.status, StatusCode::OK);
    assert_eq!(
        get(&c, svc.addr, "/nope").await.status,
        StatusCode::NOT_FOUND
    );
    // Every response carries a request id.
    assert!(r.headers.get("x-request-id").is_some());

    svc.state.set_ready(false);
    assert_eq!(
        get(&c, svc.addr, "/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    svc.state.set_ready(true);

    let m = scrape(svc.addr).await;
    let hello = [("method", "GET"), ("path", "/hello"), ("status", "200")];
    assert_eq!(find(&m, "http_requests_total", &hello), Some(1.0));
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "/hello/{name}"), ("status", "200")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_count",
            &[("path", "/hello/{name}")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find(&m, "app_version_info", &[("version", "v1")]),
        Some(1.0)
    );
    assert!(find(&m, "process_resident_memory_bytes", &[]).unwrap() > 0.0);

    // One structured line per request.
    let line = wait_log(&mut svc.logs, |v| v["path"] == "/hello/alice").await;
    assert_eq!(line["msg"], "request");
    assert_eq!(line["level"], "info");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert_eq!(line["version"], "v1");
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["request_id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_hexdigit()));
    chrono::DateTime::parse_from_rfc3339(line["ts"].as_str().unwrap()).unwrap();
    let nf = wait_log(&mut svc.logs, |v| v["status"] == 404).await;
    assert_eq!(nf["level"], "warn");
}

/// Raw WebSocket client: handshake, then read server frames (unmasked).
async fn ws_connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "EOF during handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455 example key -> accept value.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    s
}

/// Next frame: (opcode, payload).
async fn ws_read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    assert_eq!(h[0] & 0x80, 0x80, "expected a final frame");
    assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    (h[0] & 0x0f, payload)
}

#[tokio::test]
async fn websocket_streams_greeting_events() {
    let svc = start_service(opts("v1")).await;
    let mut ws = ws_connect(svc.addr, "/ws/events").await;
    let c = client();
    for name in ["bob", "carol"] {
        assert_eq!(
            get(&c, svc.addr, &format!("/hello/{name}")).await.status,
            StatusCode::OK
        );
    }
    let mut ids = Vec::new();
    for name in ["bob", "carol"] {
        let (op, payload) = tokio::time::timeout(Duration::from_secs(10), ws_read_frame(&mut ws))
            .await
            .expect("no event frame");
        assert_eq!(op, 1, "text frame");
        let ev: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(ev["eventType"], "greeting.created");
        assert_eq!(ev["aggregateId"], name);
        assert_eq!(ev["payload"]["name"], name);
        assert_eq!(ev["payload"]["message"], format!("Hello, {name}!"));
        chrono::DateTime::parse_from_rfc3339(ev["occurredAt"].as_str().unwrap()).unwrap();
        let id = ev["eventId"].as_str().unwrap().to_string();
        assert!(
            id.len() >= 32 && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);

    // Shutdown closes the stream with a Close frame.
    svc.state.begin_shutdown();
    let (op, _) = tokio::time::timeout(Duration::from_secs(10), ws_read_frame(&mut ws))
        .await
        .expect("no close frame");
    assert_eq!(op, 8);
    assert_eq!(svc.state.events_skipped(), 0);
}

#[tokio::test]
async fn error_rate_one_answers_500_except_probes() {
    let mut o = opts("v4-buggy");
    o.error_rate = 1.0;
    let mut svc = start_service(o).await;
    let c = client();
    for _ in 0..5 {
        let r = get(&c, svc.addr, "/hello").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.json(), serde_json::json!({"error": "injected failure"}));
    }
    assert_eq!(get(&c, svc.addr, "/health").await.status, StatusCode::OK);
    assert_eq!(get(&c, svc.addr, "/ready").await.status, StatusCode::OK);
    let line = wait_log(&mut svc.logs, |v| v["status"] == 500).await;
    assert_eq!(line["level"], "error");
    let m = scrape(svc.addr).await;
    assert_eq!(
        find(
            &m,
            "http_requests_total",
            &[("path", "/hello"), ("status", "500")]
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn latency_is_added_to_non_probe_requests() {
    let mut o = opts("v3-slow");
    o.latency_ms = 150;
    let svc = start_service(o).await;
    let c = client();
    let t = Instant::now();
    assert_eq!(get(&c, svc.addr, "/hello").await.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    let m = scrape(svc.addr).await;
    // The 150 ms request lands above the 0.1 s bucket.
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "0.1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        find(
            &m,
            "http_request_duration_seconds_bucket",
            &[("path", "/hello"), ("le", "0.25")]
        ),
        Some(1.0)
    );
}
