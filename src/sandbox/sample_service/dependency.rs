//! An optional dependency behind every non-probe request, so the chaos
//! suite has a real service to judge. `SAMPLE_CALLS_DEPENDENCY` names the
//! variable that holds the address (`DATABASE_URL`, read as the sandbox's
//! fault proxy rewrites it); each request connects, sends a line and waits
//! for the echo. `SAMPLE_BREAKER` says how the service copes:
//! - `on` (default): retry once, then a circuit breaker opens after three
//!   failures in a row and requests get a degraded answer while it is open
//!   (a trial call goes through after two seconds);
//! - `stuck`: the breaker is exported but never opens (a broken one);
//! - `off`: no breaker and no metric; a failed call is a 503.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The variable naming the variable that holds the dependency's address.
pub const CALLS_ENV: &str = "SAMPLE_CALLS_DEPENDENCY";
/// `on`, `stuck` or `off`.
pub const BREAKER_ENV: &str = "SAMPLE_BREAKER";

/// How long one call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// Failures in a row that open the breaker.
const OPEN_AFTER: u32 = 3;
/// How long the breaker stays open before a trial call.
const OPEN_FOR: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerMode {
    On,
    Stuck,
    Off,
}

impl BreakerMode {
    pub fn parse(s: &str) -> Result<BreakerMode, String> {
        match s.trim() {
            "" | "on" => Ok(BreakerMode::On),
            "stuck" => Ok(BreakerMode::Stuck),
            "off" => Ok(BreakerMode::Off),
            other => Err(format!(
                "{BREAKER_ENV}={other:?}: expected on, stuck or off"
            )),
        }
    }
}

/// Breaker state as the templates export it: 0 closed, 1 half-open, 2 open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// Counting failures; no clock of its own (`now` is passed in).
#[derive(Debug)]
pub struct Breaker {
    mode: BreakerMode,
    failures: u32,
    opened_at: Option<Instant>,
}

impl Breaker {
    pub fn new(mode: BreakerMode) -> Breaker {
        Breaker {
            mode,
            failures: 0,
            opened_at: None,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(t) if now.duration_since(t) < OPEN_FOR => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go out now (not while open).
    pub fn allows(&self, now: Instant) -> bool {
        self.state(now) != BreakerState::Open
    }

    pub fn success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
    }

    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let half_open = self.state(now) == BreakerState::HalfOpen;
        if self.mode == BreakerMode::On && (half_open || self.failures >= OPEN_AFTER) {
            self.opened_at = Some(now);
        }
    }
}

/// The dependency a sample-service instance calls.
#[derive(Debug)]
pub struct Dependency {
    /// The variable the address came from (the metric's label).
    pub name: String,
    pub upstream: String,
    pub mode: BreakerMode,
    pub breaker: std::sync::Mutex<Breaker>,
}

/// How a request's dependency call went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// Answered without the dependency (the breaker is open).
    Degraded,
    Failed(String),
}

impl Dependency {
    /// From the process environment; `Ok(None)` when none is configured.
    pub fn from_env() -> Result<Option<Dependency>, String> {
        let Ok(var) = std::env::var(CALLS_ENV) else {
            return Ok(None);
        };
        let value =
            std::env::var(&var).map_err(|_| format!("{CALLS_ENV}={var}, but {var} is not set"))?;
        let upstream = crate::fault_proxy::address::endpoints(&value)
            .map_err(|e| format!("{var}: {e}"))?
            .into_iter()
            .next()
            .map(|e| e.upstream)
            .ok_or_else(|| format!("{var} holds no address"))?;
        let mode = BreakerMode::parse(&std::env::var(BREAKER_ENV).unwrap_or_default())?;
        Ok(Some(Dependency {
            name: var,
            upstream,
            mode,
            breaker: std::sync::Mutex::new(Breaker::new(mode)),
        }))
    }

    fn with_breaker<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> Option<T> {
        self.breaker.lock().ok().map(|mut b| f(&mut b))
    }

    /// The breaker's gauge, if this instance exports one.
    pub fn gauge(&self) -> Option<f64> {
        if self.mode == BreakerMode::Off {
            return None;
        }
        self.with_breaker(|b| b.state(Instant::now()).gauge())
    }

    /// One request's call; `retried` is told when a first try failed.
    pub async fn call(&self, retried: impl FnOnce(&str)) -> CallOutcome {
        let open = self
            .with_breaker(|b| !b.allows(Instant::now()))
            .unwrap_or(false);
        if open {
            return CallOutcome::Degraded;
        }
        let mut result = ping(&self.upstream).await;
        if let (Err(e), BreakerMode::On) = (&result, self.mode) {
            retried(e);
            result = ping(&self.upstream).await;
        }
        match result {
            Ok(()) => {
                self.with_breaker(Breaker::success);
                CallOutcome::Ok
            }
            Err(e) => {
                let now = Instant::now();
                let opened = self
                    .with_breaker(|b| {
                        b.failure(now);
                        b.state(now) == BreakerState::Open
                    })
                    .unwrap_or(false);
                if opened {
                    CallOutcome::Degraded
                } else {
                    CallOutcome::Failed(e)
                }
            }
        }
    }
}

/// Connect, send a line, wait for any answer; all within `CALL_TIMEOUT`.
async fn ping(upstream: &str) -> Result<(), String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(upstream)
            .await
            .map_err(|e| format!("connect {upstream}: {e}"))?;
        s.write_all(b"ping\n")
            .await
            .map_err(|e| format!("write {upstream}: {e}"))?;
        let mut buf = [0u8; 16];
        match s.read(&mut buf).await {
            Ok(0) => Err(format!("{upstream} closed the connection")),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read {upstream}: {e}")),
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("{upstream} did not answer within {CALL_TIMEOUT:?}")))
}

#[cfg(test)]
mod tests;
