//! Planted curves with binomial noise: thresholds recovered and the right
//! shape preferred, through the same fitting and selection code `analyze` uses.

mod common;
use common::observe;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use results::analyze::fit_shapes;

const ITEMS: u64 = 200;

/// Eight sizes from 1e4 to 1e6.5 (0.36 decade apart), the quick-preset scale.
fn ladder() -> Vec<f64> {
    (0..8).map(|i| 4.0 + 2.5 * i as f64 / 7.0).collect()
}

fn logistic(c: f64, d: f64, k: f64, x0: f64, x: f64) -> f64 {
    c + (d - c) / (1.0 + (-k * (x - x0)).exp())
}

#[test]
fn planted_sigmoids_recovered_and_preferred() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let x = ladder();
    let (mut cases, mut preferred, mut worst) = (0, 0, 0.0f64);
    for &chance in &[0.0, 0.1] {
        for &k in &[4.0, 6.0, 10.0] {
            for &ceiling in &[0.8, 0.95] {
                for i in 0..6 {
                    // Thresholds spread across the inside of the ladder.
                    let x0 = 4.6 + 1.3 * i as f64 / 5.0;
                    let d = observe(&x, ITEMS, |x| logistic(chance, ceiling, k, x0, x), &mut rng);
                    let f = fit_shapes(&d, chance, Some(1.0));
                    cases += 1;
                    let sg = f.sigmoid.expect("sigmoid fit");
                    let err = (sg.midpoint - x0).abs();
                    worst = worst.max(err);
                    assert!(
                        err < 0.1,
                        "x0={x0} k={k} c={chance}: fitted {} (off by {err:.3} decades)",
                        sg.midpoint
                    );
                    if f.sigmoid_preferred == Some(true) {
                        preferred += 1;
                    }
                }
            }
        }
    }
    eprintln!("sigmoid preferred in {preferred}/{cases}; worst threshold error {worst:.3} decades");
    assert!(
        preferred as f64 >= 0.95 * cases as f64,
        "sigmoid preferred in only {preferred}/{cases}"
    );
}

#[test]
fn planted_log_linear_curves_preferred() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let x = ladder();
    let (mut cases, mut preferred) = (0, 0);
    for &(lo, hi) in &[(0.05, 0.45), (0.1, 0.6), (0.2, 0.9), (0.3, 0.5), (0.0, 0.3)] {
        for &chance in &[0.0, 0.05] {
            for _ in 0..10 {
                let b = (hi - lo) / (x[7] - x[0]);
                let d = observe(&x, ITEMS, |xi| lo + b * (xi - x[0]), &mut rng);
                let f = fit_shapes(&d, chance, Some(1.0));
                cases += 1;
                if f.sigmoid_preferred == Some(false) {
                    preferred += 1;
                }
            }
        }
    }
    eprintln!("log_linear preferred in {preferred}/{cases}");
    assert!(
        preferred as f64 >= 0.95 * cases as f64,
        "log_linear preferred in only {preferred}/{cases}"
    );
}
