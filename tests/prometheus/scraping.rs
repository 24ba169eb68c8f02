//! A real Prometheus scraping the real sandbox router.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scraping_the_router() {
    // v1 is healthy, v2 answers 500 to everything.
    let v1 = backend(StatusCode::OK).await;
    let v2 = backend(StatusCode::INTERNAL_SERVER_ERROR).await;
    let router = RouterHandle::start(RouterConfig {
        env: ENV.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap();
    router.set_backends("v1", vec![v1]);
    router.set_backends("v2", vec![v2]);
    router.set_split(Some("v1"), Some("v2"), 50);

    // About 100 requests/s through the router for the whole test.
    let target = format!("http://{}/hello", router.addr());
    let traffic = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let _ = http.get(&target).send().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    let prom = start_prometheus(router.metrics_addr()).await;
    let client = PrometheusClient::with(&prom.url, "", Duration::from_secs(2)).unwrap();
    wait_for(&client, r#"up{job="router"}"#, "the router scrape", |s| {
        s.iter().any(|s| s.value == 1.0)
    })
    .await;
    let cfg = prom_config(&prom.url);
    let rate = format!(
        r#"sum by (version) (rate(blissful_router_requests_total{{env="{ENV}"}}[{}s]))"#,
        WINDOW.as_secs()
    );
    wait_for(&client, &rate, "a request rate for v1 and v2", |s| {
        s.iter().filter(|s| s.value > 0.0).count() == 2
    })
    .await;

    // Instant query: the request counter, labelled by env, version and code.
    let samples = client
        .instant("blissful_router_requests_total")
        .await
        .unwrap();
    let versions: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.labels.get("env").map(String::as_str) == Some(ENV))
        .filter_map(|s| s.labels.get("version").map(String::as_str))
        .collect();
    assert_eq!(
        versions,
        BTreeSet::from(["v1", "v2"]),
        "samples: {samples:?}"
    );
    assert!(samples
        .iter()
        .any(|s| s.labels.get("code").map(String::as_str) == Some("500") && s.value > 0.0));

    // Range query: a matrix, one series per version, several points each.
    let end = chrono::Utc::now();
    let series = client
        .range(
            "sum by (version) (blissful_router_requests_total)",
            end - chrono::Duration::seconds(5),
            end,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    for s in &series {
        assert!(s.points.len() >= 2, "{s:?}");
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
        assert!(s.points.last().is_some_and(|p| p.1 > 0.0), "{s:?}");
    }

    // The live source: Metrics events with traffic for both versions, the
    // pane's window first filled from range queries. Let a few seconds of
    // rates build up first, so there is history to fill.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let end = chrono::Utc::now();
        let s = client
            .range(
                &format!(
                    r#"sum by (version) (rate(blissful_router_requests_total{{env="{ENV}"}}[5s]))"#
                ),
                end - chrono::Duration::seconds(30),
                end,
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        if s.iter().all(|x| x.points.len() >= 5) && s.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no rate history: {s:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (tx, mut rx) = mpsc::channel(1024);
    let source_started = chrono::Utc::now().timestamp_millis();
    let source = blissful_infra::sources::prometheus::spawn_metrics_source_with_history(
        cfg.clone(),
        vec![ENV.into()],
        Duration::from_secs(30),
        tx,
    );
    let mut backfilled = 0usize;
    let mut first_ts = Vec::new();
    let mut states = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Metrics {
                env,
                version,
                point,
            })) => {
                assert_eq!(env, ENV);
                // Keyed by source, apart from the runtime's own series.
                let (v, source) = blissful_infra::domain::metrics::split_series(&version);
                assert_eq!(source, Some("prometheus"), "{version}");
                first_ts.push(point.ts - source_started);
                if point.ts < source_started - 1_500 {
                    backfilled += 1;
                }
                if point.rps > 0.0 {
                    seen.insert(v.to_string(), point);
                }
            }
            Ok(Some(RuntimeEvent::Source { name, state })) => {
                assert_eq!(name, "prometheus");
                states.push(state);
            }
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) | Err(_) => {
                panic!("no metrics for both versions; states {states:?}, seen {seen:?}")
            }
        }
    }
    // The history came first; the live rounds then report the source healthy.
    while states.last() != Some(&SourceState::Ok) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { state, .. })) => states.push(state),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the source never became Ok: {states:?}"),
        }
    }
    source.abort();
    assert!(
        backfilled >= 2,
        "no history from range queries ({backfilled} old points; {first_ts:?})"
    );
    assert_eq!(states.first(), Some(&SourceState::Connecting), "{states:?}");
    assert_eq!(states.last(), Some(&SourceState::Ok), "{states:?}");
    let (p1, p2) = (&seen["v1"], &seen["v2"]);
    assert!(p1.error_rate < 0.01, "{p1:?}");
    assert!(p2.error_rate > 0.9, "{p2:?}");
    assert!(p1.p95_ms > 0.0 && p1.p95_ms < 1_000.0, "{p1:?}");
    assert!(p1.ts > 0);

    // Analysis on Prometheus data.
    let sample = version_sample(&client, &cfg.queries, ENV, "v1", WINDOW)
        .await
        .unwrap();
    assert!(sample.requests >= 10, "{sample:?}");
    assert!(sample.errors == 0, "{sample:?}");
    assert!(
        sample.p95_ms > 0.0 && sample.p95_ms < 250.0,
        "p95 out of range: {sample:?}"
    );
    assert!(sample.p50_ms <= sample.p95_ms && sample.p95_ms <= sample.p99_ms);

    let thresholds = Thresholds::default();
    let healthy = analyze_versions(&client, &cfg.queries, ENV, "v1", None, WINDOW, &thresholds)
        .await
        .unwrap();
    assert_eq!(
        healthy.verdict.outcome,
        Outcome::Pass,
        "{}",
        healthy.verdict.summary()
    );
    let failing = analyze_versions(
        &client,
        &cfg.queries,
        ENV,
        "v2",
        Some("v1"),
        WINDOW,
        &thresholds,
    )
    .await
    .unwrap();
    assert_eq!(
        failing.verdict.outcome,
        Outcome::Fail,
        "{}",
        failing.verdict.summary()
    );
    let failed: Vec<Metric> = failing.verdict.failed_checks().map(|c| c.metric).collect();
    assert!(failed.contains(&Metric::ErrorRate), "{failed:?}");
    assert!(failing.verdict.canary.errors > 0);
    // Every check carries the PromQL its value came from.
    for c in &failing.verdict.checks {
        assert!(failing.query_for(c.metric).is_some(), "{:?}", c.metric);
    }
    let q = failing.query_for(Metric::ErrorRate).unwrap();
    assert!(
        q.contains("blissful_router_errors_total") && q.contains(r#"version=~"v2""#),
        "{q}"
    );
    // The recorded PromQL is real: Prometheus evaluates it to the error rate.
    let rate = client.instant(q).await.unwrap();
    assert!(rate.iter().any(|s| s.value > 0.9), "{rate:?}");

    // A bad query surfaces the API's own error.
    let err = client.instant("sum(").await.unwrap_err();
    match &err {
        PromError::Api {
            query,
            error_type,
            message,
        } => {
            assert_eq!(query, "sum(");
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"), "{message}");
        }
        other => panic!("expected the API's bad_data error, got {other:?}"),
    }
    assert!(err.to_string().contains("`sum(`"), "{err}");

    traffic.abort();
    router.shutdown().await;
    drop(prom);
}
