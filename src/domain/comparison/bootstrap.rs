//! Quantiles and the bootstrap confidence interval of a quantile difference.

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
