//! Logs and events streamed over the socket.

use super::*;

#[tokio::test]
async fn logs_print_recent_lines_with_grep_and_json() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let opts = LogsOptions {
        env: Some("staging".into()),
        tail: 2,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Table, |s| commands::logs(&rt, &opts, &mut s));
    assert_eq!(code, exit::OK);
    let logs = sample_logs();
    let expect: String = [&logs[2], &logs[3]]
        .iter()
        .map(|l| {
            format!(
                "{}\n",
                format_log_line(l, LogStyle { color: false }, &chrono::Local)
            )
        })
        .collect();
    assert_eq!(out, expect);
    assert!(
        out.contains("staging-v1-1 ERROR GET /orders 503 upstream timeout"),
        "{out}"
    );

    let grep = LogsOptions {
        env: None,
        grep: Some(regex::Regex::new("orders 200").unwrap()),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::logs(&rt, &grep, &mut s));
    assert_eq!(code, exit::OK);
    let lines: Vec<LogLine> = serde_json::from_str(&out).unwrap();
    assert_eq!(lines, vec![logs[1].clone(), logs[3].clone()]);

    // --since: the sample lines are from 1970, so the last hour has none.
    let recent = LogsOptions {
        since: Some(std::time::Duration::from_secs(3600)),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::logs(&rt, &recent, &mut s));
    assert_eq!(code, exit::OK);
    let lines: Vec<LogLine> = serde_json::from_str(&out).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
}

#[tokio::test]
async fn logs_follow_streams_new_lines_once() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let opts = LogsOptions {
        env: Some("staging".into()),
        follow: true,
        tail: 1,
        ..LogsOptions::default()
    };
    let runtime = h.runtime.clone();
    let driver = async move {
        eventually("the logs subscription", || runtime.subscriber_count() == 1).await;
        let logs = sample_logs();
        // Already printed from the buffer: must not be printed again.
        runtime.emit(RuntimeEvent::Log {
            line: logs[3].clone(),
        });
        let mut fresh = logs[3].clone();
        fresh.ts = 5_000;
        fresh.text = "GET /orders 201 created".into();
        runtime.emit(RuntimeEvent::Log { line: fresh });
        let mut other = logs[1].clone();
        other.ts = 6_000;
        runtime.emit(RuntimeEvent::Log { line: other });
        runtime.emit(RuntimeEvent::Lagged { count: 3 });
        eventually("the events to be read", || runtime.drained()).await;
        runtime.close_subscribers();
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = {
        let mut s = Streams::new(OutputMode::Json, &mut out, &mut err);
        let (code, ()) = tokio::join!(commands::logs(&rt, &opts, &mut s), driver);
        code
    };
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, exit::OK, "{err}");
    let lines: Vec<LogLine> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|l| &*l.text).collect();
    assert_eq!(
        texts,
        vec!["GET /orders 200", "GET /orders 201 created"],
        "{out}"
    );
    assert!(err.contains("warning: 3 events were lost"), "{err}");
    assert!(err.contains("log stream ended"), "{err}");
}

#[tokio::test]
async fn subscribe_streams_events_in_order() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let mut rx = rt.subscribe().await.unwrap();
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;
    let events: Vec<RuntimeEvent> = (0..50)
        .map(|i| RuntimeEvent::Lagged { count: i + 1 })
        .chain(std::iter::once(RuntimeEvent::Pipeline {
            run: PipelineRun::new(9, PipelineKind::Ci, "staging", "build", &["compile"], 0),
        }))
        .collect();
    for ev in &events {
        h.runtime.emit(ev.clone());
    }
    let mut got = Vec::new();
    while got.len() < events.len() {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(ev);
    }
    // Upstream Lagged events may be merged but never lost, and order holds.
    let lost: u64 = got
        .iter()
        .map(|e| match e {
            RuntimeEvent::Lagged { count } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(lost, (1..=50).sum::<u64>());
    assert!(
        matches!(got.last(), Some(RuntimeEvent::Pipeline { .. })),
        "{got:?}"
    );
    // Dropping the receiver hangs up; the server releases the subscription.
    drop(rx);
    eventually("the server to drop the subscription", || {
        h.runtime.emit(RuntimeEvent::Lagged { count: 1 });
        h.runtime.subscriber_count() == 0
    })
    .await;
}

#[tokio::test]
async fn a_slow_subscriber_gets_lagged_instead_of_unbounded_buffering() {
    let runtime = RecordingRuntime {
        subscriber_capacity: 32_768,
        ..RecordingRuntime::new()
    };
    let h = start(runtime).await;
    let stream = UnixStream::connect(&h.path).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    wr.write_all(
        b"{\"v\":1,\"actor\":{\"user\":\"ana\",\"via\":\"cli\"},\"op\":{\"op\":\"subscribe\"}}\n",
    )
    .await
    .unwrap();
    let mut reader = BufReader::new(rd);
    let mut ack = String::new();
    reader.read_line(&mut ack).await.unwrap();
    assert_eq!(ack, "{\"ok\":null}\n");
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;

    // 20k events of ~500 bytes (10 MB) while the client reads nothing.
    const N: u64 = 20_000;
    let text = "x".repeat(500);
    for i in 0..N {
        let mut line = sample_logs()[0].clone();
        line.ts = i as i64;
        line.text = text.as_str().into();
        h.runtime.emit(RuntimeEvent::Log { line });
    }
    assert_eq!(h.runtime.undelivered.load(Ordering::SeqCst), 0);
    // The server keeps draining the runtime even though the client is stuck.
    eventually("the server to drain the runtime's channel", || {
        h.runtime.drained()
    })
    .await;

    let mut delivered = 0u64;
    let mut lagged = Vec::new();
    let mut line = String::new();
    while delivered + lagged.iter().sum::<u64>() < N {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream ended early");
        match serde_json::from_str::<RuntimeEvent>(&line).unwrap() {
            RuntimeEvent::Lagged { count } => lagged.push(count),
            RuntimeEvent::Log { .. } => delivered += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        delivered + lagged.iter().sum::<u64>(),
        N,
        "every event delivered or counted"
    );
    assert!(!lagged.is_empty(), "a slow client must see Lagged");
    // Bounded: only the per-subscriber queue plus socket buffers got through.
    assert!(delivered < N / 2, "delivered {delivered} of {N}");
}
