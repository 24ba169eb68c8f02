//! The router: weighted splits, blue-green switches, fallbacks and
//! forwarding.

use super::*;

#[tokio::test]
async fn router_splits_traffic_by_weight_and_counts_it() {
    let a = start_service(opts("v1")).await;
    let b1 = start_service(opts("v2")).await;
    let b2 = start_service(opts("v2")).await;
    let router = start_router("staging").await;
    router.set_backends("v1", vec![a.addr]);
    router.set_backends("v2", vec![b1.addr, b2.addr]);
    router.set_split(Some("v1"), Some("v2"), 20);

    let n = 2000;
    let replies = burst(router.addr(), "/hello", n).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let canary = replies.iter().filter(|r| r.served_by() == "v2").count();
    let stable = replies.iter().filter(|r| r.served_by() == "v1").count();
    assert_eq!(canary + stable, n);
    // Binomial(2000, 0.2): mean 400, sd ~17.9; allow ~6 sd.
    assert!((290..=510).contains(&canary), "canary got {canary} of {n}");

    let w = router.take_window();
    assert_eq!(w["v1"].requests, stable as u64);
    assert_eq!(w["v2"].requests, canary as u64);
    assert_eq!(w["v1"].errors + w["v2"].errors, 0);
    assert!(
        w["v1"].p50_ms > 0.0
            && w["v1"].p50_ms <= w["v1"].p95_ms
            && w["v1"].p95_ms <= w["v1"].p99_ms
    );
    assert!(router.take_window().is_empty(), "window resets");

    // Round-robin spreads the canary over both of its instances.
    let m1 = scrape(b1.addr).await;
    let m2 = scrape(b2.addr).await;
    let hits = |m: &[Sample]| {
        find(
            m,
            "http_requests_total",
            &[("path", "/hello"), ("status", "200")],
        )
        .unwrap_or(0.0)
    };
    assert_eq!((hits(&m1) + hits(&m2)) as usize, canary);
    assert!(
        (hits(&m1) - hits(&m2)).abs() <= 1.0,
        "{} vs {}",
        hits(&m1),
        hits(&m2)
    );

    let m = scrape(router.metrics_addr()).await;
    let req = |v: &str| {
        find(
            &m,
            "blissful_router_requests_total",
            &[("env", "staging"), ("version", v), ("code", "200")],
        )
    };
    assert_eq!(req("v1"), Some(stable as f64));
    assert_eq!(req("v2"), Some(canary as f64));
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "v2")]),
        Some(0.0)
    );
    assert_eq!(
        find(
            &m,
            "blissful_router_request_duration_seconds_count",
            &[("version", "v2")]
        ),
        Some(canary as f64)
    );
    assert_eq!(
        find(
            &m,
            "blissful_router_request_duration_seconds_bucket",
            &[("version", "v1"), ("le", "+Inf")]
        ),
        Some(stable as f64)
    );
    assert!(
        find(
            &m,
            "blissful_router_request_duration_seconds_sum",
            &[("version", "v1")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        find(&m, "blissful_router_canary_weight", &[("env", "staging")]),
        Some(20.0)
    );
    assert_eq!(
        find(&m, "blissful_router_fault_active", &[("kind", "error")]),
        Some(0.0)
    );
    // Every bucket series is cumulative (non-decreasing in le order as rendered).
    let buckets: Vec<f64> = m
        .iter()
        .filter(|s| {
            s.name == "blissful_router_request_duration_seconds_bucket"
                && s.labels["version"] == "v1"
        })
        .map(|s| s.value)
        .collect();
    // Every configured bound plus +Inf.
    let bounds = blissful_infra::router::histogram::DEFAULT_BUCKETS.len();
    assert_eq!(buckets.len(), bounds + 1);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    router.shutdown().await;
}

#[tokio::test]
async fn blue_green_switch_and_fallback() {
    let blue = start_service(opts("blue")).await;
    let green = start_service(opts("green")).await;
    let router = start_router("prod").await;
    router.set_backends("blue", vec![blue.addr]);
    router.set_backends("green", vec![green.addr]);
    let c = client();

    router.set_split(Some("blue"), Some("green"), 0);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "blue");
    }
    router.set_split(Some("blue"), Some("green"), 100);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "green");
    }
    assert_eq!(
        router.split(),
        (Some("blue".into()), Some("green".into()), 100)
    );

    // Green loses its ready instances: traffic falls back to blue.
    router.set_backends("green", vec![]);
    for _ in 0..20 {
        let r = get(&c, router.addr(), "/hello").await;
        assert_eq!((r.status, r.served_by().as_str()), (StatusCode::OK, "blue"));
    }
    // And the other way round.
    router.set_backends("green", vec![green.addr]);
    router.remove_version("blue");
    router.set_split(Some("blue"), Some("green"), 0);
    for _ in 0..20 {
        assert_eq!(get(&c, router.addr(), "/hello").await.served_by(), "green");
    }
    assert!(!router.backends().contains_key("blue"));
    router.shutdown().await;
}

#[tokio::test]
async fn no_ready_instances_is_503_and_counted() {
    let router = start_router("empty").await;
    let c = client();
    let r = get(&c, router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json(), serde_json::json!({"error": "no ready instances"}));
    let w = router.take_window();
    assert_eq!(w["none"].requests, 1);
    assert_eq!(w["none"].errors, 1);

    // A configured version without instances is charged for its own failures.
    router.set_split(Some("v1"), None, 0);
    router.set_backends("v1", vec![]);
    for _ in 0..3 {
        assert_eq!(
            get(&c, router.addr(), "/").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (3, 3));
    assert!(!w.contains_key("none"));
    let m = scrape(router.metrics_addr()).await;
    assert_eq!(
        find(
            &m,
            "blissful_router_requests_total",
            &[("version", "v1"), ("code", "503")]
        ),
        Some(3.0)
    );
    assert_eq!(
        find(&m, "blissful_router_errors_total", &[("version", "none")]),
        Some(1.0)
    );
    router.shutdown().await;
}

#[tokio::test]
async fn upstream_failure_is_502_and_an_error() {
    // A port that was just freed: connecting fails.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let router = start_router("s").await;
    router.set_backends("v1", vec![dead]);
    router.set_split(Some("v1"), None, 0);
    let r = get(&client(), router.addr(), "/hello").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let w = router.take_window();
    assert_eq!((w["v1"].requests, w["v1"].errors), (1, 1));
    router.shutdown().await;
}

#[tokio::test]
async fn router_forwards_method_query_headers_and_body() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("s").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let c = client();
    let r = send(
        &c,
        Method::POST,
        router.addr(),
        "/echo?x=1",
        Some(("application/x-thing", "payload-123")),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"payload-123");
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/x-thing"
    );
    assert_eq!(r.served_by(), "v1");
    let r = get(&c, router.addr(), "/hello/dave?lang=en").await;
    assert_eq!(r.json()["message"], "Hello, dave!");
    router.shutdown().await;
}
