//! The real binary's `logs` command and the console's stream read Loki.

use super::*;

/// The real binary: `logs --env staging --since 15m --grep timeout` reads
/// Loki when `loki.url` is set, needs no sandbox, and prints the pane's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_command_reads_loki_with_since_and_grep() {
    let fake = FakeLoki::start().await;
    let now = now_ns();
    let st = [
        ("app", "shop"),
        ("env", "staging"),
        ("version", "v2"),
        ("instance", "web-1"),
    ];
    fake.add([
        FakeEntry::new(
            now - 3600 * SEC,
            &st,
            "level=error upstream timeout (an hour ago)",
        ),
        FakeEntry::new(
            now - 60 * SEC,
            &st,
            "level=error upstream timeout after 3000ms",
        ),
        FakeEntry::new(now - 30 * SEC, &st, "level=info GET /hello 200"),
        FakeEntry::new(
            now - 20 * SEC,
            &[
                ("app", "shop"),
                ("env", "production"),
                ("version", "v1"),
                ("instance", "web-9"),
            ],
            "level=error upstream timeout in production",
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("blissful-infra.yaml");
    std::fs::write(
        &cfg_path,
        format!(
            "project: shop\nloki:\n  url: {}\n  timeout_ms: 2000\n",
            fake.url()
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_blissful-infra"))
        .args([
            "logs", "--env", "staging", "--since", "15m", "--grep", "timeout",
        ])
        .arg("--config")
        .arg(&cfg_path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("web-1"), "{stdout}");
    assert!(lines[0].contains("ERROR"), "{stdout}");
    assert!(
        lines[0].contains("upstream timeout after 3000ms"),
        "{stdout}"
    );
    // The filter went to Loki as LogQL, not only applied locally.
    let queries = fake.received_at("query_range");
    assert!(
        queries.iter().any(|r| format!("{r:?}").contains("timeout")),
        "{queries:?}"
    );

    // --source loki without a URL is refused, pointing at the setting.
    std::fs::write(&cfg_path, "project: shop\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_blissful-infra"))
        .args(["logs", "--source", "loki", "--config"])
        .arg(&cfg_path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loki.url"));
}

/// The console's Loki stream follows the Logs pane's settled filter: after
/// a refilter the tail Loki serves asks for that environment and regex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_stream_refilters_with_the_pane() {
    let fake = FakeLoki::start().await;
    let mut config = Config {
        project: "shop".into(),
        ..Config::default()
    };
    config.loki = cfg(&fake);
    let (tx, _rx) = mpsc::channel(1024);
    let mut logs = blissful_infra::app::jobs::ExternalLogs::start(&config, tx);
    fake.wait_open_tails(1).await;
    logs.refilter(Some("staging".into()), Some("timeout".into()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tails = fake.received_at("tail");
        let last = tails.last().and_then(|r| r.params.get("query").cloned());
        if let Some(q) = last.filter(|q| q.contains("timeout")) {
            assert!(q.contains(r#"env="staging""#), "{q}");
            assert!(q.contains(r#"app="shop""#), "{q}");
            break;
        }
        assert!(Instant::now() < deadline, "no refiltered tail: {tails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(logs);
}
