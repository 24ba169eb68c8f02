//! The Loki source against a fake Loki (tests/support/fake_loki.rs): Loki
//! itself cannot run on the test machines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use blissful_infra::config::{Config, LokiConfig, PrometheusQueries};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::runtime::{RuntimeEvent, SourceState};
use blissful_infra::sources::loki::{
    history, logql, spawn_log_source, Direction, LiveOptions, LogQuery, LokiClient, LokiError,
    TailStream,
};
use support::fake_loki::{FakeEntry, FakeLoki};
use tokio::sync::mpsc;

const SEC: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

fn cfg(fake: &FakeLoki) -> LokiConfig {
    LokiConfig {
        url: fake.url(),
        timeout_ms: 2_000,
        ..Default::default()
    }
}

fn shop() -> LogQuery {
    LogQuery {
        project: "shop".into(),
        ..Default::default()
    }
}

fn staging(version: &str, instance: &str) -> Vec<(&'static str, String)> {
    vec![
        ("app", "shop".into()),
        ("env", "staging".into()),
        ("version", version.into()),
        ("instance", instance.into()),
    ]
}

fn entry(ts_ns: i64, labels: &[(&str, String)], line: &str) -> FakeEntry {
    let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    FakeEntry::new(ts_ns, &l, line)
}

/// The next event that is not a state change, collecting states on the way.
async fn next_event(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    states: &mut Vec<SourceState>,
) -> RuntimeEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { name, state })) => {
                assert_eq!(name, "loki");
                states.push(state);
            }
            Ok(Some(ev)) => return ev,
            other => panic!("no event within 10 s: {other:?}; states so far {states:?}"),
        }
    }
}

async fn next_line(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    states: &mut Vec<SourceState>,
) -> LogLine {
    match next_event(rx, states).await {
        RuntimeEvent::Log { line } => line,
        other => panic!("expected a log line, got {other:?}"),
    }
}

/// Wait for a state matching `want`.
async fn wait_state(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    want: impl Fn(&SourceState) -> bool,
) -> SourceState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { state, .. })) if want(&state) => return state,
            Ok(Some(RuntimeEvent::Source { .. })) => {}
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            other => panic!("state not reached: {other:?}"),
        }
    }
}

/// Wait for a state matching `want`, ignoring other events.
async fn wait_state_any(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    want: impl Fn(&SourceState) -> bool,
) -> SourceState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { state, .. })) if want(&state) => return state,
            Ok(Some(_)) => {}
            other => panic!("state not reached: {other:?}"),
        }
    }
}

#[tokio::test]
async fn history_maps_labels_to_columns() {
    let fake = FakeLoki::start().await;
    let t = now_ns() - 60 * SEC;
    let prod = [
        ("app", "shop".to_string()),
        ("env", "production".to_string()),
        ("version", "v1".to_string()),
        ("pod", "shop-5c7d-abcde".to_string()),
    ];
    fake.add([
        entry(
            t,
            &[staging("v1", "shop-1"), vec![("level", "info".into())]].concat(),
            "GET /cart 200 12ms",
        ),
        entry(
            t + 2 * SEC,
            &staging("v2", "shop-2"),
            r#"{"level":"error","msg":"upstream timeout","path":"/pay"}"#,
        ),
        entry(t + SEC, &prod, "level=warn msg=\"disk 91%\""),
        entry(
            t + 3 * SEC,
            &staging("v2", "shop-2"),
            "ts=1 lvl=debug msg=tick",
        ),
        // Another project: not selected.
        entry(
            t + 4 * SEC,
            &[("app", "other".into()), ("env", "staging".into())],
            "nope",
        ),
        // Older than the window.
        entry(t - 3_600 * SEC, &staging("v1", "shop-1"), "too old"),
    ]);
    let mut c = cfg(&fake);
    c.auth_header = "Bearer sekrit".into();
    c.tenant = "team-a".into();
    let lines = history(&c, &shop(), Duration::from_secs(15 * 60), 100)
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str, Level, &str)> = lines
        .iter()
        .map(|l| (&*l.env, &*l.version, &*l.instance, l.level, &*l.text))
        .collect();
    assert_eq!(
        got,
        vec![
            ("staging", "v1", "shop-1", Level::Info, "GET /cart 200 12ms"),
            (
                "production",
                "v1",
                "shop-5c7d-abcde",
                Level::Warn,
                "level=warn msg=\"disk 91%\""
            ),
            (
                "staging",
                "v2",
                "shop-2",
                Level::Error,
                r#"{"level":"error","msg":"upstream timeout","path":"/pay"}"#
            ),
            (
                "staging",
                "v2",
                "shop-2",
                Level::Debug,
                "ts=1 lvl=debug msg=tick"
            ),
        ],
        "oldest first, one line per entry of the project in the window"
    );
    assert_eq!(lines[0].ts, t / 1_000_000);
    assert_eq!(lines[1].ts, (t + SEC) / 1_000_000);
    let q = &fake.received_at("query_range")[0];
    assert_eq!(q.authorization.as_deref(), Some("Bearer sekrit"));
    assert_eq!(q.tenant.as_deref(), Some("team-a"));
    assert_eq!(q.params["query"], r#"{app="shop"}"#);
    assert_eq!(q.params["direction"], "backward");
    let (start, end): (i64, i64) = (
        q.params["start"].parse().unwrap(),
        q.params["end"].parse().unwrap(),
    );
    assert!((end - start - 15 * 60 * SEC).abs() < SEC, "{start}..{end}");

    // The labels endpoint and readiness go through the same client.
    let client = LokiClient::new(&c).unwrap();
    client.ready().await.unwrap();
    let names = client.labels(t - SEC, now_ns()).await.unwrap();
    assert!(
        ["app", "env", "instance", "pod", "version"]
            .iter()
            .all(|n| names.iter().any(|x| x == n)),
        "{names:?}"
    );
}

#[tokio::test]
async fn paging_across_the_limit_returns_each_entry_once() {
    let fake = FakeLoki::start().await;
    // Loki refuses bigger pages than this, so one request cannot cheat.
    fake.set_max_limit(100);
    let t0 = now_ns() - 120 * SEC;
    // 250 entries in two streams; pairs share a timestamp so page edges fall
    // on timestamps with several entries.
    let mut want = Vec::new();
    for i in 0..250i64 {
        let ts = t0 + (i / 2) * 1_000_000;
        let instance = if i % 2 == 0 { "shop-1" } else { "shop-2" };
        let line = format!("request {i:03}");
        fake.add([entry(ts, &staging("v1", instance), &line)]);
        want.push(line);
    }
    let mut c = cfg(&fake);
    c.page_limit = 100;
    let lines = history(&c, &shop(), Duration::from_secs(600), 1_000)
        .await
        .unwrap();
    let got: Vec<&str> = lines.iter().map(|l| &*l.text).collect();
    let mut sorted_want: Vec<&str> = want.iter().map(String::as_str).collect();
    sorted_want.sort();
    let mut sorted_got = got.clone();
    sorted_got.sort();
    assert_eq!(sorted_got, sorted_want, "every entry exactly once");
    assert!(lines.windows(2).all(|w| w[0].ts <= w[1].ts), "oldest first");
    let requests = fake.received_at("query_range");
    assert!(requests.len() >= 3, "{} requests", requests.len());
    assert!(requests
        .iter()
        .all(|r| r.params["limit"].parse::<usize>().unwrap() <= 100));

    // A bound smaller than the data: the newest ones.
    let newest = history(&c, &shop(), Duration::from_secs(600), 120)
        .await
        .unwrap();
    assert_eq!(newest.len(), 120);
    assert_eq!(newest.last().unwrap().ts, lines.last().unwrap().ts);
    let newest_texts: BTreeSet<&str> = newest.iter().map(|l| &*l.text).collect();
    assert_eq!(newest_texts.len(), 120);
    assert!(newest_texts.contains("request 249") && !newest_texts.contains("request 129"));

    // Forward paging through the client.
    let client = LokiClient::new(&c).unwrap();
    let paged = client
        .query_range_paged(r#"{app="shop"}"#, t0, now_ns(), Direction::Forward, 1_000)
        .await
        .unwrap();
    assert!(paged.complete);
    assert_eq!(paged.entries.len(), 250);
    assert!(paged.entries.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    let partial = client
        .query_range_paged(r#"{app="shop"}"#, t0, now_ns(), Direction::Forward, 150)
        .await
        .unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.entries.len(), 150);
    assert_eq!(partial.entries[149].line, "request 149");

    // More entries at one nanosecond than fit in a page: the read moves on
    // and says it is incomplete instead of looping or claiming all.
    let crowded = FakeLoki::start().await;
    let ts = now_ns() - SEC;
    crowded.add((0..5).map(|i| entry(ts, &staging("v1", "shop-1"), &format!("same ns {i}"))));
    crowded.add([entry(ts + 1, &staging("v1", "shop-1"), "after")]);
    let tiny = LokiClient::new(&LokiConfig {
        page_limit: 2,
        ..cfg(&crowded)
    })
    .unwrap();
    let paged = tiny
        .query_range_paged(
            r#"{app="shop"}"#,
            ts - SEC,
            now_ns(),
            Direction::Forward,
            100,
        )
        .await
        .unwrap();
    assert!(!paged.complete);
    let lines: Vec<&str> = paged.entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["same ns 0", "same ns 1", "after"]);
}

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

#[test]
fn config_section_is_validated_and_documented() {
    let bad = Config::from_yaml_str(
        "loki:\n  url: localhost:3100\n  timeout_ms: 0\n  page_limit: 0\n  labels:\n    env: deployment-env\n",
        "test.yaml",
    )
    .unwrap_err()
    .to_string();
    for field in [
        "loki.url",
        "loki.timeout_ms",
        "loki.page_limit",
        "loki.labels.env",
    ] {
        assert!(bad.contains(field), "{field} not named in: {bad}");
    }
    let ok = Config::from_yaml_str(
        "loki:\n  url: https://loki.example:3100\n  tenant: team-a\n  tls:\n    ca_file: /etc/ssl/loki-ca.pem\n  labels:\n    instance: pod\n",
        "test.yaml",
    )
    .unwrap();
    assert_eq!(ok.loki.url, "https://loki.example:3100");
    assert_eq!(ok.loki.tenant, "team-a");
    assert_eq!(ok.loki.tls.ca_file, "/etc/ssl/loki-ca.pem");
    assert!(!ok.loki.tls.insecure_skip_verify);
    assert_eq!(ok.loki.labels.instance, "pod");
    assert_eq!(ok.loki.labels.env, "env");
    assert_eq!(ok.loki.selector, "{}");
    assert!(Config::default().loki.url.is_empty());

    // The README's complete example parses, loki section included, and the
    // LogQL the README shows is what the builder makes.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```yaml\nproject:")
        .expect("README config example");
    let body = &readme[start + "```yaml\n".len()..];
    let yaml = &body[..body.find("```").unwrap()];
    let cfg = Config::from_yaml_str(yaml, "README.md").unwrap();
    assert_eq!(cfg.loki.timeout_ms, 5000);
    let shown = logql::build(
        &cfg.loki,
        &LogQuery {
            project: cfg.project.clone(),
            env: Some("staging".into()),
            version: Some("v2".into()),
            min_level: Some(Level::Warn),
            grep: Some("timeout".into()),
        },
    )
    .unwrap();
    assert!(readme.contains(&shown), "README does not show `{shown}`");
    // The README's table of default PromQL is the defaults, word for word.
    let q = PrometheusQueries::default();
    for (name, promql) in [
        ("request_rate", &q.request_rate),
        ("error_rate", &q.error_rate),
        ("p50", &q.p50),
        ("p95", &q.p95),
        ("p99", &q.p99),
        ("cpu", &q.cpu),
        ("memory", &q.memory),
        ("requests", &q.requests),
        ("errors", &q.errors),
    ] {
        assert!(
            readme.contains(&format!("`{promql}`")),
            "README does not list the default `{name}`: {promql}"
        );
    }
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
