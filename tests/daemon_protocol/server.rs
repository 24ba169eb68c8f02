//! The server's life: bad requests, shutdown, stale sockets, headless runs.

use super::*;

#[tokio::test]
async fn malformed_requests_get_an_error_and_the_server_keeps_serving() {
    let h = start(RecordingRuntime::new()).await;

    let reply = raw_request(&h.path, b"{not json}\n").await;
    let parsed: Reply<()> = serde_json::from_str(&reply).unwrap();
    match parsed.into_result() {
        Err(RuntimeError::Failed(msg)) => {
            assert!(msg.starts_with("invalid request at column 2: "), "{msg}")
        }
        other => panic!("unexpected {other:?}"),
    }

    let reply = raw_request(
        &h.path,
        b"{\"v\":1,\"actor\":{\"user\":\"a\",\"via\":\"b\"},\"op\":{\"op\":\"fly\"}}\n",
    )
    .await;
    assert!(
        reply.contains("invalid request at column") && reply.contains("unknown variant `fly`"),
        "{reply}"
    );

    // A request line over 1 MiB is refused without reading it all.
    let stream = UnixStream::connect(&h.path).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let big = vec![b'x'; 2 * 1024 * 1024];
        // The server stops reading after 1 MiB, so this write may fail.
        let _ = wr.write_all(&big).await;
    });
    let mut reader = BufReader::new(rd);
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert!(reply.contains("exceeds 1048576 bytes"), "{reply}");
    drop(reader);
    writer.await.unwrap();

    // Still serving.
    let rt = h.remote().await;
    assert_eq!(rt.status().await.unwrap().len(), 2);
}

#[tokio::test]
async fn shutdown_op_stops_the_server_and_the_runtime() {
    let h = start(RecordingRuntime::new()).await;
    let mut requested = h.shutdown_requested.clone();
    let (code, out, err) = run!(OutputMode::Table, |s| commands::down(&h.path, &mut s));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        format!("recording runtime stopped (pid {})\n", std::process::id())
    );
    assert_eq!(h.runtime.shutdowns.load(Ordering::SeqCst), 1);
    tokio::time::timeout(Duration::from_secs(5), requested.wait_for(|v| *v))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!h.path.exists(), "socket file removed");
    assert!(!is_running(&h.path).await);

    let (code, out, _) = run!(OutputMode::Table, |s| commands::down(&h.path, &mut s));
    assert_eq!(code, exit::OK);
    assert_eq!(out, "no sandbox is running\n");
}

#[tokio::test]
async fn external_shutdown_ends_subscriptions_without_stopping_the_runtime() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let mut rx = rt.subscribe().await.unwrap();
    eventually("the subscription", || h.runtime.subscriber_count() == 1).await;
    h.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    assert_eq!(h.runtime.shutdowns.load(Ordering::SeqCst), 0);
    assert!(!h.path.exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    // What a crashed sandbox leaves behind: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let h = start_at(dir, path.clone(), RecordingRuntime::new()).await;
    let rt = h.remote().await;
    assert_eq!(rt.status().await.unwrap().len(), 2);

    let second = ControlServer::bind(
        &path,
        Arc::new(RecordingRuntime::new()),
        ServerInfo::new("recording", "other"),
    )
    .await;
    match second {
        Err(DaemonError::AlreadyRunning { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second server took over a live socket"),
    }
    // The first server still answers.
    assert_eq!(
        RemoteRuntime::connect(&path).await.unwrap().info().project,
        "demo"
    );
}

#[tokio::test]
async fn connecting_without_a_sandbox_gives_the_friendly_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    let err = RemoteRuntime::connect(&path).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no sandbox is running (no control socket at {}); start one with `blissful-infra demo` or `blissful-infra up`",
            path.display()
        )
    );
    let (code, out, err) = run!(OutputMode::Json, |s| async {
        match commands::connect(&path, &mut s).await {
            Ok(_) => exit::OK,
            Err(code) => code,
        }
    });
    assert_eq!(code, exit::UNAVAILABLE);
    assert!(err.starts_with("error: no sandbox is running"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "unavailable");
}

#[tokio::test]
async fn headless_daemon_runs_until_a_shutdown_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    let runtime = Arc::new(RecordingRuntime::new());
    let shared: SharedRuntime = runtime.clone();
    let daemon = tokio::spawn({
        let path = path.clone();
        async move { run_headless(&path, shared, ServerInfo::new("recording", "demo")).await }
    });
    eventually("the daemon's socket", || path.exists()).await;
    let remote = RemoteRuntime::connect(&path).await.unwrap();
    remote.request_shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Stopped exactly once, even though both the op and the daemon stop it.
    assert_eq!(runtime.shutdowns.load(Ordering::SeqCst), 1);
    assert!(!path.exists());
}
