//! History queries: labels mapped to columns and paging past the limit.

use super::*;

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
