//! Tests of planning and reporting a comparison.
#![cfg(test)] // test code only

use super::*;

fn args() -> CompareArgs {
    CompareArgs {
        old: "v1".into(),
        new: "v3-slow".into(),
        duration: Duration::from_secs(3),
        concurrency: 4,
        rate: None,
        warmup: Duration::from_millis(500),
        timeout: Duration::from_secs(5),
        env: None,
        chaos: None,
    }
}

#[test]
fn plan_checks_flags() {
    let cfg = Config::default();
    let p = plan(&args(), &cfg).unwrap();
    assert_eq!(p.pacing, Pacing::Closed);
    let paths: Vec<&str> = p.endpoints.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, cfg.traffic.paths);
    for bad in [
        CompareArgs {
            old: "v1; rm -rf /".into(),
            ..args()
        },
        CompareArgs {
            new: String::new(),
            ..args()
        },
        CompareArgs {
            concurrency: 0,
            ..args()
        },
        CompareArgs {
            rate: Some(f64::NAN),
            ..args()
        },
        CompareArgs {
            duration: Duration::ZERO,
            ..args()
        },
        CompareArgs {
            chaos: Some("meteor".into()),
            ..args()
        },
    ] {
        assert!(
            matches!(plan(&bad, &cfg), Err(CompareError::Usage(_))),
            "{bad:?}"
        );
    }
    let with_chaos = CompareArgs {
        chaos: Some("pod-kill".into()),
        rate: Some(50.0),
        ..args()
    };
    let p = plan(&with_chaos, &cfg).unwrap();
    assert_eq!(p.chaos, Some(ScenarioKind::PodKill));
    assert_eq!(p.pacing, Pacing::Open { rate: 50.0 });
}

#[test]
fn comparison_config_has_two_quiet_environments() {
    let cfg = Config::default();
    let c = comparison_config(&cfg, "v1", "v2");
    let names: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [OLD_ENV, NEW_ENV]);
    assert_eq!(c.environments[0].initial_version, "v1");
    assert_eq!(c.environments[1].initial_version, "v2");
    assert!(c
        .environments
        .iter()
        .all(|e| e.router_port == 0 && e.metrics_port == 0 && !e.protected));
    assert_eq!(c.environments[0].replicas, cfg.environments[0].replicas);
    assert_eq!(c.traffic.rate_per_sec, 0.0);
    assert_eq!(c.service, cfg.service);
}

#[test]
fn resources_average_inside_the_window() {
    let mut c = Collected::default();
    c.points.insert(
        OLD_ENV.into(),
        vec![(0, 99.0, 99.0), (1000, 10.0, 20.0), (2000, 30.0, 40.0)],
    );
    assert_eq!(
        resource_means(&c, OLD_ENV, 500, 2500),
        (Some(20.0), Some(30.0))
    );
    assert_eq!(resource_means(&c, NEW_ENV, 0, 2500), (None, None));
}

#[tokio::test]
async fn collector_keeps_metrics_and_counts_lag() {
    use crate::domain::metrics::MetricPoint;
    let (tx, rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(collect(rx, stop_rx));
    tx.send(RuntimeEvent::Metrics {
        env: OLD_ENV.into(),
        version: "v1".into(),
        point: MetricPoint {
            ts: 5,
            cpu_pct: 12.0,
            mem_mib: 8.0,
            ..Default::default()
        },
    })
    .await
    .unwrap();
    tx.send(RuntimeEvent::Lagged { count: 3 }).await.unwrap();
    // Let the collector drain before it is told to stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_tx.send(()).unwrap();
    let c = task.await.unwrap();
    assert_eq!(c.points[OLD_ENV], vec![(5, 12.0, 8.0)]);
    assert_eq!(c.lagged, 3);
}
