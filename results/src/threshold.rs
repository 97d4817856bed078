//! The 95 % interval of a sigmoid's threshold N* that a sparse ladder cannot
//! fool: a profile likelihood over the midpoint, widened by the bracket rule.
//!
//! Why not the item bootstrap alone: resampling items cannot move a size
//! scored 0/300 or 300/300, and when the jump falls between two sizes the
//! fit's steepness runs to its bound and the midpoint can slide anywhere in
//! the gap at no cost in fit. An item bootstrap then reports a sliver.
//!
//! - **Profile likelihood.** For every candidate midpoint x0 the other two
//!   free parameters (ceiling, steepness) are re-optimized, giving the best
//!   chi-square χ²(x0) the curve can reach with its threshold at x0. The
//!   interval is every x0 with χ²(x0) ≤ min χ² + 3.84 (the 95 % quantile of
//!   χ² with one degree of freedom), closed over gaps. The chi-square is the
//!   same weighted residual sum the fit minimizes ([`crate::fit`]), so the
//!   weights carry each point's standard error, seed spread included. When
//!   the best fit's χ² exceeds its degrees of freedom, the error bars
//!   understate the scatter and the cut-off grows by that ratio.
//! - **Bracket rule.** When neither of the two sizes that straddle the
//!   fitted midpoint lies on the slope (each is within its own 95 % band of
//!   the floor or of the ceiling), the data only say "between these two
//!   sizes": the interval is widened to cover the whole gap. The steepness
//!   bound would otherwise shave ~0.1 decade off each end.
//!
//! [`threshold_interval`] works on bare [`Data`] so planted-curve tests can
//! call it without a run folder; [`transitions`] reads an analysis back for a
//! ladder-refinement loop (which sizes straddle each N*, and is it located).

use crate::error::Result;
use crate::fit::{Data, Sigmoid, MAX_STEEPNESS, MIDPOINT_MARGIN, MIN_STEEPNESS};
use crate::load::{CurveKey, Run};
use crate::schema::{shape, x_axis, FitRow};

/// 95 % quantile of χ² with one degree of freedom.
pub const CHI2_95_1DF: f64 = 3.841_458_820_694_124;
/// Width (in decades) under which a refinement loop may stop: the issue's
/// "N* located to within 0.2 decade" is read as the whole interval spanning
/// at most this much.
pub const LOCATED_DECADES: f64 = 0.2;

/// Which rule set the interval's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The profile likelihood's set.
    Profile,
    /// Exactly the gap between the two straddling sizes: all the data say.
    Bracket,
    /// Widened by a bootstrap over seeds and items (several seeds).
    Bootstrap,
}

impl Method {
    /// The `fits.csv` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Profile => "profile",
            Method::Bracket => "bracket",
            Method::Bootstrap => "bootstrap",
        }
    }
}

/// A threshold interval in log10 units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    pub method: Method,
    /// The two x values (log10) around the fitted midpoint; `None` when the
    /// midpoint lies outside the measured range.
    pub straddle: Option<(f64, f64)>,
    /// A bound reached the fit's own limit (one decade beyond the ladder):
    /// the data do not close the interval on that side.
    pub open_lo: bool,
    pub open_hi: bool,
}

impl Interval {
    /// Width in decades.
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    /// Whether N* is pinned to within `decades` (closed on both sides).
    pub fn located(&self, decades: f64) -> bool {
        !self.open_lo && !self.open_hi && self.width() <= decades
    }

    /// The hull with `[lo, hi]`; the method becomes `method` if that widened it.
    pub fn widen(&mut self, lo: f64, hi: f64, method: Method) {
        if lo < self.lo || hi > self.hi {
            self.lo = self.lo.min(lo);
            self.hi = self.hi.max(hi);
            self.method = method;
        }
    }
}

/// The chi-square of the best curve with steepness `k` and midpoint `x0`:
/// the model is linear in the ceiling, so it comes in closed form (capped at
/// `ceiling_max`, as the fit caps it).
fn best_ceiling_wrss(d: &Data, floor: f64, ceiling_max: f64, k: f64, x0: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..d.len() {
        let s = 1.0 / (1.0 + (-k * (d.x[i] - x0)).exp());
        let w = 1.0 / (d.sigma[i] * d.sigma[i]);
        num += w * (d.y[i] - floor) * s;
        den += w * s * s;
    }
    let c = if den > 0.0 { floor + num / den } else { floor };
    let c = c.min(ceiling_max);
    (0..d.len())
        .map(|i| {
            let s = 1.0 / (1.0 + (-k * (d.x[i] - x0)).exp());
            ((d.y[i] - floor - (c - floor) * s) / d.sigma[i]).powi(2)
        })
        .sum()
}

/// Steepness grid (log-spaced between the fit's bounds) for the profile.
const K_GRID: usize = 33;
/// Golden-section refinements of the best steepness cell.
const K_REFINE: usize = 24;

/// The profile chi-square at midpoint `x0`: minimized over steepness (log
/// grid, then golden section around the best cell) and ceiling.
pub fn profile_wrss(d: &Data, floor: f64, ceiling_max: Option<f64>, x0: f64) -> f64 {
    let cmax = ceiling_max.unwrap_or(f64::INFINITY);
    let (a, b) = (MIN_STEEPNESS.ln(), MAX_STEEPNESS.ln());
    let step = (b - a) / (K_GRID - 1) as f64;
    let f = |lk: f64| best_ceiling_wrss(d, floor, cmax, lk.exp(), x0);
    let (mut best_i, mut best) = (0, f64::INFINITY);
    for i in 0..K_GRID {
        let v = f(a + step * i as f64);
        if v < best {
            (best_i, best) = (i, v);
        }
    }
    let mut lo = a + step * best_i.saturating_sub(1) as f64;
    let mut hi = (a + step * (best_i + 1) as f64).min(b);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..K_REFINE {
        let (m1, m2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        let (f1, f2) = (f(m1), f(m2));
        best = best.min(f1).min(f2);
        if f1 < f2 {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    best
}

/// Midpoint grid step of the profile scan (decades); edges are then bisected.
const X_STEP: f64 = 0.02;
const EDGE_BISECTIONS: usize = 12;

/// The profile-likelihood 95 % set of the midpoint, closed over gaps, within
/// the fit's own bounds. Returns (lo, hi, open_lo, open_hi).
pub fn profile_interval(
    d: &Data,
    fit: &Sigmoid,
    ceiling_max: Option<f64>,
) -> Option<(f64, f64, bool, bool)> {
    if d.len() < 3 {
        return None;
    }
    let xmin = d.x.iter().cloned().fold(f64::INFINITY, f64::min);
    let xmax = d.x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (a, b) = (xmin - MIDPOINT_MARGIN, xmax + MIDPOINT_MARGIN);
    let n = ((b - a) / X_STEP).ceil() as usize;
    let grid: Vec<f64> = (0..=n).map(|i| a + (b - a) * i as f64 / n as f64).collect();
    let p = |x0: f64| profile_wrss(d, fit.floor, ceiling_max, x0);
    let prof: Vec<f64> = grid.iter().map(|&x| p(x)).collect();
    let best = prof.iter().cloned().fold(fit.wrss, f64::min);
    if !best.is_finite() {
        return None;
    }
    // More scatter about the best fit than the error bars allow (χ² above
    // its degrees of freedom) means the bars understate the noise: the
    // cut-off grows by that ratio, as a quasi-likelihood's dispersion does.
    let dof = d.len().saturating_sub(Sigmoid::N_PARAMS).max(1) as f64;
    let cut = best + CHI2_95_1DF * (best / dof).max(1.0);
    let inside = |v: f64| v <= cut;
    // The fitted midpoint always belongs: the grid may step over a narrow dip.
    let first = prof.iter().position(|&v| inside(v));
    let last = prof.iter().rposition(|&v| inside(v));
    let (mut lo, mut hi, open_lo, open_hi) = match (first, last) {
        (Some(i), Some(j)) => {
            let lo = if i == 0 {
                a
            } else {
                bisect(&p, grid[i - 1], grid[i], cut)
            };
            let hi = if j == n {
                b
            } else {
                bisect(&p, grid[j + 1], grid[j], cut)
            };
            (lo, hi, i == 0, j == n)
        }
        _ => (fit.midpoint, fit.midpoint, false, false),
    };
    lo = lo.min(fit.midpoint);
    hi = hi.max(fit.midpoint);
    Some((lo, hi, open_lo, open_hi))
}

/// The boundary of {x : f(x) ≤ cut} between `out` (above the cut) and `inn`
/// (at or below it).
fn bisect(f: &impl Fn(f64) -> f64, mut out: f64, mut inn: f64, cut: f64) -> f64 {
    for _ in 0..EDGE_BISECTIONS {
        let m = 0.5 * (out + inn);
        if f(m) <= cut {
            inn = m;
        } else {
            out = m;
        }
    }
    inn
}

/// The distinct x values just below-or-at and just above `x0`, if any.
pub fn straddling(x: &[f64], x0: f64) -> Option<(f64, f64)> {
    let below = x
        .iter()
        .cloned()
        .filter(|&v| v <= x0)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
    let above = x
        .iter()
        .cloned()
        .filter(|&v| v > x0)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))?;
    Some((below, above))
}

/// Whether the points at x value `xv` are on the slope of `fit`: their
/// (averaged) value is outside its 95 % band around both the floor and the
/// ceiling.
fn on_slope(d: &Data, fit: &Sigmoid, xv: f64) -> bool {
    d.x.iter()
        .zip(&d.y)
        .zip(&d.sigma)
        .filter(|((&x, _), _)| x == xv)
        .any(|((_, &y), &s)| (y - fit.floor).abs() > 1.96 * s && (y - fit.ceiling).abs() > 1.96 * s)
}

/// N*'s 95 % interval (log10): the profile-likelihood set, widened to the
/// gap between the straddling sizes when neither lies on the slope.
pub fn threshold_interval(d: &Data, fit: &Sigmoid, ceiling_max: Option<f64>) -> Option<Interval> {
    let (lo, hi, open_lo, open_hi) = profile_interval(d, fit, ceiling_max)?;
    let straddle = straddling(&d.x, fit.midpoint);
    let mut iv = Interval {
        lo,
        hi,
        method: Method::Profile,
        straddle,
        open_lo,
        open_hi,
    };
    if let Some((a, b)) = straddle {
        if !on_slope(d, fit, a) && !on_slope(d, fit, b) {
            iv.lo = iv.lo.min(a);
            iv.hi = iv.hi.max(b);
            // "Bracket" only when the gap is the whole interval: then the
            // data say nothing but "between these two sizes".
            if iv.lo == a && iv.hi == b {
                iv.method = Method::Bracket;
            }
        }
    }
    Some(iv)
}

/// A transition on a run's parameter axis, as a ladder-refinement loop
/// needs it: where N* is, which two ladder sizes straddle it, and whether
/// the data already pin it down.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub key: CurveKey,
    /// N* in non-embedding parameters.
    pub n_star: f64,
    /// Its 95 % interval (parameters), as in `fits.csv`.
    pub lo: f64,
    pub hi: f64,
    /// `fits.csv`'s `threshold_method`.
    pub method: String,
    /// The ladder sizes around N* (non-embedding parameters); `None` when
    /// N* lies outside the ladder, where a new size belongs beyond its end.
    pub straddle: Option<(u64, u64)>,
    /// The interval spans at most [`LOCATED_DECADES`].
    pub located: bool,
}

/// Every transition of an analysis: the curves on the parameter axis whose
/// preferred shape is the sigmoid and whose N* has an interval.
pub fn transitions(fits: &[FitRow]) -> Vec<Transition> {
    fits.iter()
        .filter(|r| {
            r.x_axis == x_axis::PARAMS
                && r.shape == shape::SIGMOID
                && r.preferred
                && r.status == "ok"
        })
        .filter_map(|r| {
            let (n_star, lo, hi) = (r.threshold_params?, r.threshold_lo?, r.threshold_hi?);
            Some(Transition {
                key: CurveKey {
                    task: r.task.clone(),
                    mode: r.mode,
                    shots: r.shots,
                    metric: r.metric.clone(),
                },
                n_star,
                lo,
                hi,
                method: r.threshold_method.clone(),
                straddle: r
                    .threshold_below
                    .zip(r.threshold_above)
                    .map(|(a, b)| (a.round() as u64, b.round() as u64)),
                located: (hi / lo).log10() <= LOCATED_DECADES,
            })
        })
        .collect()
}

/// [`transitions`] of a loaded run (fits it first).
pub fn run_transitions(run: &Run) -> Result<Vec<Transition>> {
    Ok(transitions(&crate::analyze::analyze(run)?.fits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::fit_sigmoid;

    fn data(x: &[f64], y: &[f64], s: f64) -> Data {
        Data {
            x: x.to_vec(),
            y: y.to_vec(),
            sigma: vec![s; x.len()],
        }
    }

    #[test]
    fn a_jump_between_two_sizes_gives_the_whole_gap() {
        // 0 at 1e5, ~1 at 10^5.5: the cot curve.
        let x = [3.5, 4.0, 4.5, 5.0, 5.5, 6.0];
        let d = data(&x, &[0.0, 0.0, 0.0, 0.0, 0.997, 1.0], 0.004);
        let f = fit_sigmoid(&d, 0.0, Some(1.0), None).unwrap();
        let iv = threshold_interval(&d, &f, Some(1.0)).unwrap();
        assert_eq!(iv.method, Method::Bracket, "{iv:?}");
        assert_eq!((iv.lo, iv.hi), (5.0, 5.5));
        assert_eq!(iv.straddle, Some((5.0, 5.5)));
        assert!(!iv.located(LOCATED_DECADES));
    }

    #[test]
    fn a_point_on_the_slope_pins_the_threshold() {
        // A dense, smooth curve: the profile is narrower than any gap would be.
        let x: Vec<f64> = (0..13).map(|i| 4.0 + 0.2 * i as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&x| 0.9 / (1.0 + (-4.0 * (x - 5.1f64)).exp()))
            .collect();
        let d = data(&x, &y, 0.01);
        let f = fit_sigmoid(&d, 0.0, Some(1.0), None).unwrap();
        let iv = threshold_interval(&d, &f, Some(1.0)).unwrap();
        assert_eq!(iv.method, Method::Profile, "{iv:?}");
        assert!(iv.lo < 5.1 && 5.1 < iv.hi && iv.width() < 0.1, "{iv:?}");
        assert!(iv.located(LOCATED_DECADES));
    }

    #[test]
    fn a_curve_that_stops_on_the_slope_stays_open() {
        // The direct curve: 0 up to 1e5, 0.37 at the largest size.
        let x = [3.5, 4.0, 4.5, 5.0, 5.5];
        let d = data(&x, &[0.0, 0.0, 0.0, 0.0, 0.37], 0.028);
        let f = fit_sigmoid(&d, 0.0, Some(1.0), None).unwrap();
        let iv = threshold_interval(&d, &f, Some(1.0)).unwrap();
        // The ceiling may lie anywhere up to 1, so N* may lie beyond the ladder.
        assert!(iv.hi > 5.5 && iv.lo <= 5.0, "{iv:?}");
    }

    #[test]
    fn straddling_sizes() {
        let x = [4.0, 4.5, 5.0];
        assert_eq!(straddling(&x, 4.7), Some((4.5, 5.0)));
        assert_eq!(straddling(&x, 4.5), Some((4.5, 5.0)));
        assert_eq!(straddling(&x, 3.9), None);
        assert_eq!(straddling(&x, 5.0), None);
    }
}
