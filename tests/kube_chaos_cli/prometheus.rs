//! The FMEA suite on Kubernetes reads request figures from a REAL Prometheus
//! (the Debian binary) when `prometheus.url` is set: the apiserver (fake)
//! gives only pod counts. Prometheus scrapes a stand-in for the service's
//! router metrics that this test serves; its requests turn slow and failing
//! while the NetworkChaos exists, as a real service's would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::support::prometheus::Prometheus;

/// Requests per second the stand-in claims to serve.
const RPS: f64 = 20.0;

#[derive(Default)]
struct Counters {
    total: f64,
    slow: f64,
    errors: f64,
    last: Option<Instant>,
}

/// Serve `blissful_router_*` series for staging/v1; while `faulting`, every
/// request takes 0.5–1 s and a quarter fail.
async fn stand_in_metrics(faulting: Arc<AtomicBool>) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let counters = Arc::new(Mutex::new(Counters::default()));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = {
                let mut c = counters.lock().unwrap();
                let now = Instant::now();
                let dt = c.last.map_or(0.0, |t| (now - t).as_secs_f64());
                c.last = Some(now);
                c.total += RPS * dt;
                if faulting.load(Ordering::SeqCst) {
                    c.slow += RPS * dt;
                    c.errors += RPS * dt / 4.0;
                }
                let l = r#"env="staging",version="v1""#;
                format!(
                    "# TYPE blissful_router_requests_total counter\n\
                     blissful_router_requests_total{{{l}}} {total}\n\
                     # TYPE blissful_router_errors_total counter\n\
                     blissful_router_errors_total{{{l}}} {errors}\n\
                     # TYPE blissful_router_request_duration_seconds histogram\n\
                     blissful_router_request_duration_seconds_bucket{{{l},le=\"0.05\"}} {fast}\n\
                     blissful_router_request_duration_seconds_bucket{{{l},le=\"1\"}} {total}\n\
                     blissful_router_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {total}\n\
                     blissful_router_request_duration_seconds_sum{{{l}}} {sum}\n\
                     blissful_router_request_duration_seconds_count{{{l}}} {total}\n",
                    total = c.total,
                    errors = c.errors,
                    fast = c.total - c.slow,
                    sum = c.total * 0.02 + c.slow * 0.7,
                )
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

/// Flip `faulting` while a NetworkChaos exists on the fake apiserver.
fn follow_fault(kube: &FakeKube, faulting: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let kube = kube.clone();
    tokio::spawn(async move {
        loop {
            let made = kube
                .received_matching("POST", &format!("/namespaces/{NS}/networkchaos"))
                .len();
            let gone = kube.received_matching("DELETE", "/networkchaos/").len();
            faulting.store(made > gone, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
}

/// Wait until Prometheus has a rate for the stand-in (two scrapes).
async fn wait_for_rate(prom: &Prometheus) {
    let url = format!(
        "{}/api/v1/query?query=rate(blissful_router_requests_total[3s])",
        prom.url
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            let v: Value = r.json().await.unwrap_or_default();
            if v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no rate in Prometheus: {}",
            prom.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_measures_requests_through_prometheus_and_fails_on_them() {
    let faulting = Arc::new(AtomicBool::new(false));
    let target = stand_in_metrics(faulting.clone()).await;
    let prom = Prometheus::start(&[target.to_string()]).await;
    wait_for_rate(&prom).await;
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-healthy-all-steps.yaml", NS);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{CONFIG}  default_duration: 5s\n  slo: {{ max_error_rate: 0.05, max_p99_ms: 250, max_recovery_secs: 20 }}\n\
         prometheus:\n  url: {}\n  step_secs: 1\n  window_secs: 3\n",
        prom.url
    );
    let config = config.replace("baseline_secs: 1", "baseline_secs: 4");
    write_project(dir.path(), &kube.url(), &config);
    let controller = report_injected(&kube, "networkchaos");
    let follower = follow_fault(&kube, faulting);

    let out = run(
        dir.path(),
        &[
            "-o",
            "json",
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "network-latency",
        ],
    )
    .await;
    controller.abort();
    follower.abort();
    let s = text(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {s}"));
    let v = &report["verdicts"][0];
    assert_eq!(v["scenario"], "network-latency", "{s}");
    let rps = v["baseline"]["rps"].as_f64().unwrap();
    assert!(
        (10.0..=30.0).contains(&rps),
        "baseline from Prometheus: {rps} req/s\n{s}"
    );
    assert!(v["baseline"]["samples"].as_u64().unwrap() >= 2, "{s}");
    let p99 = v["slo_checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "p99")
        .unwrap_or_else(|| panic!("no p99 check: {s}"));
    assert!(p99["observed"].as_f64().unwrap() > 250.0, "{s}");
    assert_eq!(p99["passed"], false, "{s}");
    assert_eq!(v["result"], "fail", "{s}");
    assert_ne!(
        out.status.code(),
        Some(0),
        "a failed verdict fails the command: {s}"
    );
    let steps = report["steps"].to_string();
    assert!(steps.contains("from Prometheus"), "{steps}");
    println!(
        "baseline {rps:.1} req/s from Prometheus; p99 during the fault {}ms; exit {:?}",
        p99["observed"],
        out.status.code()
    );
}
