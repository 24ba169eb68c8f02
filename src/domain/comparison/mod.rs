//! Comparing two versions under identical load: latency samples, the
//! statistics that decide whether a difference is real, and the verdict.
//!
//! Tests used (all pure functions here, no IO):
//! - **Mann-Whitney U** (two-sided, normal approximation with tie correction
//!   and continuity correction) on the raw latency samples of both sides.
//! - **Bootstrap percentile confidence interval** (95 %, fixed-seed RNG) for
//!   the difference `new p95 - old p95`.
//! - **Two-proportion z-test** on the error counts.
//!
//! With thousands of samples Mann-Whitney calls even sub-millisecond noise
//! significant, so a latency difference is only *significant* when the test
//! says so **and** the p95 difference is beyond a practical margin
//! ([`MIN_EFFECT_PCT`] of the old p95 and at least [`NOISE_FLOOR_MS`]) **and**
//! the bootstrap interval excludes 0. For the same reason a latency or
//! throughput threshold only fails on a significant shift beyond
//! [`NOISE_FLOOR_MS`]; the error-rate threshold is absolute.

mod assess;
mod bootstrap;
mod limits;
mod reservoir;
mod significance;
#[cfg(test)]
mod tests;
mod verdict;

pub use assess::{assess, assess_with};
pub use bootstrap::{bootstrap_quantile_diff, quantile_sorted, Interval};
pub use limits::{Breach, Limits, Metric, Rules, MB_PER_MIB};
pub use reservoir::Reservoir;
pub use significance::{mann_whitney, normal_sf, two_proportion_p, MannWhitney};
pub use verdict::{
    Assessment, ComparisonThresholds, Evidence, MetricRow, RowStatus, SideStats, Verdict,
};

/// Significance level of every test.
pub const ALPHA: f64 = 0.05;
/// A p95 difference smaller than this share of the old p95 is not practically
/// significant (percent).
pub const MIN_EFFECT_PCT: f64 = 10.0;
/// Latency differences below this many milliseconds are measurement noise on
/// a shared machine's loopback; no latency threshold fails below it.
pub const NOISE_FLOOR_MS: f64 = 5.0;
/// Error rates must differ by at least this much (absolute, 0..1) to count.
pub const MIN_ERROR_RATE_EFFECT: f64 = 0.01;
/// Latency samples kept per side.
pub const RESERVOIR_CAPACITY: usize = 10_000;
/// Bootstrap resamples for the p95 confidence interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1_000;
/// Seed of the bootstrap RNG: the same samples always give the same interval.
pub const BOOTSTRAP_SEED: u64 = 0x0b1e_55ed;
