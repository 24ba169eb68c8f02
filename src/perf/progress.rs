//! The live view of a run: the progress line and the Metrics pane's points.

use std::time::Duration;

use super::generator::{self, LoadSpec, Stop};
use crate::clock::now_ms;
use crate::domain::metrics::MetricPoint;

/// Live numbers of the last interval, for the Metrics pane.
pub(super) fn interval_point(live: &generator::Live, rps: f64, err_rate: f64) -> MetricPoint {
    let (p50, p95, p99) = live.take_window_quantiles();
    MetricPoint {
        ts: now_ms(),
        rps,
        error_rate: err_rate,
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
        cpu_pct: 0.0,
        mem_mib: 0.0,
    }
}

/// `[#########-----------]  45%` for the progress line.
pub(super) fn progress_bar(fraction: f64) -> String {
    const WIDTH: usize = 20;
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let done = (f * WIDTH as f64).round() as usize;
    format!(
        "[{}{}] {:3.0}%",
        "#".repeat(done),
        "-".repeat(WIDTH - done),
        f * 100.0
    )
}

/// How far the measured phase is, 0..1.
pub(super) fn load_progress(spec: &LoadSpec, measured: Duration, requests: u64) -> f64 {
    match spec.stop {
        Stop::Duration(d) if !d.is_zero() => measured.as_secs_f64() / d.as_secs_f64(),
        Stop::Requests(n) if n > 0 => requests as f64 / n as f64,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars_fill_with_the_run() {
        assert_eq!(progress_bar(0.0), "[--------------------]   0%");
        assert_eq!(progress_bar(0.45), "[#########-----------]  45%");
        assert_eq!(progress_bar(1.7), "[####################] 100%");
        assert_eq!(progress_bar(f64::NAN), "[--------------------]   0%");
    }
}
