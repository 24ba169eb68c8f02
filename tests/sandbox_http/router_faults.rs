//! The router under faults, its analysis samples, escaped metric labels and
//! shutdown.

use super::*;

#[tokio::test]
async fn faults_change_answers_and_removal_restores_them() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("chaos").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let c = client();
    assert_eq!(router.fault(), None);

    // Errors.
    let f = RouterFault {
        error_rate: 1.0,
        ..Default::default()
    };
    router.set_fault(Some(f.clone()));
    assert_eq!(router.fault(), Some(f));
    for _ in 0..5 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json(), serde_json::json!({"error": "injected by chaos"}));
    }
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "error")]),
        Some(1.0)
    );
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "drop")]),
        Some(0.0)
    );
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (5, 5));

    // Latency.
    router.set_fault(Some(RouterFault {
        latency_ms: 200,
        ..Default::default()
    }));
    let t = Instant::now();
    let r = get(&c, router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let w = router.take_window();
    assert!(w["v1"].p50_ms >= 200.0, "{:?}", w["v1"]);
    assert_eq!(w["v1"].errors, 0);

    // Dropped connections: the client sees the connection close with no answer.
    router.set_fault(Some(RouterFault {
        drop_rate: 1.0,
        ..Default::default()
    }));
    for _ in 0..3 {
        let mut s = TcpStream::connect(router.addr()).await.unwrap();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let res = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
            .await
            .expect("connection was neither answered nor closed");
        // EOF or a reset are both fine; an HTTP answer is not.
        if res.is_ok() {
            assert!(
                buf.is_empty(),
                "got an answer: {}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
    assert!(send(&c, Method::GET, router.addr(), "/hello", None)
        .await
        .is_err());
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (4, 4));
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("version", "v1"), ("code", "dropped")]
        ),
        Some(4.0)
    );
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "v1")]),
        Some(9.0)
    );

    // Removing the fault restores normal answers.
    router.set_fault(None);
    for _ in 0..5 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!((r.status, r.served_by().as_str()), (StatusCode::OK, "v1"));
    }
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "latency")]),
        Some(0.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn analysis_sample_covers_only_the_current_step() {
    let good = start_service(opts("v1")).await;
    let mut o = opts("v2");
    o.error_rate = 1.0;
    let bad = start_service(o).await;
    let router = start_router("a").await;
    router.set_backends("v1", vec![good.addr]);
    router.set_backends("v2", vec![bad.addr]);
    router.set_split(Some("v1"), Some("v2"), 0);
    burst(router.addr(), "/hello", 10).await;
    assert_eq!(router.analysis_sample("v1").requests, 10);

    router.reset_analysis();
    assert_eq!(router.analysis_sample("v1").requests, 0);
    router.set_split(Some("v1"), Some("v2"), 100);
    let replies = burst(router.addr(), "/hello", 7).await;
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::INTERNAL_SERVER_ERROR));
    let s = router.analysis_sample("v2");
    assert_eq!((s.requests, s.errors), (7, 7));
    assert!(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms);
    assert!((s.error_rate() - 1.0).abs() < 1e-9);
    assert_eq!(router.analysis_sample("v1").requests, 0);
    assert_eq!(router.analysis_sample("never-seen").requests, 0);
    // take_window is independent of the analysis accumulators.
    assert_eq!(router.take_window()["v1"].requests, 10);
    assert_eq!(router.analysis_sample("v2").requests, 7);
    router.shutdown().await;
}

#[tokio::test]
async fn metrics_labels_are_escaped() {
    let router = start_router("we\"ird\\env\nname").await;
    get(&client(), router.addr(), "/").await;
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("env", "we\"ird\\env\nname"), ("code", "503")]
        ),
        Some(1.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let router = start_router("bye").await;
    let addr = router.addr();
    router.shutdown().await;
    router.shutdown().await; // idempotent
    let res = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
    assert!(
        matches!(res, Ok(Err(_))),
        "router still accepts connections"
    );
}
