//! The two curve shapes, fitted by weighted least squares in x = log10(scale).
//!
//! The intervals in `scores.csv` give each point's standard error, so the
//! noise variance is known and −2·log-likelihood is the weighted residual sum
//! of squares (chi-square) up to a constant shared by both shapes. AICc and
//! BIC are computed from it; estimating a free noise scale instead would cost
//! each shape one more parameter and, at 6–8 sizes, swamp the comparison in
//! the AICc small-sample correction.

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use runfolder::schema::{shape, FitRow};

/// Points of one curve: x = log10 of the scale, y the metric, sigma its
/// standard error (already floored, strictly positive).
#[derive(Debug, Clone)]
pub struct Data {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub sigma: Vec<f64>,
}

impl Data {
    pub fn len(&self) -> usize {
        self.x.len()
    }
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
    fn wrss(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.x
            .iter()
            .zip(&self.y)
            .zip(&self.sigma)
            .map(|((&x, &y), &s)| ((y - f(x)) / s).powi(2))
            .sum()
    }
}

/// y = intercept + slope·x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogLinear {
    pub intercept: f64,
    pub slope: f64,
    pub wrss: f64,
}

impl LogLinear {
    pub const N_PARAMS: usize = 2;
    pub fn eval(&self, x: f64) -> f64 {
        line(self.intercept, self.slope, x)
    }
}

/// Closed-form weighted least squares; `None` when x has no spread.
pub fn fit_log_linear(d: &Data) -> Option<LogLinear> {
    let w: Vec<f64> = d.sigma.iter().map(|s| 1.0 / (s * s)).collect();
    let sw: f64 = w.iter().sum();
    let mx = d.x.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>() / sw;
    let my = d.y.iter().zip(&w).map(|(y, w)| y * w).sum::<f64>() / sw;
    let sxx: f64 = d.x.iter().zip(&w).map(|(x, w)| w * (x - mx).powi(2)).sum();
    let sxy: f64 = (0..d.len())
        .map(|i| w[i] * (d.x[i] - mx) * (d.y[i] - my))
        .sum();
    // Also catches NaN: a comparison with NaN is false.
    if sxx.is_nan() || sxx <= 1e-12 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let wrss = d.wrss(|x| line(intercept, slope, x));
    wrss.is_finite().then_some(LogLinear {
        intercept,
        slope,
        wrss,
    })
}

/// y = floor + (ceiling − floor) / (1 + exp(−steepness·(x − midpoint))).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sigmoid {
    pub floor: f64,
    pub ceiling: f64,
    pub steepness: f64,
    pub midpoint: f64,
    pub wrss: f64,
}

impl Sigmoid {
    /// The floor is fixed at chance, so three free parameters.
    pub const N_PARAMS: usize = 3;
    pub fn eval(&self, x: f64) -> f64 {
        logistic(self.floor, self.ceiling, self.steepness, self.midpoint, x)
    }
}

fn line(intercept: f64, slope: f64, x: f64) -> f64 {
    intercept + slope * x
}

fn logistic(floor: f64, ceiling: f64, k: f64, x0: f64, x: f64) -> f64 {
    floor + (ceiling - floor) / (1.0 + (-k * (x - x0)).exp())
}

/// The curve a `fits.csv` row describes, evaluated where the fit was made
/// (log10 of its axis): the one formula of each shape, for whoever draws or
/// reads a saved fit.
pub trait FitRowEval {
    /// `None` for a row of another shape or with a value missing.
    fn eval(&self, x: f64) -> Option<f64>;
}

impl FitRowEval for FitRow {
    fn eval(&self, x: f64) -> Option<f64> {
        match self.shape.as_str() {
            shape::LOG_LINEAR => Some(line(self.intercept?, self.slope?, x)),
            shape::SIGMOID => Some(logistic(
                self.floor?,
                self.ceiling?,
                self.steepness?,
                self.midpoint?,
                x,
            )),
            _ => None,
        }
    }
}

/// Bounds that keep the fit meaningful: a threshold no more than one decade
/// outside the observed range (beyond that the data cannot locate it), and a
/// steepness from "spread over ~40 decades" to "a step within 1/50 decade".
pub const MAX_STEEPNESS: f64 = 50.0;
pub const MIN_STEEPNESS: f64 = 0.05;
pub const MIDPOINT_MARGIN: f64 = 1.0;

#[derive(Clone, Copy)]
struct SigmoidCost<'a> {
    data: &'a Data,
    floor: f64,
    ceiling_max: f64,
    lo: f64,
    hi: f64,
}

impl SigmoidCost<'_> {
    /// Parameters are (ceiling, ln steepness, midpoint); out-of-bounds points
    /// get a smooth quadratic penalty so Nelder–Mead walks back inside.
    fn unpack(&self, p: &[f64]) -> (f64, f64, f64, f64) {
        let (c, lk, x0) = (p[0], p[1], p[2]);
        let mut penalty = 0.0;
        let c_c = c.min(self.ceiling_max);
        penalty += (c - c_c).powi(2);
        let c = c_c;
        let lk_c = lk.clamp(MIN_STEEPNESS.ln(), MAX_STEEPNESS.ln());
        penalty += (lk - lk_c).powi(2);
        let x0_c = x0.clamp(self.lo, self.hi);
        penalty += (x0 - x0_c).powi(2);
        (c, lk_c.exp(), x0_c, penalty)
    }
}

impl CostFunction for SigmoidCost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        let (c, k, x0, penalty) = self.unpack(p);
        let r = self.data.wrss(|x| logistic(self.floor, c, k, x0, x));
        Ok(if r.is_finite() {
            r + 1e6 * penalty
        } else {
            f64::MAX
        })
    }
}

fn nelder_mead(cost: &SigmoidCost, start: [f64; 3], scale: f64) -> Option<(Vec<f64>, f64)> {
    let mut simplex = vec![start.to_vec()];
    let steps = [scale.max(1e-3) * 0.3, 0.7, 0.3];
    for (i, s) in steps.iter().enumerate() {
        let mut v = start.to_vec();
        v[i] += s;
        simplex.push(v);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).ok()?;
    let res = Executor::new(*cost, solver)
        .configure(|s| s.max_iters(1500))
        .run()
        .ok()?;
    let state = res.state();
    let best = state.best_param.clone()?;
    Some((best, state.best_cost))
}

/// Fit the sigmoid with its floor fixed at `floor`, from several starts (the
/// objective is multimodal in the midpoint); `hint` replaces them with one
/// start, e.g. the original fit when refitting a bootstrap replicate.
/// `ceiling_max` bounds the ceiling (1 for proportions): without it a curve
/// whose upper half lies beyond the ladder is "fitted" by a far-off midpoint
/// and an impossible ceiling.
pub fn fit_sigmoid(
    d: &Data,
    floor: f64,
    ceiling_max: Option<f64>,
    hint: Option<&Sigmoid>,
) -> Option<Sigmoid> {
    if d.len() < 3 {
        return None;
    }
    let xmin = d.x.iter().cloned().fold(f64::INFINITY, f64::min);
    let xmax = d.x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ymax = d.y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ymin = d.y.iter().cloned().fold(f64::INFINITY, f64::min);
    let cost = SigmoidCost {
        data: d,
        floor,
        ceiling_max: ceiling_max.unwrap_or(f64::INFINITY),
        lo: xmin - MIDPOINT_MARGIN,
        hi: xmax + MIDPOINT_MARGIN,
    };
    // The ceiling starts at whichever extreme is farther from the floor, so a
    // falling curve (e.g. a metric below chance that worsens) is also reachable.
    let ceiling0 = if (ymax - floor).abs() >= (ymin - floor).abs() {
        ymax
    } else {
        ymin
    };
    let ceiling0 = ceiling0.min(cost.ceiling_max);
    let scale = (ymax - ymin).abs().max((ceiling0 - floor).abs());
    let mut starts: Vec<[f64; 3]> = Vec::new();
    if let Some(h) = hint {
        starts.push([h.ceiling, h.steepness.ln(), h.midpoint]);
    } else {
        let span = (xmax - xmin).max(1e-6);
        for frac in [0.1, 0.3, 0.5, 0.7, 0.9] {
            for k in [2.0f64, 8.0, 30.0] {
                starts.push([ceiling0, k.ln(), xmin + frac * span]);
            }
        }
    }
    let mut best: Option<(Vec<f64>, f64)> = None;
    for s in starts {
        if let Some((p, c)) = nelder_mead(&cost, s, scale) {
            if best.as_ref().is_none_or(|b| c < b.1) {
                best = Some((p, c));
            }
        }
    }
    let (p, _) = best?;
    let (ceiling, steepness, midpoint, _) = cost.unpack(&p);
    let fit = Sigmoid {
        floor,
        ceiling,
        steepness,
        midpoint,
        wrss: 0.0,
    };
    let wrss = d.wrss(|x| fit.eval(x));
    wrss.is_finite().then_some(Sigmoid { wrss, ..fit })
}

/// Akaike information criterion with the small-sample correction; `None`
/// when n ≤ k + 1 (the correction is undefined).
pub fn aicc(wrss: f64, n: usize, k: usize) -> Option<f64> {
    if n <= k + 1 {
        return None;
    }
    let (n, k) = (n as f64, k as f64);
    Some(wrss + 2.0 * k + 2.0 * k * (k + 1.0) / (n - k - 1.0))
}

/// Bayesian information criterion.
pub fn bic(wrss: f64, n: usize, k: usize) -> f64 {
    wrss + k as f64 * (n as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(x: &[f64], f: impl Fn(f64) -> f64) -> Data {
        Data {
            x: x.to_vec(),
            y: x.iter().map(|&x| f(x)).collect(),
            sigma: vec![0.01; x.len()],
        }
    }

    #[test]
    fn log_linear_exact_line() {
        let d = data(&[4.0, 4.5, 5.0, 5.5, 6.0], |x| 0.1 + 0.2 * (x - 4.0));
        let f = fit_log_linear(&d).unwrap();
        assert!((f.slope - 0.2).abs() < 1e-9 && (f.eval(4.0) - 0.1).abs() < 1e-9);
        assert!(f.wrss < 1e-12);
    }

    #[test]
    fn sigmoid_noise_free_recovered() {
        let x: Vec<f64> = (0..8).map(|i| 4.0 + 0.3 * i as f64).collect();
        let d = data(&x, |x| logistic(0.0, 0.9, 6.0, 5.1, x));
        let f = fit_sigmoid(&d, 0.0, Some(1.0), None).unwrap();
        assert!((f.midpoint - 5.1).abs() < 0.01, "{f:?}");
        assert!((f.ceiling - 0.9).abs() < 0.01, "{f:?}");
    }

    #[test]
    fn information_criteria() {
        assert_eq!(aicc(10.0, 4, 3), None);
        assert!((aicc(10.0, 8, 2).unwrap() - (10.0 + 4.0 + 12.0 / 5.0)).abs() < 1e-12);
        assert!((bic(10.0, 8, 3) - (10.0 + 3.0 * 8f64.ln())).abs() < 1e-12);
    }
}
