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

use serde::Serialize;

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

/// A uniform random sample of at most `capacity` values from a stream of
/// unknown length (Algorithm R): memory stays bounded whatever the run length.
#[derive(Debug)]
pub struct Reservoir {
    capacity: usize,
    seen: u64,
    items: Vec<u64>,
    rng: fastrand::Rng,
}

impl Reservoir {
    pub fn new(capacity: usize, seed: u64) -> Self {
        Reservoir {
            capacity,
            seen: 0,
            items: Vec::with_capacity(capacity.min(RESERVOIR_CAPACITY)),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn offer(&mut self, value: u64) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(value);
        } else if self.capacity > 0 {
            // Keep the new value with probability capacity / seen.
            let j = self.rng.u64(0..self.seen);
            if let Ok(j) = usize::try_from(j) {
                if j < self.capacity {
                    self.items[j] = value;
                }
            }
        }
    }

    /// Values offered so far (kept or not).
    pub fn seen(&self) -> u64 {
        self.seen
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn samples(&self) -> &[u64] {
        &self.items
    }
    pub fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.items)
    }
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U statistic of the first sample (how often it is the larger one,
    /// ties counting one half).
    pub u_first: f64,
    pub u_second: f64,
    pub z: f64,
    pub p_value: f64,
}

/// Two-sided Mann-Whitney U test. `None` when a sample is empty or a value
/// is not finite.
pub fn mann_whitney(first: &[f64], second: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (first.len(), second.len());
    if n1 == 0 || n2 == 0 || first.iter().chain(second).any(|v| !v.is_finite()) {
        return None;
    }
    let mut all: Vec<(f64, bool)> = first
        .iter()
        .map(|&v| (v, true))
        .chain(second.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_first = 0.0;
    // Sum of t^3 - t over tie groups, for the variance correction.
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let in_first = all[i..j].iter().filter(|x| x.1).count();
        rank_sum_first += avg_rank * in_first as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u_first = rank_sum_first - n1f * (n1f + 1.0) / 2.0;
    let u_second = n1f * n2f - u_first;
    let mean = n1f * n2f / 2.0;
    let variance = if n > 1 {
        n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))
    } else {
        0.0
    };
    if variance <= 0.0 {
        // Every value is equal: no evidence of any difference.
        return Some(MannWhitney {
            u_first,
            u_second,
            z: 0.0,
            p_value: 1.0,
        });
    }
    let diff = u_first - mean;
    // Continuity correction: move half a unit towards the mean.
    let corrected = (diff.abs() - 0.5).max(0.0) * diff.signum();
    let z = corrected / variance.sqrt();
    let p_value = (2.0 * normal_sf(z.abs())).clamp(0.0, 1.0);
    Some(MannWhitney {
        u_first,
        u_second,
        z,
        p_value,
    })
}

/// P(Z > z) for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Quantile `q` (0..=1) of sorted values, interpolating linearly between
/// neighbours. `None` for an empty slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Quantile `q` of unsorted values (reorders `buf`), same definition as
/// [`quantile_sorted`] but in linear time.
fn quantile_select(buf: &mut [f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (buf.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, &mut lo_val, upper) = buf.select_nth_unstable_by(lo, f64::total_cmp);
    if frac == 0.0 || upper.is_empty() {
        return lo_val;
    }
    let hi_val = upper.iter().copied().fold(f64::INFINITY, f64::min);
    lo_val + (hi_val - lo_val) * frac
}

/// A confidence interval for `new - old`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The difference measured on the full samples.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// e.g. 0.95.
    pub level: f64,
}

impl Interval {
    pub fn contains_zero(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }
}

/// Percentile-bootstrap interval for `quantile(new, q) - quantile(old, q)`.
/// `None` when a side has no samples or `resamples` is 0. CPU-bound: run it
/// off the async executor.
pub fn bootstrap_quantile_diff(
    old: &[f64],
    new: &[f64],
    q: f64,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if old.is_empty() || new.is_empty() || resamples == 0 {
        return None;
    }
    let mut buf_old = old.to_vec();
    let mut buf_new = new.to_vec();
    let estimate = quantile_select(&mut buf_new, q) - quantile_select(&mut buf_old, q);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut diffs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in buf_old.iter_mut() {
            *slot = old[rng.usize(0..old.len())];
        }
        for slot in buf_new.iter_mut() {
            *slot = new[rng.usize(0..new.len())];
        }
        diffs.push(quantile_select(&mut buf_new, q) - quantile_select(&mut buf_old, q));
    }
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    Some(Interval {
        estimate,
        low: quantile_sorted(&diffs, tail)?,
        high: quantile_sorted(&diffs, 1.0 - tail)?,
        level,
    })
}

/// Two-sided two-proportion z-test: p-value that `errors_a / n_a` and
/// `errors_b / n_b` are equal. 1.0 when there is nothing to test.
pub fn two_proportion_p(errors_a: u64, n_a: u64, errors_b: u64, n_b: u64) -> f64 {
    if n_a == 0 || n_b == 0 {
        return 1.0;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let pooled = (errors_a + errors_b) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 1.0;
    }
    let z = (errors_a as f64 / na - errors_b as f64 / nb) / se;
    (2.0 * normal_sf(z.abs())).clamp(0.0, 1.0)
}

/// What one side of the comparison measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SideStats {
    pub version: String,
    pub requests: u64,
    pub errors: u64,
    pub duration_secs: f64,
    pub rps: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Mean over the runtime's metric points in the measured window.
    pub cpu_pct: Option<f64>,
    pub mem_mib: Option<f64>,
    /// Latency samples kept for the tests (a uniform sample of all responses).
    pub samples: usize,
}

/// Thresholds from `comparison:` in config.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ComparisonThresholds {
    pub max_p95_regression_pct: f64,
    pub max_p99_regression_pct: f64,
    pub max_error_rate: f64,
    pub min_throughput_ratio: f64,
}

/// The statistical evidence about the difference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// `None` when a side had no latency samples.
    pub mann_whitney: Option<MannWhitney>,
    /// 95 % bootstrap interval of `new p95 - old p95`, ms.
    pub p95_diff_ci_ms: Option<Interval>,
    /// Two-proportion z-test on the error rates.
    pub error_rate_p_value: f64,
}

impl Evidence {
    /// Latency distributions differ (Mann-Whitney p < ALPHA).
    pub fn latency_differs(&self) -> bool {
        self.mann_whitney.is_some_and(|m| m.p_value < ALPHA)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NewWins,
    OldWins,
    NoSignificantDifference,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NewWins => "new wins",
            Verdict::OldWins => "old wins",
            Verdict::NoSignificantDifference => "no significant difference",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricRow {
    /// `p95_ms`, `p99_ms`, `throughput_rps`, `error_rate`, `cpu_pct`, `mem_mib`.
    pub metric: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
    /// `new - old`.
    pub diff: Option<f64>,
    /// `(new - old) / old` in percent; `None` when old is 0 or missing.
    pub diff_pct: Option<f64>,
    /// The rule, e.g. `<= +10% (and > 5 ms, significant)`; `None` for report-only metrics.
    pub threshold: Option<String>,
    /// `Some(false)` when the threshold fails.
    pub passed: Option<bool>,
}

/// Everything decided from the two sides' numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub rows: Vec<MetricRow>,
    pub verdict: Verdict,
    /// Every threshold holds (new is not worse beyond tolerance).
    pub thresholds_passed: bool,
    /// Human-readable reasons behind the verdict.
    pub reasons: Vec<String>,
}

fn diff_pct(old: f64, new: f64) -> Option<f64> {
    (old.abs() > f64::EPSILON).then(|| (new - old) / old * 100.0)
}

fn row(metric: &'static str, old: Option<f64>, new: Option<f64>) -> MetricRow {
    let diff = old.zip(new).map(|(o, n)| n - o);
    MetricRow {
        metric,
        old,
        new,
        diff,
        diff_pct: old.zip(new).and_then(|(o, n)| diff_pct(o, n)),
        threshold: None,
        passed: None,
    }
}

/// A latency regression that fails its threshold: relative growth beyond
/// `max_pct`, beyond the noise floor, and a significant distribution shift.
fn latency_regressed(old: f64, new: f64, max_pct: f64, evidence: &Evidence) -> bool {
    new > old * (1.0 + max_pct / 100.0) && new - old > NOISE_FLOOR_MS && evidence.latency_differs()
}

/// Apply thresholds and tests to two sides' numbers.
pub fn assess(
    old: &SideStats,
    new: &SideStats,
    t: &ComparisonThresholds,
    evidence: &Evidence,
) -> Assessment {
    let mut reasons = Vec::new();
    let mut p95 = row("p95_ms", Some(old.p95_ms), Some(new.p95_ms));
    let p95_fail = latency_regressed(old.p95_ms, new.p95_ms, t.max_p95_regression_pct, evidence);
    p95.threshold = Some(format!(
        "<= +{}% (beyond {NOISE_FLOOR_MS} ms, significant)",
        t.max_p95_regression_pct
    ));
    p95.passed = Some(!p95_fail);
    if p95_fail {
        reasons.push(format!(
            "p95 regressed from {:.2} ms to {:.2} ms (more than {}%)",
            old.p95_ms, new.p95_ms, t.max_p95_regression_pct
        ));
    }

    let mut p99 = row("p99_ms", Some(old.p99_ms), Some(new.p99_ms));
    let p99_fail = latency_regressed(old.p99_ms, new.p99_ms, t.max_p99_regression_pct, evidence);
    p99.threshold = Some(format!(
        "<= +{}% (beyond {NOISE_FLOOR_MS} ms, significant)",
        t.max_p99_regression_pct
    ));
    p99.passed = Some(!p99_fail);
    if p99_fail {
        reasons.push(format!(
            "p99 regressed from {:.2} ms to {:.2} ms (more than {}%)",
            old.p99_ms, new.p99_ms, t.max_p99_regression_pct
        ));
    }

    let mut rps = row("throughput_rps", Some(old.rps), Some(new.rps));
    // Closed-loop throughput of two sides sharing a machine differs by
    // scheduling noise; a shortfall counts only when the new version is also
    // significantly slower and its median latency is up beyond the noise floor.
    let new_slower = evidence
        .mann_whitney
        .is_some_and(|m| m.p_value < ALPHA && m.u_second > m.u_first)
        && new.p50_ms - old.p50_ms > NOISE_FLOOR_MS;
    let rps_fail = new.rps < old.rps * t.min_throughput_ratio && new_slower;
    rps.threshold = Some(format!(">= {:.2} x old", t.min_throughput_ratio));
    rps.passed = Some(!rps_fail);
    if rps_fail {
        reasons.push(format!(
            "throughput fell from {:.1} to {:.1} req/s (below {:.2} x old)",
            old.rps, new.rps, t.min_throughput_ratio
        ));
    }

    let mut err = row("error_rate", Some(old.error_rate), Some(new.error_rate));
    let err_fail = new.error_rate > t.max_error_rate;
    err.threshold = Some(format!("<= {}", t.max_error_rate));
    err.passed = Some(!err_fail);
    if err_fail {
        reasons.push(format!(
            "error rate {:.4} is above {}",
            new.error_rate, t.max_error_rate
        ));
    }

    let cpu = row("cpu_pct", old.cpu_pct, new.cpu_pct);
    let mem = row("mem_mib", old.mem_mib, new.mem_mib);
    let thresholds_passed = !(p95_fail || p99_fail || rps_fail || err_fail);

    // Latency: significant only beyond the practical margin and with a CI off 0.
    let margin = (old.p95_ms * MIN_EFFECT_PCT / 100.0).max(NOISE_FLOOR_MS);
    let d95 = new.p95_ms - old.p95_ms;
    let ci_excludes_zero = evidence
        .p95_diff_ci_ms
        .is_some_and(|ci| !ci.contains_zero());
    let latency_sig = evidence.latency_differs() && ci_excludes_zero && d95.abs() > margin;
    let errors_sig = evidence.error_rate_p_value < ALPHA
        && (new.error_rate - old.error_rate).abs() > MIN_ERROR_RATE_EFFECT;
    let new_better = (latency_sig && d95 < 0.0) || (errors_sig && new.error_rate < old.error_rate);
    let new_worse = (latency_sig && d95 > 0.0) || (errors_sig && new.error_rate > old.error_rate);

    let verdict = if !thresholds_passed {
        Verdict::OldWins
    } else if new_worse && !new_better {
        reasons.push(format!(
            "new is significantly worse, though within the thresholds (p95 {d95:+.2} ms, error rate {:+.4})",
            new.error_rate - old.error_rate
        ));
        Verdict::OldWins
    } else if new_better && !new_worse {
        reasons.push(format!(
            "new is significantly better (p95 {d95:+.2} ms, error rate {:+.4})",
            new.error_rate - old.error_rate
        ));
        Verdict::NewWins
    } else {
        if new_better && new_worse {
            reasons.push("new is better in one way and worse in another".into());
        } else {
            reasons.push(format!(
                "no difference beyond noise (p95 margin {margin:.2} ms, alpha {ALPHA})"
            ));
        }
        Verdict::NoSignificantDifference
    };
    Assessment {
        rows: vec![p95, p99, rps, err, cpu, mem],
        verdict,
        thresholds_passed,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> ComparisonThresholds {
        ComparisonThresholds {
            max_p95_regression_pct: 10.0,
            max_p99_regression_pct: 15.0,
            max_error_rate: 0.01,
            min_throughput_ratio: 0.95,
        }
    }

    #[test]
    fn mann_whitney_on_separated_samples() {
        let m = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(m.u_first, 0.0);
        assert_eq!(m.u_second, 9.0);
        // Hand computed: z = (0 - 4.5 + 0.5) / sqrt(9 * 7 / 12) = -1.7457, p = 0.0809.
        assert!((m.z + 1.7457).abs() < 1e-3, "z = {}", m.z);
        assert!((m.p_value - 0.0809).abs() < 1e-3, "p = {}", m.p_value);
    }

    #[test]
    fn mann_whitney_with_ties() {
        // Ranks of 1,2,2,2,3,4 are 1,3,3,3,5,6: R_first = 7, U_first = 7 - 6 = 1.
        let m = mann_whitney(&[1.0, 2.0, 2.0], &[2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.u_first, 1.0);
        assert_eq!(m.u_second, 8.0);
        // Tie correction: one group of 3 -> 24 / 30; var = 9/12 * (7 - 0.8) = 4.65.
        let z = (1.0 - 4.5 + 0.5) / 4.65f64.sqrt();
        assert!((m.z - z).abs() < 1e-9, "z = {}", m.z);
        let all_equal = mann_whitney(&[5.0; 4], &[5.0; 6]).unwrap();
        assert_eq!(all_equal.p_value, 1.0);
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn identical_distributions_are_not_significant() {
        let mut rng = fastrand::Rng::with_seed(1);
        let a: Vec<f64> = (0..5000).map(|_| rng.f64() * 10.0).collect();
        let b: Vec<f64> = (0..5000).map(|_| rng.f64() * 10.0).collect();
        let m = mann_whitney(&a, &b).unwrap();
        assert!(m.p_value > 0.05, "p = {}", m.p_value);
        let same = mann_whitney(&a, &a).unwrap();
        assert!(same.p_value > 0.99, "p = {}", same.p_value);
    }

    #[test]
    fn shifted_distributions_are_significant() {
        let mut rng = fastrand::Rng::with_seed(2);
        let a: Vec<f64> = (0..2000).map(|_| rng.f64() * 10.0).collect();
        let b: Vec<f64> = (0..2000).map(|_| rng.f64() * 10.0 + 2.0).collect();
        let m = mann_whitney(&a, &b).unwrap();
        assert!(m.p_value < 1e-10, "p = {}", m.p_value);
        assert!(m.u_second > m.u_first);
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.96) - 0.024_998).abs() < 1e-5);
        assert!((normal_sf(-1.0) - 0.841_345).abs() < 1e-5);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.5), Some(3.0));
        assert_eq!(quantile_sorted(&v, 0.95), Some(4.8));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        let mut shuffled = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert!((quantile_select(&mut shuffled, 0.95) - 4.8).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_interval_covers_the_true_difference() {
        // Uniform 0..10 vs 3..13: the true p95 difference is exactly 3.
        let mut rng = fastrand::Rng::with_seed(3);
        let old: Vec<f64> = (0..3000).map(|_| rng.f64() * 10.0).collect();
        let new: Vec<f64> = (0..3000).map(|_| rng.f64() * 10.0 + 3.0).collect();
        let ci = bootstrap_quantile_diff(&old, &new, 0.95, 300, 0.95, 7).unwrap();
        assert!(ci.low <= 3.0 && ci.high >= 3.0, "{ci:?}");
        assert!(!ci.contains_zero());
        assert!(ci.high - ci.low < 1.5, "too wide: {ci:?}");
        // Same seed, same interval.
        assert_eq!(
            bootstrap_quantile_diff(&old, &new, 0.95, 300, 0.95, 7),
            Some(ci)
        );
        let same = bootstrap_quantile_diff(&old, &old, 0.95, 300, 0.95, 7).unwrap();
        assert!(same.contains_zero(), "{same:?}");
        assert!(bootstrap_quantile_diff(&[], &new, 0.95, 10, 0.95, 1).is_none());
    }

    #[test]
    fn reservoir_stays_bounded_and_uniform() {
        let mut r = Reservoir::new(100, 9);
        for v in 0..100_000u64 {
            r.offer(v);
        }
        assert_eq!(r.len(), 100);
        assert_eq!(r.seen(), 100_000);
        // A uniform sample of 0..100000 has its mean near 50000.
        let mean = r.samples().iter().sum::<u64>() as f64 / 100.0;
        assert!((35_000.0..65_000.0).contains(&mean), "mean = {mean}");
        let mut small = Reservoir::new(10, 1);
        for v in 0..5u64 {
            small.offer(v);
        }
        assert_eq!(small.take(), vec![0, 1, 2, 3, 4]);
        assert!(small.is_empty());
        let mut none = Reservoir::new(0, 1);
        none.offer(1);
        assert_eq!((none.len(), none.seen()), (0, 1));
    }

    #[test]
    fn two_proportions() {
        assert!(two_proportion_p(250, 1000, 0, 1000) < 1e-10);
        assert!(two_proportion_p(10, 1000, 11, 1000) > 0.5);
        assert_eq!(two_proportion_p(0, 1000, 0, 1000), 1.0);
        assert_eq!(two_proportion_p(0, 0, 0, 10), 1.0);
    }

    fn side(p95: f64, rps: f64, error_rate: f64) -> SideStats {
        SideStats {
            version: "v".into(),
            requests: 1000,
            rps,
            error_rate,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.2,
            ..Default::default()
        }
    }

    fn evidence(p: f64, new_slower: bool, ci: (f64, f64)) -> Evidence {
        Evidence {
            mann_whitney: Some(MannWhitney {
                u_first: if new_slower { 10.0 } else { 90.0 },
                u_second: if new_slower { 90.0 } else { 10.0 },
                z: 3.0,
                p_value: p,
            }),
            p95_diff_ci_ms: Some(Interval {
                estimate: (ci.0 + ci.1) / 2.0,
                low: ci.0,
                high: ci.1,
                level: 0.95,
            }),
            error_rate_p_value: 1.0,
        }
    }

    #[test]
    fn a_slow_new_version_loses() {
        let a = assess(
            &side(2.0, 500.0, 0.0),
            &side(62.0, 60.0, 0.0),
            &thresholds(),
            &evidence(1e-20, true, (58.0, 62.0)),
        );
        assert_eq!(a.verdict, Verdict::OldWins);
        assert!(!a.thresholds_passed);
        assert_eq!(a.rows[0].passed, Some(false));
        assert_eq!(a.rows[2].passed, Some(false), "throughput fell too");
        assert_eq!(a.rows[0].diff, Some(60.0));
        assert_eq!(a.rows[0].diff_pct, Some(3000.0));
    }

    #[test]
    fn noise_is_no_difference() {
        // Significant by Mann-Whitney but 1 ms on a 3 ms p95: below the margin.
        let a = assess(
            &side(3.0, 500.0, 0.0),
            &side(4.0, 470.0, 0.0),
            &thresholds(),
            &evidence(0.001, true, (0.5, 1.5)),
        );
        assert_eq!(a.verdict, Verdict::NoSignificantDifference);
        assert!(a.thresholds_passed);
        assert!(a.rows.iter().all(|r| r.passed != Some(false)));
    }

    #[test]
    fn a_faster_or_healthier_new_version_wins() {
        let a = assess(
            &side(80.0, 50.0, 0.0),
            &side(20.0, 200.0, 0.0),
            &thresholds(),
            &evidence(1e-9, false, (-65.0, -55.0)),
        );
        assert_eq!(a.verdict, Verdict::NewWins);
        let mut ev = evidence(0.6, false, (-1.0, 1.0));
        ev.error_rate_p_value = 1e-12;
        let b = assess(
            &side(3.0, 500.0, 0.25),
            &side(3.0, 500.0, 0.0),
            &thresholds(),
            &ev,
        );
        assert_eq!(b.verdict, Verdict::NewWins);
    }

    #[test]
    fn errors_above_the_limit_fail() {
        let mut ev = evidence(0.5, false, (-1.0, 1.0));
        ev.error_rate_p_value = 1e-12;
        let a = assess(
            &side(3.0, 500.0, 0.0),
            &side(3.0, 500.0, 0.25),
            &thresholds(),
            &ev,
        );
        assert_eq!(a.verdict, Verdict::OldWins);
        assert_eq!(a.rows[3].passed, Some(false));
        assert!(a.reasons.iter().any(|r| r.contains("error rate")));
    }
}
