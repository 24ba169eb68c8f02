//! What a load run is asked to do: target, endpoints, pacing, when to stop.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::perf::PerfError;

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// Value of the `Host` header.
    pub host: String,
}

/// A request path and its share of the traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub path: String,
    pub weight: u32,
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Each connection sends as soon as its previous answer arrived.
    Closed,
    /// A fixed rate in requests per second, independent of the answers.
    Open { rate: f64 },
}

/// When the measured phase ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Duration(Duration),
    Requests(u64),
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub target: Target,
    pub endpoints: Vec<Endpoint>,
    pub pacing: Pacing,
    /// Connections (= workers).
    pub concurrency: usize,
    pub stop: Stop,
    /// Load sent before measuring; not recorded.
    pub warmup: Duration,
    /// Per request, connecting included.
    pub timeout: Duration,
}

impl LoadSpec {
    /// `10 connections` or `200 req/s over 10 connections`.
    pub fn pacing_label(&self) -> String {
        match self.pacing {
            Pacing::Closed => format!("{} connections", self.concurrency),
            Pacing::Open { rate } => {
                format!("{rate:.0} req/s over {} connections", self.concurrency)
            }
        }
    }
}

impl LoadSpec {
    pub(super) fn validate(&self) -> Result<(), PerfError> {
        if self.concurrency == 0 {
            return Err(PerfError::Usage("concurrency must be at least 1".into()));
        }
        if self.endpoints.is_empty() || self.endpoints.iter().all(|e| e.weight == 0) {
            return Err(PerfError::Usage("no endpoint with a weight above 0".into()));
        }
        if let Pacing::Open { rate } = self.pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(PerfError::Usage(format!(
                    "rate must be above 0, got {rate}"
                )));
            }
        }
        Ok(())
    }
}
