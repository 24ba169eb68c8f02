//! The traffic generator and /proc sampling.

use super::*;

#[tokio::test]
async fn traffic_generator_feeds_the_router() {
    let svc = start_service(opts("v1")).await;
    let router = start_router("t").await;
    router.set_backends("v1", vec![svc.addr]);
    router.set_split(Some("v1"), None, 0);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (task, stats) = TrafficGenerator::spawn_with_stats(
        router.addr(),
        200.0,
        vec!["/hello".into(), "/health".into()],
        rx,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().ok < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("generator did not stop")
        .unwrap();
    let s = stats.snapshot();
    assert!(s.ok >= 20, "{s:?}");
    assert_eq!(s.failed + s.server_errors, 0, "{s:?}");
    let w = router.take_window();
    assert!(w["v1"].requests >= s.ok, "{:?} vs {s:?}", w["v1"]);
    // Both paths were used.
    let m = scrape(svc.addr).await;
    assert!(find(&m, "http_requests_total", &[("path", "/hello")]).unwrap() >= 1.0);
    assert!(find(&m, "http_requests_total", &[("path", "/health")]).unwrap() >= 1.0);
    router.shutdown().await;
}

#[test]
fn procstat_reads_own_process() {
    let mut s = ProcSampler::new();
    let sample = s.sample(std::process::id()).expect("own pid readable");
    assert!(sample.rss_mib > 0.0);
    assert!(sample.cpu_pct >= 0.0);
}
