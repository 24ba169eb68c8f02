//! The live tail: resuming without duplicates, lagging, timeouts and the
//! keepalive that notices a silent tail.

use super::*;

#[tokio::test]
async fn tail_delivers_live_lines_and_resumes_without_duplicates() {
    let fake = FakeLoki::start().await;
    let t = now_ns() - 30 * SEC;
    let labels = staging("v2", "shop-2");
    fake.add((0..3).map(|i| entry(t + i * SEC, &labels, &format!("history {i}"))));
    let (tx, mut rx) = mpsc::channel(256);
    let source = spawn_log_source(
        cfg(&fake),
        LogQuery {
            env: Some("staging".into()),
            ..shop()
        },
        LiveOptions {
            since: Duration::from_secs(300),
            history_limit: 100,
        },
        tx,
    );
    let mut states = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_line(&mut rx, &mut states).await.text.to_string());
    }
    assert_eq!(seen, ["history 0", "history 1", "history 2"]);
    fake.wait_open_tails(1).await;
    // The tail was opened from the last line delivered.
    let tails = fake.received_at("tail");
    assert_eq!(tails[0].params["start"], (t + 2 * SEC).to_string());
    assert_eq!(tails[0].params["query"], r#"{app="shop", env="staging"}"#);

    let live = |i: i64| entry(now_ns() + i, &labels, &format!("live {i}"));
    let (live1, live2) = (live(1), live(2));
    fake.push(vec![live1, live2.clone()]);
    seen.push(next_line(&mut rx, &mut states).await.text.to_string());
    seen.push(next_line(&mut rx, &mut states).await.text.to_string());
    assert_eq!(&seen[3..], ["live 1", "live 2"]);
    assert_eq!(states, [SourceState::Connecting, SourceState::Ok]);

    // Loki goes away; lines keep being written meanwhile.
    let before = fake.received_at("query_range").len();
    fake.drop_tails().await;
    fake.push(vec![live(3), live(4)]);
    let degraded = wait_state(&mut rx, |s| matches!(s, SourceState::Degraded(_))).await;
    let SourceState::Degraded(why) = degraded else {
        unreachable!()
    };
    assert!(why.starts_with("Loki tail:"), "{why}");
    let mut after = Vec::new();
    while after.len() < 2 {
        after.push(next_line(&mut rx, &mut states).await.text.to_string());
    }
    assert_eq!(after, ["live 3", "live 4"]);
    fake.wait_open_tails(1).await;
    // It caught up from the last line it had delivered, then tailed again.
    let catch_up = &fake.received_at("query_range")[before..];
    assert!(!catch_up.is_empty());
    assert_eq!(catch_up[0].params["direction"], "forward");
    assert_eq!(catch_up[0].params["start"], live2.ts_ns.to_string());
    let tails = fake.received_at("tail");
    assert_eq!(tails.len(), 2, "{tails:?}");
    let resumed: i64 = tails[1].params["start"].parse().unwrap();
    assert!(resumed > live2.ts_ns, "tailed again from {resumed}");

    fake.push(vec![live(5)]);
    assert_eq!(&*next_line(&mut rx, &mut states).await.text, "live 5");
    // Nothing arrives twice, even after the replay of the new tail.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            RuntimeEvent::Source { state, .. } => states.push(state),
            other => panic!("duplicate or stray event {other:?}"),
        }
    }
    assert_eq!(states.last(), Some(&SourceState::Ok), "{states:?}");
    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), source)
        .await
        .expect("source did not stop after its receiver went away")
        .unwrap();
}

#[tokio::test]
async fn dropped_entries_and_a_full_channel_become_lagged() {
    let fake = FakeLoki::start().await;
    let (tx, mut rx) = mpsc::channel(4);
    let source = spawn_log_source(
        cfg(&fake),
        shop(),
        LiveOptions {
            since: Duration::from_secs(60),
            history_limit: 0,
        },
        tx,
    );
    let mut states = Vec::new();
    wait_state(&mut rx, |s| *s == SourceState::Ok).await;
    fake.wait_open_tails(1).await;
    let labels = staging("v1", "shop-1");
    fake.push_dropped(vec![
        entry(now_ns(), &labels, "x"),
        entry(now_ns() + 1, &labels, "y"),
        entry(now_ns() + 2, &labels, "z"),
    ]);
    assert_eq!(
        next_event(&mut rx, &mut states).await,
        RuntimeEvent::Lagged { count: 3 }
    );

    // 40 lines into a channel of 4 that nobody reads: 4 arrive, the rest is
    // counted and reported once there is room.
    let base = now_ns();
    fake.push(
        (0..40)
            .map(|i| entry(base + i, &labels, &format!("burst {i}")))
            .collect(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lines = 0u64;
    let mut lagged = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines + lagged < 40 {
        assert!(Instant::now() < deadline, "lines {lines} lagged {lagged}");
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(RuntimeEvent::Log { .. })) => lines += 1,
            Ok(Some(RuntimeEvent::Lagged { count })) => lagged += count,
            Ok(Some(RuntimeEvent::Source { state, .. })) => states.push(state),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(lines + lagged, 40);
    assert_eq!(lines, 4, "the channel held 4");
    source.abort();
}

#[tokio::test]
async fn slow_loki_times_out_as_degraded_not_a_hang() {
    let fake = FakeLoki::start().await;
    fake.set_delay(Duration::from_secs(5));
    let c = LokiConfig {
        timeout_ms: 300,
        ..cfg(&fake)
    };
    let started = Instant::now();
    let err = history(&c, &shop(), Duration::from_secs(60), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LokiError::Timeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let (tx, mut rx) = mpsc::channel(16);
    let source = spawn_log_source(c.clone(), shop(), LiveOptions::default(), tx);
    let started = Instant::now();
    let SourceState::Degraded(why) =
        wait_state(&mut rx, |s| matches!(s, SourceState::Degraded(_))).await
    else {
        unreachable!()
    };
    assert!(
        why.contains("within 300 ms") && why.contains(&fake.url()),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!source.is_finished(), "keeps retrying");

    // The tail's handshake is bounded the same way.
    let (tx, mut rx) = mpsc::channel(16);
    let tail_only = spawn_log_source(
        c,
        shop(),
        LiveOptions {
            history_limit: 0,
            ..Default::default()
        },
        tx,
    );
    let SourceState::Degraded(why) =
        wait_state(&mut rx, |s| matches!(s, SourceState::Degraded(_))).await
    else {
        unreachable!()
    };
    assert!(why.contains("within 300 ms"), "{why}");
    assert!(!fake.received_at("tail").is_empty());
    source.abort();
    tail_only.abort();
}

#[tokio::test]
async fn a_silent_tail_is_noticed_by_its_keepalive() {
    // A WebSocket server that accepts the tail and then never reads again,
    // like a peer behind a dead connection: pings go unanswered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let c = LokiConfig {
        url: format!("http://{addr}"),
        timeout_ms: 2_000,
        ..Default::default()
    };
    let client = LokiClient::new(&c).unwrap();
    let mut tail = TailStream::open(&client, r#"{app="shop"}"#, now_ns(), 10)
        .await
        .unwrap()
        .keepalive(Duration::from_millis(200), Duration::from_millis(300));
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(5), tail.next())
        .await
        .expect("the keepalive did not notice the silent peer")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no answer to a ping within 300 ms"),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    server.abort();

    // Loki (here the fake) answers pings: a quiet tail stays open.
    let fake = FakeLoki::start().await;
    let client = LokiClient::new(&cfg(&fake)).unwrap();
    let mut tail = TailStream::open(&client, r#"{app="shop"}"#, now_ns(), 10)
        .await
        .unwrap()
        .keepalive(Duration::from_millis(100), Duration::from_millis(500));
    assert!(
        tokio::time::timeout(Duration::from_millis(800), tail.next())
            .await
            .is_err(),
        "a quiet but healthy tail must not fail"
    );
    fake.push(vec![entry(
        now_ns(),
        &staging("v1", "shop-1"),
        "still here",
    )]);
    let frame = tokio::time::timeout(Duration::from_secs(5), tail.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.entries[0].line, "still here");
}
