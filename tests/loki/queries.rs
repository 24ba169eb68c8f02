//! Error bodies, hostile lines and labels, and the LogQL Loki receives.

use super::*;

#[tokio::test]
async fn error_bodies_surface_verbatim_and_sanitised() {
    let fake = FakeLoki::start().await;
    let client = LokiClient::new(&cfg(&fake)).unwrap();
    let end = now_ns();
    // LogQL the fake (like Loki) cannot parse: its own words come back.
    let err = client
        .query_range(
            r#"{app="shop"} |= timeout"#,
            end - SEC,
            end,
            10,
            Direction::Backward,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LokiError::Rejected {
            query: r#"{app="shop"} |= timeout"#.into(),
            message: "parse error at line 1, col 17: syntax error: unexpected IDENTIFIER".into(),
        }
    );
    assert!(
        err.to_string().contains("parse error at line 1, col 17"),
        "{err}"
    );

    fake.fail_next(429, "too many outstanding requests\n");
    let err = client
        .query_range(r#"{app="shop"}"#, end - SEC, end, 10, Direction::Backward)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LokiError::RateLimited {
            query: r#"{app="shop"}"#.into(),
            message: "too many outstanding requests".into(),
        }
    );

    fake.fail_next(
        500,
        "rpc error: code = Unavailable\x1b]0;pwned\x07 desc = \x1b[2Jconnection refused\n",
    );
    let err = client
        .query_range(r#"{app="shop"}"#, end - SEC, end, 10, Direction::Backward)
        .await
        .unwrap_err();
    match &err {
        LokiError::Http { status, body, .. } => {
            assert_eq!(*status, 500);
            assert_eq!(
                body,
                "rpc error: code = Unavailable desc = connection refused"
            );
        }
        other => panic!("expected HTTP 500, got {other:?}"),
    }
    assert!(!err.to_string().contains('\x1b'));

    // Too big a page is Loki's own 400 too.
    fake.set_max_limit(50);
    let err = client
        .query_range(r#"{app="shop"}"#, end - SEC, end, 51, Direction::Backward)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LokiError::Rejected { message, .. } if message.contains("(51 > 50)")),
        "{err:?}"
    );

    // The live source reports the error as its degraded reason and retries;
    // it also learns Loki's smaller entries cap (50) instead of failing on it.
    fake.fail_next(429, "too many outstanding requests");
    let (tx, mut rx) = mpsc::channel(16);
    let source = spawn_log_source(cfg(&fake), shop(), LiveOptions::default(), tx);
    let SourceState::Degraded(why) =
        wait_state(&mut rx, |s| matches!(s, SourceState::Degraded(_))).await
    else {
        unreachable!()
    };
    assert!(why.contains("too many outstanding requests"), "{why}");
    wait_state(&mut rx, |s| *s == SourceState::Ok).await;
    let asked: Vec<usize> = fake
        .received()
        .iter()
        .filter(|r| r.endpoint != "ready")
        .map(|r| r.params["limit"].parse().unwrap())
        .collect();
    assert!(
        asked.contains(&1000) && asked.last() == Some(&50),
        "{asked:?}"
    );
    source.abort();
}

#[tokio::test]
async fn hostile_lines_and_labels_are_neutralised() {
    let fake = FakeLoki::start().await;
    let t = now_ns() - 10 * SEC;
    let evil_labels = [
        ("app", "shop".to_string()),
        ("env", "stag\x1b]0;owned\x07ing".to_string()),
        ("instance", "i-1\x1b[2J".to_string()),
    ];
    fake.add([entry(
        t,
        &evil_labels,
        "login ok\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[H\x1b[32mgreen\x1b[0m\x1b[8mhidden\r\nnext\u{9b}31m",
    )]);
    let (tx, mut rx) = mpsc::channel(16);
    let source = spawn_log_source(cfg(&fake), shop(), LiveOptions::default(), tx);
    let mut states = Vec::new();
    let line = next_line(&mut rx, &mut states).await;
    assert_eq!(&*line.text, "login ok\x1b[32mgreen\x1b[0mhidden\\nnext");
    assert_eq!(&*line.env, "staging");
    assert_eq!(&*line.instance, "i-1");
    fake.wait_open_tails(1).await;
    fake.push(vec![entry(
        now_ns(),
        &evil_labels,
        "\x1bc\x1b[?1049hreset\x07",
    )]);
    assert_eq!(&*next_line(&mut rx, &mut states).await.text, "reset");
    source.abort();
}

#[tokio::test]
async fn the_built_logql_is_what_loki_receives_and_selects_right() {
    let fake = FakeLoki::start().await;
    let t = now_ns() - 20 * SEC;
    let env = "prod \"eu\"} or {app=~\".+";
    let mk = |env: &str, version: &str, level: &str, line: &str, dt: i64| {
        entry(
            t + dt * SEC,
            &[
                ("app", "shop".into()),
                ("env", env.into()),
                ("version", version.into()),
                ("level", level.into()),
            ],
            line,
        )
    };
    fake.add([
        mk(env, "v2.1", "error", "upstream timeout after 3s", 0),
        mk(env, "v2.1", "warn", "timeout [retrying]", 1),
        mk(env, "v2.1", "info", "timeout ok", 2),
        mk(env, "v2.1", "error", "connection reset", 3),
        mk(env, "v2x1", "error", "timeout elsewhere", 4),
        mk("staging", "v2.1", "error", "timeout in staging", 5),
    ]);
    let filter = LogQuery {
        env: Some(env.into()),
        version: Some("v2.1".into()),
        min_level: Some(Level::Warn),
        grep: Some(r"time(out)? (after|\[)".into()),
        ..shop()
    };
    let c = cfg(&fake);
    let expected = logql::build(&c, &filter).unwrap();
    assert_eq!(
        expected,
        r#"{app="shop", env="prod \"eu\"} or {app=~\".+", version="v2.1"} |~ "time(out)? (after|\\[)" | level=~"(?i)(warn|warning|error|err|fatal|critical|crit|panic)""#
    );
    let lines = history(&c, &filter, Duration::from_secs(300), 100)
        .await
        .unwrap();
    assert_eq!(fake.received_at("query_range")[0].params["query"], expected);
    let texts: Vec<&str> = lines.iter().map(|l| &*l.text).collect();
    assert_eq!(texts, ["upstream timeout after 3s", "timeout [retrying]"]);
    assert!(lines
        .iter()
        .all(|l| &*l.env == env && &*l.version == "v2.1"));

    // The tail gets the same query.
    let (tx, mut rx) = mpsc::channel(16);
    let source = spawn_log_source(c, filter, LiveOptions::default(), tx);
    wait_state_any(&mut rx, |s| *s == SourceState::Ok).await;
    assert_eq!(fake.received_at("tail")[0].params["query"], expected);
    source.abort();
}

#[tokio::test]
async fn bad_filters_and_config_fail_once_without_retrying() {
    let fake = FakeLoki::start().await;
    let (tx, mut rx) = mpsc::channel(16);
    let source = spawn_log_source(
        cfg(&fake),
        LogQuery {
            grep: Some("(unclosed".into()),
            ..shop()
        },
        LiveOptions::default(),
        tx,
    );
    let SourceState::Degraded(why) =
        wait_state(&mut rx, |s| matches!(s, SourceState::Degraded(_))).await
    else {
        unreachable!()
    };
    assert!(why.contains("(unclosed"), "{why}");
    tokio::time::timeout(Duration::from_secs(5), source)
        .await
        .expect("a configuration error ends the source")
        .unwrap();
    assert!(fake.received().is_empty(), "nothing sent to Loki");
}
