//! One worker: claims due times (open loop) or sends back to back (closed
//! loop) on its connection, and records every answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::Phase;
use super::http1::{request, Conn};
use super::record::record;
use super::{ErrorKind, Pacing, Stop};

/// Pause after a failed connect so an unreachable target is not hammered in
/// a tight loop (the attempts are still counted).
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

pub(super) async fn worker(id: usize, phase: Arc<Phase>, mut conn: Conn) -> Conn {
    let mut rng = fastrand::Rng::with_seed(id as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let deadline = match phase.stop {
        Stop::Duration(d) => Some(phase.start + d),
        Stop::Requests(_) => None,
    };
    let interval = match phase.spec.pacing {
        Pacing::Open { rate } => Some(rate),
        Pacing::Closed => None,
    };
    loop {
        if let Some(dl) = deadline {
            if Instant::now() >= dl {
                break;
            }
        }
        let ticket = phase.next.fetch_add(1, Ordering::Relaxed);
        if let Stop::Requests(n) = phase.stop {
            if ticket >= n {
                break;
            }
        }
        // Open loop: wait for the due time; if it already passed, we are
        // behind and the wait counts as latency.
        let mut from = None;
        if let Some(rate) = interval {
            let due = phase.start + Duration::from_secs_f64(ticket as f64 / rate);
            if deadline.is_some_and(|dl| due >= dl) {
                break;
            }
            if due > Instant::now() {
                // On time: timer overshoot (~1 ms granularity) is ours, not
                // the target's, so measure from the actual send.
                tokio::time::sleep_until(due.into()).await;
            } else {
                from = Some(due);
            }
        }
        let path = pick(&phase, &mut rng);
        let sent = Instant::now();
        let result = tokio::time::timeout(phase.spec.timeout, request(&mut conn, &phase, path))
            .await
            .unwrap_or(Err(ErrorKind::Timeout));
        let done = Instant::now();
        if result.is_err() {
            conn = None;
        }
        record(
            &phase,
            id,
            &result,
            done - from.unwrap_or(sent),
            done - sent,
        );
        if matches!(result, Err(ErrorKind::ConnectRefused | ErrorKind::Connect)) {
            tokio::time::sleep(CONNECT_BACKOFF).await;
        }
    }
    conn
}

fn pick<'p>(phase: &'p Phase, rng: &mut fastrand::Rng) -> &'p str {
    let eps = &phase.spec.endpoints;
    if eps.len() == 1 {
        return &eps[0].path;
    }
    let mut x = rng.u64(0..phase.total_weight.max(1));
    for e in eps {
        let w = u64::from(e.weight);
        if x < w {
            return &e.path;
        }
        x -= w;
    }
    &eps[eps.len() - 1].path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::generator::engine::tests::phase;
    use crate::perf::generator::Endpoint;

    #[test]
    fn weighted_pick_follows_weights() {
        let p = phase(vec![
            Endpoint {
                path: "/a".into(),
                weight: 3,
            },
            Endpoint {
                path: "/b".into(),
                weight: 1,
            },
            Endpoint {
                path: "/never".into(),
                weight: 0,
            },
        ]);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut a = 0;
        let mut b = 0;
        for _ in 0..4000 {
            match pick(&p, &mut rng) {
                "/a" => a += 1,
                "/b" => b += 1,
                other => panic!("picked {other}"),
            }
        }
        assert!((2700..3300).contains(&a), "a = {a}");
        assert_eq!(a + b, 4000);
    }
}
