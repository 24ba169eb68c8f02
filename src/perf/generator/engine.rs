//! The phases of a run and the workers that send the load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::http1::Conn;
use super::record::Shard;
use super::worker::worker;
use super::{new_histogram, Live, LoadSpec, RunStats, Stop};
use crate::perf::PerfError;

/// Histograms are shared by at most this many shards (memory is bounded
/// whatever the concurrency).
const MAX_SHARDS: usize = 8;

pub(super) struct Phase {
    pub(super) spec: LoadSpec,
    pub(super) stop: Stop,
    pub(super) start: Instant,
    pub(super) next: AtomicU64,
    pub(super) total_weight: u64,
    pub(super) shards: Vec<Mutex<Shard>>,
    pub(super) live: Arc<Live>,
}

/// Run the warmup (if any), then the measured phase, over the same connections.
pub async fn run(spec: &LoadSpec, live: Arc<Live>) -> Result<RunStats, PerfError> {
    spec.validate()?;
    let mut conns: Vec<Conn> = (0..spec.concurrency).map(|_| None).collect();
    if !spec.warmup.is_zero() {
        let (c, _) = run_phase(spec, Stop::Duration(spec.warmup), conns, live.clone()).await?;
        conns = c;
    }
    live.requests.store(0, Ordering::Relaxed);
    live.errors.store(0, Ordering::Relaxed);
    live.measuring.store(true, Ordering::Relaxed);
    let (_, stats) = run_phase(spec, spec.stop, conns, live).await?;
    Ok(stats)
}

async fn run_phase(
    spec: &LoadSpec,
    stop: Stop,
    conns: Vec<Conn>,
    live: Arc<Live>,
) -> Result<(Vec<Conn>, RunStats), PerfError> {
    let shard_count = spec.concurrency.clamp(1, MAX_SHARDS);
    let mut shards = Vec::with_capacity(shard_count);
    for _ in 0..shard_count {
        shards.push(Mutex::new(Shard {
            requests: 0,
            corrected: new_histogram()?,
            uncorrected: new_histogram()?,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }));
    }
    let start = Instant::now();
    let phase = Arc::new(Phase {
        spec: spec.clone(),
        stop,
        start,
        next: AtomicU64::new(0),
        total_weight: spec.endpoints.iter().map(|e| u64::from(e.weight)).sum(),
        shards,
        live,
    });
    let mut handles = Vec::with_capacity(conns.len());
    for (id, conn) in conns.into_iter().enumerate() {
        handles.push(tokio::spawn(worker(id, phase.clone(), conn)));
    }
    let mut back = Vec::with_capacity(handles.len());
    for h in handles {
        // A worker that died leaves its connection behind; a fresh one is made.
        back.push(h.await.unwrap_or(None));
    }
    let elapsed = start.elapsed();
    let mut stats = RunStats {
        elapsed,
        requests: 0,
        corrected: new_histogram()?,
        uncorrected: new_histogram()?,
        statuses: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    for shard in &phase.shards {
        let s = shard.lock().unwrap_or_else(|p| p.into_inner());
        stats.requests += s.requests;
        stats
            .corrected
            .add(&s.corrected)
            .map_err(|e| PerfError::Internal(format!("merging histograms: {e}")))?;
        stats
            .uncorrected
            .add(&s.uncorrected)
            .map_err(|e| PerfError::Internal(format!("merging histograms: {e}")))?;
        for (k, v) in &s.statuses {
            *stats.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &s.errors {
            *stats.errors.entry(*k).or_default() += v;
        }
    }
    Ok((back, stats))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::time::Duration;

    use crate::perf::generator::{Endpoint, ErrorKind, Pacing, Target};

    /// A phase of one connection that is never started (for unit tests).
    pub(in crate::perf::generator) fn phase(endpoints: Vec<Endpoint>) -> Phase {
        let total_weight = endpoints.iter().map(|e| u64::from(e.weight)).sum();
        Phase {
            spec: LoadSpec {
                target: Target {
                    addr: "127.0.0.1:9".parse().unwrap(),
                    host: "127.0.0.1:9".into(),
                },
                endpoints,
                pacing: Pacing::Closed,
                concurrency: 1,
                stop: Stop::Requests(1),
                warmup: Duration::ZERO,
                timeout: Duration::from_secs(1),
            },
            stop: Stop::Requests(1),
            start: Instant::now(),
            next: AtomicU64::new(0),
            total_weight,
            shards: vec![],
            live: Arc::new(Live::default()),
        }
    }

    #[tokio::test]
    async fn refused_connection_is_counted_not_fatal() {
        // Bind then drop to get a port nobody listens on.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let spec = LoadSpec {
            target: Target {
                addr,
                host: addr.to_string(),
            },
            endpoints: vec![Endpoint {
                path: "/".into(),
                weight: 1,
            }],
            pacing: Pacing::Closed,
            concurrency: 2,
            stop: Stop::Requests(6),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(2),
        };
        let stats = run(&spec, Arc::new(Live::default())).await.unwrap();
        assert_eq!(stats.requests, 6);
        assert_eq!(stats.responses(), 0);
        assert_eq!(stats.errors.get(&ErrorKind::ConnectRefused), Some(&6));
    }

    #[tokio::test]
    async fn invalid_spec_is_refused() {
        let mut p = phase(vec![Endpoint {
            path: "/".into(),
            weight: 0,
        }]);
        assert!(matches!(
            run(&p.spec, Arc::new(Live::default())).await,
            Err(PerfError::Usage(_))
        ));
        p.spec.endpoints[0].weight = 1;
        p.spec.pacing = Pacing::Open { rate: 0.0 };
        assert!(matches!(
            run(&p.spec, Arc::new(Live::default())).await,
            Err(PerfError::Usage(_))
        ));
    }
}
