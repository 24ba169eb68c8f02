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

#[path = "prometheus/client.rs"]
mod client;
#[path = "prometheus/rollout.rs"]
mod rollout;
#[path = "prometheus/scraping.rs"]
mod scraping;
