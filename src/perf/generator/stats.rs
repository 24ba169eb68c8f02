//! What a run records: latency histograms, statuses, transport errors, live counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::domain::comparison::Reservoir;
use crate::perf::PerfError;

/// Histogram bounds in microseconds: 1 µs .. 60 s, 3 significant figures.
pub const HIST_LOW_US: u64 = 1;
pub const HIST_HIGH_US: u64 = 60_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// Why a request got no HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    ConnectRefused,
    Connect,
    Timeout,
    /// The server closed the connection before answering.
    Closed,
    /// Anything else hyper reports (malformed response, ...).
    Protocol,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// Counters for a live progress line (reset when measuring starts).
#[derive(Debug, Default)]
pub struct Live {
    pub measuring: AtomicBool,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// When set, the latency (µs, as recorded in `corrected`) of every
    /// measured response is offered here, e.g. for statistical tests that
    /// need raw samples rather than a histogram.
    pub samples: Option<Mutex<Reservoir>>,
    /// When set, the corrected latency (µs) of every response, warm-up
    /// included, for live percentiles; whoever reads it resets it.
    pub window: Option<Mutex<Histogram<u64>>>,
}

impl Live {
    /// p50, p95 and p99 (ms) of the responses since the last call, from
    /// `window`, which is reset; zeros without a window or responses.
    pub fn take_window_quantiles(&self) -> (f64, f64, f64) {
        let Some(w) = &self.window else {
            return (0.0, 0.0, 0.0);
        };
        let mut h = w.lock().unwrap_or_else(|p| p.into_inner());
        let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
        let r = if h.is_empty() {
            (0.0, 0.0, 0.0)
        } else {
            (q(0.50), q(0.95), q(0.99))
        };
        h.reset();
        r
    }
}

/// What the measured phase saw.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub elapsed: Duration,
    /// Attempts finished: responses plus errors.
    pub requests: u64,
    /// Latency in µs of every response, from the due time in open loop.
    pub corrected: Histogram<u64>,
    /// Latency in µs of every response, from the actual send.
    pub uncorrected: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl RunStats {
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }
    pub fn transport_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

pub fn new_histogram() -> Result<Histogram<u64>, PerfError> {
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .map_err(|e| PerfError::Internal(format!("creating a histogram: {e}")))
}
