//! Prometheus as the analysis source, on both backends.

use super::*;

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Prometheus child scraping `target` every second, killed on drop.
pub(crate) struct Prometheus {
    pub(crate) _child: tokio::process::Child,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn start_prometheus(port: u16, target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: router\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("the `prometheus` binary (apt-get install -y prometheus)");
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let http = reqwest::Client::new();
    // Generous: on a busy 2-core machine its storage takes a while to open.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        let ready = http
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "prometheus exited ({status}) before it was ready:\n{}",
                log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready after 60 s:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Prometheus {
        _child: child,
        _dir: dir,
    }
}

pub(crate) async fn prometheus_is_the_analysis_source(backend: Backend) {
    let prom_port = free_port();
    let mut cfg = config(&[(50, 4), (100, 1)]);
    cfg.rollout.analysis_source = AnalysisSource::Prometheus;
    cfg.prometheus = PrometheusConfig {
        url: format!("http://127.0.0.1:{prom_port}"),
        timeout_ms: 2000,
        ..Default::default()
    };
    let Some(u) = start(backend, cfg).await else {
        return;
    };
    let n = u.name();
    let metrics = u.status().await.metrics_addr;
    let _prom = start_prometheus(prom_port, &metrics).await;
    // Let Prometheus see the stable version's traffic for a few scrapes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut rx = u.rt.subscribe().await.unwrap();
    let id = u.deploy("v4-buggy").await;
    let outcome = outcome_of(&mut rx, id, 120).await;
    let RolloutOutcome::RolledBack {
        verdict, reason, ..
    } = outcome
    else {
        panic!("[{n}] v4-buggy was not rolled back: {outcome:?}");
    };
    let verdict = verdict.expect("the rollback carries its verdict");
    assert_eq!(
        verdict.source.as_deref(),
        Some("prometheus"),
        "[{n}] {reason}: {verdict:#?}"
    );
    assert!(
        verdict
            .failed_checks()
            .any(|c| c.metric == Metric::ErrorRate),
        "[{n}] {verdict:#?}"
    );
    u.rt.shutdown().await;
}
