//! The built-in sample service: a small HTTP service whose versions can be
//! slow, buggy or leaky on purpose, so rollouts and chaos have something real
//! to act on. It runs as a child process via the hidden CLI subcommand
//! `blissful-infra sample-service --port P --version V ...`, and tests serve
//! [`sample_service_router`] in-process.

use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::domain::sanitize::sanitize_str;
use crate::router::histogram::{write_header, write_sample, BucketHistogram};

/// Log lines buffered between request handlers and the stdout writer.
const LOG_CAPACITY: usize = 8192;
/// Domain events buffered per WebSocket subscriber before it starts skipping.
const EVENT_CAPACITY: usize = 256;
/// Memory the leak simulation may hold at most.
const MEMORY_GROWTH_CAP: u64 = 1 << 30;
const MEMORY_TICK: Duration = Duration::from_millis(250);
/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Longest path or name kept in logs and events.
const MAX_TEXT: usize = 256;

const PROBE_PATHS: [&str; 4] = ["/health", "/ready", "/live", "/metrics"];

#[derive(Clone, Debug)]
pub struct SampleServiceOptions {
    pub port: u16,
    pub version: String,
    pub instance: String,
    pub latency_ms: u64,
    pub error_rate: f64,
    pub memory_growth_mib_per_min: f64,
    /// A dependency every non-probe request calls (see [`dependency`]).
    pub dependency: Option<Arc<dependency::Dependency>>,
}

impl SampleServiceOptions {
    /// Options for a well-behaved instance of `version`.
    pub fn new(port: u16, version: &str) -> Self {
        SampleServiceOptions {
            port,
            version: version.to_string(),
            instance: format!("{version}-{}", std::process::id()),
            latency_ms: 0,
            error_rate: 0.0,
            memory_growth_mib_per_min: 0.0,
            dependency: None,
        }
    }

    /// Clamp rates into their meaningful ranges (NaN counts as 0).
    pub fn normalized(mut self) -> Self {
        self.error_rate = if self.error_rate.is_finite() {
            self.error_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.memory_growth_mib_per_min = if self.memory_growth_mib_per_min.is_finite() {
            self.memory_growth_mib_per_min.max(0.0)
        } else {
            0.0
        };
        self
    }
}

/// Arguments of the hidden `sample-service` subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct SampleServiceArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long)]
    pub port: u16,
    /// Version label reported in responses, logs and metrics.
    #[arg(long)]
    pub version: String,
    /// Instance id in logs (default: `<version>-<pid>`).
    #[arg(long)]
    pub instance: Option<String>,
    /// Latency added to every non-probe request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction 0..1 of non-probe requests answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Memory allocated (and touched) per minute, up to 1 GiB.
    #[arg(long, default_value_t = 0.0)]
    pub memory_growth_mib_per_min: f64,
}

impl SampleServiceArgs {
    pub fn into_options(self) -> SampleServiceOptions {
        let mut o = SampleServiceOptions::new(self.port, &self.version);
        if let Some(i) = self.instance {
            o.instance = i;
        }
        o.latency_ms = self.latency_ms;
        o.error_rate = self.error_rate;
        o.memory_growth_mib_per_min = self.memory_growth_mib_per_min;
        o.normalized()
    }
}

// ---------------------------------------------------------------------------
// Logging

// ---------------------------------------------------------------------------
// Process entry point

/// Environment variable naming the address to listen on instead of 127.0.0.1
/// (container images set `0.0.0.0` so a published port reaches the service).
pub const BIND_ENV: &str = "BLISSFUL_SAMPLE_BIND";

/// Serve the sample service on 127.0.0.1 (or `$BLISSFUL_SAMPLE_BIND`) until
/// SIGTERM/SIGINT, then shut down gracefully (readiness goes false first,
/// in-flight requests get 10 s).
pub async fn run_sample_service(opts: SampleServiceOptions) -> std::io::Result<()> {
    let mut opts = opts.normalized();
    if opts.dependency.is_none() {
        opts.dependency = dependency::Dependency::from_env()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
            .map(Arc::new);
    }
    let ip = match std::env::var(BIND_ENV) {
        Ok(v) if !v.is_empty() => v.parse::<std::net::IpAddr>().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{BIND_ENV}={v:?} is not an IP address: {e}"),
            )
        })?,
        _ => Ipv4Addr::LOCALHOST.into(),
    };
    let listener = tokio::net::TcpListener::bind((ip, opts.port)).await?;
    let local = listener.local_addr()?;
    let signalled = shutdown_signal()?;

    let (sink, log_rx) = LogSink::new(LOG_CAPACITY);
    let state = SampleServiceState::new(opts, sink);
    let (stop_tx, stop_rx) = watch::channel(false);
    let writer = tokio::spawn(log_rx.write_until(tokio::io::stdout(), stop_rx));
    let growth = spawn_memory_growth(state.clone());

    let o = state.options();
    state.log_lifecycle(
        "info",
        "started",
        json!({
            "port": local.port(),
            "pid": std::process::id(),
            "latency_ms": o.latency_ms,
            "error_rate": o.error_rate,
            "memory_growth_mib_per_min": o.memory_growth_mib_per_min,
            "dependency": o.dependency.as_ref().map(|d| json!({
                "name": d.name,
                "address": d.upstream,
                "breaker": format!("{:?}", d.mode).to_lowercase(),
            })),
        }),
    );
    state.set_ready(true);

    let app = sample_service_router(state.clone());
    let graceful = {
        let st = state.clone();
        let mut sig = signalled.clone();
        async move {
            wait_true(&mut sig).await;
            st.begin_shutdown();
            st.log_lifecycle("info", "stopping", json!({}));
        }
    };
    let deadline = {
        let mut sig = signalled.clone();
        async move {
            wait_true(&mut sig).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    let served = tokio::select! {
        r = axum::serve(listener, app).with_graceful_shutdown(graceful) => r,
        _ = deadline => {
            state.log_lifecycle("warn", "graceful shutdown timed out; closing open connections", json!({}));
            Ok(())
        }
    };
    state.begin_shutdown();
    if let Some(g) = growth {
        let _ = g.await;
    }
    match &served {
        Ok(()) => state.log_lifecycle("info", "stopped", json!({})),
        Err(e) => state.log_lifecycle("error", "server failed", json!({ "error": e.to_string() })),
    }
    stop_tx.send_replace(true);
    // A write error means stdout is gone: there is nobody left to tell.
    let _ = writer.await;
    served
}

/// A watch that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tx.send_replace(true);
            // Keep the sender alive so receivers never see a closed channel.
            std::future::pending::<()>().await;
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tx.send_replace(true);
            }
            std::future::pending::<()>().await;
        });
    }
    Ok(rx)
}

pub mod dependency;
mod growth;
mod http;
mod log_sink;
mod state;

pub use growth::spawn_memory_growth;
pub use http::sample_service_router;
use log_sink::*;
pub use log_sink::{LogReceiver, LogSink};
use state::*;
pub use state::{DomainEvent, SampleServiceState};

#[cfg(test)]
mod tests;
