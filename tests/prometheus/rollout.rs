//! A sandbox rollout judged on PromQL from a real Prometheus.

use super::*;

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
