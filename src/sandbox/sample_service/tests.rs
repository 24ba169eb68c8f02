//! Unit tests of the sample service.
#![cfg(test)] // test code only

use super::growth::*;
use super::http::*;
use super::*;

fn state(cap: usize) -> (Arc<SampleServiceState>, LogReceiver) {
    let (sink, rx) = LogSink::new(64);
    (
        SampleServiceState::with_event_capacity(SampleServiceOptions::new(0, "v1"), sink, cap),
        rx,
    )
}

#[test]
fn route_labels_are_bounded() {
    assert_eq!(route_label("/hello/bob"), "/hello/{name}");
    assert_eq!(route_label("/hello/"), "unmatched");
    assert_eq!(route_label("/hello/a/b"), "unmatched");
    assert_eq!(route_label("/etc/passwd"), "unmatched");
    assert_eq!(route_label("/metrics"), "/metrics");
    assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
}

#[test]
fn uuid_layout() {
    let id = random_uuid();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12]
    );
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    assert_ne!(random_uuid(), id);
}

#[test]
fn request_ids_from_callers_are_filtered() {
    let mut h = HeaderMap::new();
    h.insert("x-request-id", HeaderValue::from_static("abc-123"));
    assert_eq!(request_id_from(&h), "abc-123");
    h.insert("x-request-id", HeaderValue::from_static("bad id\"{"));
    let id = request_id_from(&h);
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn growth_step_respects_rate_and_cap() {
    let (b, c) = growth_step(0, 0.0, 1000.5, 1 << 20);
    assert_eq!(b, 1000);
    assert!((c - 0.5).abs() < 1e-9);
    let (b, c) = growth_step(0, c, 1000.5, 1 << 20);
    assert_eq!(b, 1001);
    assert!(c.abs() < 1e-9);
    let (b, _) = growth_step((1 << 20) - 10, 0.0, 1000.0, 1 << 20);
    assert_eq!(b, 10);
    let (b, c) = growth_step(1 << 20, 0.0, 1000.0, 1 << 20);
    assert_eq!((b, c), (0, 0.0));
    assert_eq!(touch_alloc(10_000).len(), 10_000);
}

#[test]
fn options_are_normalized() {
    let mut o = SampleServiceOptions::new(1, "v");
    o.error_rate = 7.0;
    o.memory_growth_mib_per_min = f64::NAN;
    let o = o.normalized();
    assert_eq!(o.error_rate, 1.0);
    assert_eq!(o.memory_growth_mib_per_min, 0.0);
    let args = SampleServiceArgs {
        port: 5,
        version: "v2".into(),
        instance: Some("i-1".into()),
        latency_ms: 3,
        error_rate: -1.0,
        memory_growth_mib_per_min: 2.0,
    };
    let o = args.into_options();
    assert_eq!(
        (o.port, o.instance.as_str(), o.latency_ms, o.error_rate),
        (5, "i-1", 3, 0.0)
    );
}

#[tokio::test]
async fn lagging_subscriber_skips_and_counts() {
    let (st, _logs) = state(4);
    let mut rx = st.events.subscribe();
    for i in 0..10 {
        st.publish(&DomainEvent::greeting(&format!("n{i}"), "m"));
    }
    let first = next_event(&mut rx, &st).await.unwrap();
    let ev: DomainEvent = serde_json::from_str(&first).unwrap();
    // Capacity 4 keeps the last four (n6..n9); six were skipped.
    assert_eq!(ev.aggregate_id, "n6");
    assert_eq!(st.events_skipped(), 6);
}

#[tokio::test]
async fn log_writer_batches_reports_drops_and_stops() {
    let (sink, rx) = LogSink::new(2);
    sink.emit("a".into());
    sink.emit("b".into());
    sink.emit("c".into()); // buffer full: dropped and counted
    assert_eq!(sink.dropped(), 1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(rx.write_until(server, stop_rx));
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while got.matches('\n').count() < 3 {
        let n = tokio::io::AsyncReadExt::read(&mut client, &mut buf)
            .await
            .unwrap();
        assert!(n > 0);
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    let lines: Vec<&str> = got.lines().collect();
    assert!(
        lines[0].contains("log lines dropped") && lines[0].contains("\"count\":1"),
        "{got}"
    );
    assert_eq!(&lines[1..], &["a", "b"]);
    stop_tx.send_replace(true);
    task.await.unwrap().unwrap();
    drop(sink);
}

#[tokio::test]
async fn memory_growth_allocates_and_stops() {
    let (sink, _rx) = LogSink::new(16);
    let mut o = SampleServiceOptions::new(0, "leaky");
    o.memory_growth_mib_per_min = 240.0; // 1 MiB per 250 ms tick
    let st = SampleServiceState::new(o, sink);
    let task = spawn_memory_growth(st.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while st.leaked_bytes() < (1 << 20) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(st.leaked_bytes() >= 1 << 20);
    st.begin_shutdown();
    task.await.unwrap();
    assert_eq!(st.leaked_bytes(), 0);
    let none = SampleServiceState::new(SampleServiceOptions::new(0, "v"), LogSink::new(1).0);
    assert!(spawn_memory_growth(none).is_none());
}
