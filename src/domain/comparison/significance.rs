//! Significance tests: Mann-Whitney U on latencies, two proportions on errors.

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn two_proportions() {
        assert!(two_proportion_p(250, 1000, 0, 1000) < 1e-10);
        assert!(two_proportion_p(10, 1000, 11, 1000) > 0.5);
        assert_eq!(two_proportion_p(0, 1000, 0, 1000), 1.0);
        assert_eq!(two_proportion_p(0, 0, 0, 10), 1.0);
    }
}
