//! The Prometheus source against a real Prometheus scraping the real sandbox
//! router. Needs the `prometheus` binary (scripts/test.sh installs it); the
//! test fails, rather than skipping, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use blissful_infra::config::{Config, PrometheusConfig};
use blissful_infra::domain::analysis::{Metric, Outcome, Thresholds};
use blissful_infra::runtime::{RuntimeEvent, SourceState};
use blissful_infra::sandbox::router::{RouterConfig, RouterHandle};
use blissful_infra::sources::prometheus::{
    analyze_versions, spawn_metrics_source, version_sample, PromError, PrometheusClient,
};
use tokio::sync::mpsc;

mod support;

use support::prometheus::{free_port, start_prometheus};

const ENV: &str = "promtest";
const WINDOW: Duration = Duration::from_secs(10);

/// Wait until `query` returns a sample for which `ok` holds.
async fn wait_for(
    client: &PrometheusClient,
    query: &str,
    what: &str,
    ok: impl Fn(&[blissful_infra::sources::prometheus::Sample]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = client.instant(query).await;
        if let Ok(s) = &last {
            if ok(s) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last answer to `{query}`: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn backend(status: StatusCode) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(get(move || async move { (status, "hello") }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn prom_config(url: &str) -> PrometheusConfig {
    PrometheusConfig {
        url: url.to_string(),
        timeout_ms: 2_000,
        step_secs: 1,
        window_secs: WINDOW.as_secs(),
        ..Default::default()
    }
}

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

#[tokio::test]
async fn unreachable_prometheus_is_reported_degraded() {
    // A port nothing listens on.
    let url = format!("http://127.0.0.1:{}", free_port());
    let (tx, mut rx) = mpsc::channel(64);
    let source = spawn_metrics_source(
        PrometheusConfig {
            timeout_ms: 500,
            ..prom_config(&url)
        },
        vec!["staging".into()],
        tx,
    );
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(states.last(), Some(SourceState::Degraded(_))) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(RuntimeEvent::Source { name, state })) => {
                assert_eq!(name, "prometheus");
                states.push(state);
            }
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) | Err(_) => panic!("no Degraded state; got {states:?}"),
        }
    }
    assert_eq!(states[0], SourceState::Connecting);
    let Some(SourceState::Degraded(why)) = states.last() else {
        unreachable!()
    };
    assert!(why.contains(&url), "{why}");
    // The task keeps retrying (with backoff) instead of ending or panicking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!source.is_finished());
    // Closing the channel ends it.
    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), source)
        .await
        .expect("source did not stop after its receiver went away")
        .unwrap();
}

#[test]
fn config_section_is_validated_and_documented() {
    let bad = Config::from_yaml_str(
        "prometheus:\n  url: localhost:9090\n  timeout_ms: 0\n  step_secs: 0\n",
        "test.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("prometheus.url"), "{bad}");
    assert!(bad.contains("prometheus.timeout_ms"), "{bad}");
    assert!(bad.contains("prometheus.step_secs"), "{bad}");
    let ok = Config::from_yaml_str(
        "prometheus:\n  url: https://prom.example:9090/prefix\n  auth_header: Bearer x\n",
        "test.yaml",
    )
    .unwrap();
    assert_eq!(ok.prometheus.url, "https://prom.example:9090/prefix");
    assert_eq!(ok.prometheus.step_secs, 5);
    assert!(Config::default().prometheus.url.is_empty());

    // The README's complete example parses, prometheus section included.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```yaml\nproject:")
        .expect("README config example");
    let body = &readme[start + "```yaml\n".len()..];
    let yaml = &body[..body.find("```").unwrap()];
    let cfg = Config::from_yaml_str(yaml, "README.md").unwrap();
    assert!(cfg
        .prometheus
        .queries
        .p95
        .contains("histogram_quantile(0.95"));
    assert_eq!(cfg.prometheus.timeout_ms, 3000);
}

/// A stand-in for Prometheus that wants `Authorization: Bearer sekrit` and
/// answers after `delay`.
async fn fake_prometheus(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/api/v1/query",
        get(move |headers: axum::http::HeaderMap| async move {
            tokio::time::sleep(delay).await;
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sekrit")
            {
                return (StatusCode::UNAUTHORIZED, "no token\n".to_string());
            }
            (
                StatusCode::OK,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"env":"staging","version":"v1"},"value":[1,"3.5"]}]}}"#
                    .to_string(),
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn auth_header_and_timeout_are_applied() {
    let url = fake_prometheus(Duration::ZERO).await;
    let authed = PrometheusClient::with(&url, "Bearer sekrit", Duration::from_secs(2)).unwrap();
    let samples = authed.instant("up").await.unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].value, 3.5);

    let anonymous = PrometheusClient::with(&url, "", Duration::from_secs(2)).unwrap();
    match anonymous.instant("up").await.unwrap_err() {
        PromError::Http {
            query,
            status,
            body,
        } => {
            assert_eq!((query.as_str(), status), ("up", 401));
            assert_eq!(body, "no token");
        }
        other => panic!("expected HTTP 401, got {other:?}"),
    }

    let slow = fake_prometheus(Duration::from_secs(3)).await;
    let impatient =
        PrometheusClient::with(&slow, "Bearer sekrit", Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let err = impatient.instant("up").await.unwrap_err();
    assert!(
        matches!(
            err,
            PromError::Timeout {
                timeout_ms: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_round_slower_than_the_step_is_cancelled_not_queued() {
    // Every answer takes 1.5 s, the step is 1 s: rounds must be cancelled
    // and reported, and no stale point may arrive.
    let url = fake_prometheus(Duration::from_millis(1_500)).await;
    let (tx, mut rx) = mpsc::channel(64);
    let source = spawn_metrics_source(
        PrometheusConfig {
            auth_header: "Bearer sekrit".into(),
            timeout_ms: 10_000,
            ..prom_config(&url)
        },
        vec!["staging".into()],
        tx,
    );
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Some(RuntimeEvent::Source {
                    state: SourceState::Degraded(why),
                    ..
                }) => return why,
                Some(RuntimeEvent::Source { .. }) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("no Degraded state for a slow Prometheus");
    assert!(ev.contains("round cancelled"), "{ev}");
    source.abort();
}

/// `rollout.analysis_source: prometheus`: the sandbox's rollout controller
/// judges each canary step on PromQL answered by a real Prometheus that
/// scrapes the sandbox's router, and rolls a failing version back on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_judged_on_prometheus_rolls_back_a_failing_canary() {
    use blissful_infra::domain::environment::Version;
    use blissful_infra::paths::StatePaths;
    use blissful_infra::runtime::{Actor, RolloutOutcome, Runtime};
    use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};

    let metrics_port = free_port();
    let prom = start_prometheus(format!("127.0.0.1:{metrics_port}").parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "project: promrollout
environments:
  - name: {ENV}
    replicas: 1
    metrics_port: {metrics_port}
traffic:
  rate_per_sec: 60
rollout:
  analysis_source: prometheus
  steps:
    - {{ weight: 50, pause_secs: 4 }}
    - {{ weight: 100, pause_secs: 1 }}
  analysis:
    min_samples: 5
  max_extensions: 3
prometheus:
  url: {}
  timeout_ms: 2000
",
        prom.url
    );
    let cfg_path = dir.path().join("blissful-infra.yaml");
    std::fs::write(&cfg_path, yaml).unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let rt = SandboxRuntime::start(SandboxOptions {
        config: std::sync::Arc::new(cfg),
        config_dir: dir.path().to_path_buf(),
        service_program: env!("CARGO_BIN_EXE_blissful-infra").into(),
        state: StatePaths::at(dir.path().join("state")),
    })
    .await
    .unwrap();
    let client = PrometheusClient::new(&prom_config(&prom.url)).unwrap();
    // Prometheus has scraped the stable version's traffic.
    wait_for(
        &client,
        &format!(r#"sum(blissful_router_requests_total{{env="{ENV}"}})"#),
        "the router's counters in Prometheus",
        |s| s.iter().any(|x| x.value > 0.0),
    )
    .await;
    // The default CPU and memory queries read the sandbox's per-version
    // process series (issue: they read 0 when nothing exposed them).
    let queries = &Config::default().prometheus.queries;
    let render = |template: &str| {
        blissful_infra::sources::queries::render(template, ENV, "v1", Duration::from_secs(10))
    };
    wait_for(
        &client,
        &render(&queries.memory),
        "v1's resident memory from the default query",
        |s| s.iter().any(|x| x.value > 1.0),
    )
    .await;
    wait_for(
        &client,
        &render(&queries.cpu),
        "v1's CPU from the default query",
        |s| s.iter().any(|x| x.value > 0.0),
    )
    .await;

    let mut events = rt.subscribe().await.unwrap();
    rt.deploy(&Actor::current("test"), ENV, &Version::new("v4-buggy"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut verdicts = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(RuntimeEvent::Verdict { verdict, .. })) => verdicts.push(verdict),
            Ok(Some(RuntimeEvent::RolloutFinished { outcome, .. })) => break outcome,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                panic!(
                    "no rollout outcome; verdicts so far {verdicts:#?}\n{}",
                    prom.log()
                )
            }
        }
    };
    rt.shutdown().await;
    let RolloutOutcome::RolledBack {
        verdict, reason, ..
    } = outcome
    else {
        panic!("v4-buggy was not rolled back: {outcome:?}; verdicts {verdicts:#?}")
    };
    let verdict = verdict.expect("the rollback carries its verdict");
    assert_eq!(
        verdict.source.as_deref(),
        Some("prometheus"),
        "{verdict:#?}"
    );
    assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
    let failed: Vec<Metric> = verdict.failed_checks().map(|c| c.metric).collect();
    assert!(
        failed.contains(&Metric::ErrorRate),
        "{reason}: {verdict:#?}"
    );
    let error_query = verdict
        .queries
        .iter()
        .find(|(m, _)| *m == Metric::ErrorRate)
        .map(|(_, q)| q.as_str())
        .expect("the error-rate check names its query");
    assert!(
        error_query.contains("blissful_router_errors_total") && error_query.contains("v4-buggy"),
        "{error_query}"
    );
    // v4-buggy answers HTTP 500: the 5xx rate check sees it too, from the
    // `code` label of the router's request counter.
    assert!(failed.contains(&Metric::ServerErrorRate), "{verdict:#?}");
    let five = verdict
        .queries
        .iter()
        .find(|(m, _)| *m == Metric::ServerErrorRate)
        .map(|(_, q)| q.as_str())
        .unwrap_or_default();
    assert!(five.contains(r#"code=~"5..""#), "{five}");
    // Every verdict of this rollout came from Prometheus, none from the router.
    assert!(verdicts
        .iter()
        .all(|v| v.source.as_deref() == Some("prometheus")));
}
