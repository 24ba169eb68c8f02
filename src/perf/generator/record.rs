//! Recording one finished request into its worker's shard and the live counters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::engine::Phase;
use super::{ErrorKind, HIST_HIGH_US, HIST_LOW_US};

pub(super) struct Shard {
    pub(super) requests: u64,
    pub(super) corrected: Histogram<u64>,
    pub(super) uncorrected: Histogram<u64>,
    pub(super) statuses: BTreeMap<u16, u64>,
    pub(super) errors: BTreeMap<ErrorKind, u64>,
}

pub(super) fn record(
    phase: &Phase,
    id: usize,
    result: &Result<u16, ErrorKind>,
    corrected: Duration,
    uncorrected: Duration,
) {
    phase.live.requests.fetch_add(1, Ordering::Relaxed);
    let idx = id % phase.shards.len();
    let mut s = phase.shards[idx].lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    match result {
        Ok(status) => {
            // Values beyond the histogram's range are clamped, never dropped.
            s.corrected.saturating_record(micros(corrected));
            s.uncorrected.saturating_record(micros(uncorrected));
            *s.statuses.entry(*status).or_default() += 1;
            if let Some(w) = &phase.live.window {
                w.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .saturating_record(micros(corrected));
            }
            if let Some(r) = &phase.live.samples {
                if phase.live.measuring.load(Ordering::Relaxed) {
                    r.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .offer(micros(corrected));
                }
            }
            if *status >= 500 {
                phase.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(kind) => {
            *s.errors.entry(*kind).or_default() += 1;
            phase.live.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(HIST_LOW_US, HIST_HIGH_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_clamps_to_histogram_range() {
        assert_eq!(micros(Duration::ZERO), HIST_LOW_US);
        assert_eq!(micros(Duration::from_secs(3600)), HIST_HIGH_US);
        assert_eq!(micros(Duration::from_millis(20)), 20_000);
    }
}
