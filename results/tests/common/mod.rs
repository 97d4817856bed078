//! What the planted-curve tests share.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use results::fit::Data;
use results::stats::wilson;

/// Score each size on `items` Bernoulli items, with Wilson standard errors as
/// the sweep records them.
pub fn observe(x: &[f64], items: u64, p: impl Fn(f64) -> f64, rng: &mut ChaCha8Rng) -> Data {
    let mut y = Vec::new();
    let mut sigma = Vec::new();
    for &xi in x {
        let k = (0..items).filter(|_| rng.gen::<f64>() < p(xi)).count() as u64;
        let (lo, hi) = wilson(k, items);
        y.push(k as f64 / items as f64);
        sigma.push((hi - lo) / (2.0 * 1.96));
    }
    Data {
        x: x.to_vec(),
        y,
        sigma,
    }
}
