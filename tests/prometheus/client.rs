//! The client: an unreachable server, the config section, auth, timeouts
//! and rounds slower than the step.

use super::*;

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
