//! Small statistics used by the analysis and the comparison: BIG-bench
//! breakthroughness, percentiles, the cot-overtakes-direct crossing and the
//! paired tests. Distributions come from `statrs`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{Binomial, DiscreteCDF};

/// BIG-bench breakthroughness of a curve with values `y` over sizes sorted
/// ascending: B = I(y) / sqrt(median((y_{i+1} − y_i)²)) with
/// I(y) = sign(argmax y − argmin y)·(max y − min y), clipped to [0, 100];
/// a flat curve (or a single point) scores 0. Ties in argmax/argmin take the
/// first occurrence, as numpy's argmax does.
pub fn breakthroughness(y: &[f64]) -> f64 {
    if y.len() < 2 {
        return 0.0;
    }
    let (mut imax, mut imin) = (0, 0);
    for (i, &v) in y.iter().enumerate() {
        if v > y[imax] {
            imax = i;
        }
        if v < y[imin] {
            imin = i;
        }
    }
    let range = y[imax] - y[imin];
    if range <= 0.0 {
        return 0.0;
    }
    let sign = (imax as f64 - imin as f64).signum();
    let mut sq: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).powi(2)).collect();
    let denom = median(&mut sq).sqrt();
    let b = sign * range / denom; // ±inf when the median jump is 0: clipped below
    b.clamp(0.0, 100.0)
}

/// Median (mean of the two middle values for an even count). Sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Percentile `q` in [0, 1] with linear interpolation (numpy's default).
/// Sorts `v`; infinities are allowed and propagate to the tails.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 >= v.len() || frac == 0.0 || v[i] == v[i + 1] {
        return v[i.min(v.len() - 1)];
    }
    // Between a finite value and an infinite one the percentile is the
    // infinite one: an interval bound reaching past the ladder is open.
    if v[i].is_infinite() {
        return v[i];
    }
    if v[i + 1].is_infinite() {
        return v[i + 1];
    }
    v[i] + frac * (v[i + 1] - v[i])
}

/// Where a rising difference curve crosses zero for good.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crossing {
    /// At this x, interpolated linearly between the sizes at indices
    /// `below` and `below + 1`: the data place it only within that gap.
    At { x: f64, below: usize },
    /// Positive at every size.
    AheadThroughout,
    /// Not positive at the largest size.
    Never,
}

/// The x at which `diff` (cot − direct, sizes sorted ascending) becomes
/// positive and stays positive up to the largest size.
pub fn crossing(x: &[f64], diff: &[f64]) -> Crossing {
    let n = diff.len();
    if n == 0 || diff[n - 1] <= 0.0 {
        return Crossing::Never;
    }
    let mut j = n - 1;
    while j > 0 && diff[j - 1] > 0.0 {
        j -= 1;
    }
    if j == 0 {
        return Crossing::AheadThroughout;
    }
    let (d0, d1) = (diff[j - 1], diff[j]);
    let t = -d0 / (d1 - d0);
    Crossing::At {
        x: x[j - 1] + t * (x[j] - x[j - 1]),
        below: j - 1,
    }
}

/// Wilson score 95 % interval for `k` successes in `n` trials; never
/// zero-width, also at 0 % and 100 %.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959963984540054f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    // At k = 0 or k = n the bound is 0 or 1 exactly, not a rounding residue.
    let lo = if k == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k as f64 == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// Two-sided exact McNemar test on discordant pairs: `b` items right only in
/// run A, `c` right only in run B. p = P(|X − m/2| ≥ |b − m/2|), X ~ Bin(m, ½).
pub fn mcnemar_p(b: u64, c: u64) -> f64 {
    let m = b + c;
    if m == 0 {
        return 1.0;
    }
    let bin = Binomial::new(0.5, m).expect("valid binomial");
    let k = b.min(c);
    (2.0 * bin.cdf(k)).min(1.0)
}

/// Holm's step-down adjustment of a family of p-values (the entries that
/// are `None` are not tested and stay `None`): the k-th smallest of m is
/// multiplied by m − k + 1, then made non-decreasing in that order and
/// capped at 1. Rejecting where the adjusted value is below α keeps the
/// chance of any false rejection in the family below α.
pub fn holm(ps: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<(usize, f64)> = ps
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let m = order.len();
    let mut out = vec![None; ps.len()];
    let mut running: f64 = 0.0;
    for (k, &(i, p)) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p).min(1.0));
        out[i] = Some(running);
    }
    out
}

/// Paired bootstrap: mean difference of `d` (B − A per item), its 95 %
/// percentile interval, and a two-sided p-value for "mean difference = 0"
/// from the bootstrap distribution shifted to the null.
pub fn paired_bootstrap(d: &[f64], reps: usize, rng: &mut ChaCha8Rng) -> (f64, f64, f64, f64) {
    let n = d.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let mut means = bootstrap_means(d, reps, rng);
    // Under the null the distribution is centred on 0: count replicates at
    // least as far from the observed mean as the observed mean is from 0.
    let extreme = means
        .iter()
        .filter(|&&m| (m - mean).abs() >= mean.abs() - 1e-15)
        .count();
    let p = ((extreme + 1) as f64 / (reps + 1) as f64).min(1.0);
    let lo = percentile(&mut means, 0.025);
    let hi = percentile(&mut means, 0.975);
    (mean, lo, hi, p)
}

/// Means of `reps` resamples (with replacement) of `d`.
pub fn bootstrap_means(d: &[f64], reps: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let n = d.len();
    if n == 0 {
        return Vec::new();
    }
    (0..reps)
        .map(|_| (0..n).map(|_| d[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect()
}

/// 95 % percentile-bootstrap interval of the mean of `d` (NaNs when empty).
pub fn bootstrap_mean_interval(d: &[f64], reps: usize, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let mut means = bootstrap_means(d, reps, rng);
    if means.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (percentile(&mut means, 0.025), percentile(&mut means, 0.975))
}

/// A stable 64-bit hash (FNV-1a) of a text key, to derive per-curve RNG seeds
/// that do not depend on iteration order or on std's randomised hasher.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn breakthroughness_hand_computed() {
        // Jump curve: diffs 0, 0, 0.8, 0 -> squared 0,0,0.64,0 -> median 0 -> +inf -> 100.
        assert_eq!(breakthroughness(&[0.0, 0.0, 0.0, 0.8, 0.8]), 100.0);
        // Linear ramp 0, .2, .4, .6: I = .6, median sq diff = .04 -> sqrt .2 -> B = 3.
        assert!((breakthroughness(&[0.0, 0.2, 0.4, 0.6]) - 3.0).abs() < 1e-12);
        // 0.1, 0.1, 0.5, 0.6: I = .5; sq diffs 0, .16, .01 -> median .01 -> B = 5.
        assert!((breakthroughness(&[0.1, 0.1, 0.5, 0.6]) - 5.0).abs() < 1e-12);
        // Even count of diffs: 0, .1, .3, .35, .4: sq .01,.04,.0025,.0025 -> median
        // (.0025+.01)/2 = .00625 -> sqrt .0790569 -> .4/.0790569 = 5.0596.
        let b = breakthroughness(&[0.0, 0.1, 0.3, 0.35, 0.4]);
        assert!((b - 0.4 / 0.00625f64.sqrt()).abs() < 1e-9, "{b}");
        // Falling curve: I < 0 -> clipped to 0. Flat -> 0.
        assert_eq!(breakthroughness(&[0.9, 0.5, 0.1]), 0.0);
        assert_eq!(breakthroughness(&[0.3, 0.3, 0.3]), 0.0);
        assert_eq!(breakthroughness(&[0.3]), 0.0);
    }

    #[test]
    fn crossing_cases() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            crossing(&x, &[-0.2, -0.1, 0.1, 0.3]),
            Crossing::At { x: 2.5, below: 1 }
        );
        assert_eq!(
            crossing(&x, &[0.2, -0.1, 0.3, 0.3]),
            Crossing::At {
                x: 2.0 + 0.25,
                below: 1
            }
        );
        assert_eq!(
            crossing(&x, &[0.1, 0.1, 0.1, 0.1]),
            Crossing::AheadThroughout
        );
        assert_eq!(crossing(&x, &[-0.1, 0.1, 0.1, -0.1]), Crossing::Never);
    }

    #[test]
    fn mcnemar_known_values() {
        // b = 0, c = 6: p = 2 * 0.5^6 = 0.03125.
        assert!((mcnemar_p(0, 6) - 0.03125).abs() < 1e-12);
        assert!((mcnemar_p(3, 3) - 1.0).abs() < 1e-12);
        assert_eq!(mcnemar_p(0, 0), 1.0);
    }

    #[test]
    fn paired_bootstrap_detects_shift_only_when_present() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let shifted: Vec<f64> = (0..200)
            .map(|i| 0.2 + 0.05 * ((i % 7) as f64 - 3.0))
            .collect();
        let (m, lo, hi, p) = paired_bootstrap(&shifted, 1000, &mut rng);
        assert!((m - 0.2).abs() < 0.01 && lo < m && m < hi && p < 0.01);
        let centred: Vec<f64> = (0..200).map(|i| 0.05 * ((i % 7) as f64 - 3.0)).collect();
        let (_, _, _, p) = paired_bootstrap(&centred, 1000, &mut rng);
        assert!(p > 0.5, "{p}");
    }

    #[test]
    fn wilson_known_values() {
        // 0/10: upper bound z²/(n+z²) = 3.8415/13.8415 = 0.27754.
        let (lo, hi) = wilson(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.277_54).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson(10, 10);
        assert!(
            (lo - 0.722_46).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(50, 100);
        assert!((lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3);
    }

    #[test]
    fn percentile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 0.5), 2.5);
        assert_eq!(percentile(&mut v, 0.0), 1.0);
        assert_eq!(percentile(&mut v, 1.0), 4.0);
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_the_untested() {
        let adj = holm(&[Some(0.01), None, Some(0.04), Some(0.03), Some(0.5)]);
        // Sorted 0.01, 0.03, 0.04, 0.5 of m = 4: ×4, ×3, ×2, ×1, running max.
        let want = [Some(0.04), None, Some(0.09), Some(0.09), Some(0.5)];
        for (a, w) in adj.iter().zip(want) {
            match (a, w) {
                (Some(a), Some(w)) => assert!((a - w).abs() < 1e-12, "{adj:?}"),
                (a, w) => assert_eq!(*a, w),
            }
        }
        assert_eq!(holm(&[Some(0.9), Some(0.8)]), vec![Some(1.0), Some(1.0)]);
        assert!(holm(&[]).is_empty());
    }
}
