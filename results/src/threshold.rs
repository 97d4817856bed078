//! N*, the size at which a curve crosses a fixed level, its 95 % interval,
//! and the verdict on a curve: `emergent`, `smooth` or `not located`.
//!
//! Why a fixed level and not the sigmoid's midpoint: the midpoint mixes where
//! a curve rises with how high it gets. Two curves that cross 0.5 exact match
//! at the same size but plateau at 0.77 and 1.0 have midpoints a decade
//! apart, and a curve that plateaus at 0.26 gets a "threshold" although it
//! never does what the task asks half the time. The level is
//! `chance + fraction·(1 − chance)` (fraction 0.5 by default, the config's
//! `eval.threshold_level`).
//!
//! - **Located.** The seed-mean curve (sizes ascending) is below the level
//!   at its smallest size and at or above it at its largest. N* is the last
//!   upward crossing: from the size above it on, every size is at or above
//!   the level. A curve that never reaches the level, starts above it, or
//!   falls back below it by the largest size is **not located** and has no
//!   N* (the reason is recorded).
//! - **Point.** Read from the preferred fitted curve where it reaches the
//!   level between the two sizes around the crossing (`fit`); otherwise
//!   interpolated linearly in log size between them (`interpolated`).
//! - **Interval.** A bootstrap over the seeds of every size and the items
//!   of every seed: each replicate's N* is read the same way, its preferred
//!   shape refitted (a replicate with no crossing counts as beyond the
//!   ladder on its side, so more than 2.5 % of those leave that side open);
//!   the percentile interval is joined with the point. **Bracket rule:**
//!   resampling cannot move a size scored 0/300, and a jump between two
//!   sizes has no measurable slope: unless both sizes around the crossing
//!   lie on the slope (each more than 1.96 standard errors from chance and
//!   from the top), where the curve crosses inside the gap rests on the
//!   fitted shape alone, so the interval covers the whole gap between them.
//! - **Verdict.** [`verdict`] is the rule, written once (docs/DESIGN.md
//!   states it in words): a located curve is `emergent` when the sigmoid is
//!   the preferred shape and some size below N* scores within
//!   [`NEAR_CHANCE`] of chance (the jump starts from nothing inside the
//!   ladder), `smooth` otherwise. The same rule runs on each seed's own
//!   curve; a curve is called emergent only when its seed mean is and at
//!   least two thirds of its seeds are ([`combine`]).

use crate::fit::{Data, LogLinear, Sigmoid};
use crate::stats::percentile;
use runfolder::schema::CurveKey;
use runfolder::schema::{shape, x_axis, FitRow};

/// The default level: halfway between chance and a perfect score.
pub const DEFAULT_LEVEL_FRACTION: f64 = 0.5;
/// A size "at chance" for the verdict: within this much of the chance level
/// (the bracket definition of docs/CALIBRATION.md).
pub const NEAR_CHANCE: f64 = 0.05;
/// Width (in decades) under which a refinement loop may stop: "N* located
/// to within 0.2 decade" is read as the whole interval spanning at most this.
pub const LOCATED_DECADES: f64 = 0.2;

/// The absolute level for a curve with this chance level.
pub fn level(chance: f64, fraction: f64) -> f64 {
    chance + fraction * (1.0 - chance)
}

/// How a curve (values over sizes ascending) meets the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// Below the level at index `below`, at or above it at every larger index.
    Up { below: usize },
    /// Below the level at every size.
    NeverReaches,
    /// At or above the level already at the smallest size.
    StartsAbove,
    /// Reaches the level, then is below it again at the largest size.
    FallsBack,
}

impl Crossing {
    /// Why a curve is not located, in a few words (empty for `Up`).
    pub fn why(&self) -> &'static str {
        match self {
            Crossing::Up { .. } => "",
            Crossing::NeverReaches => "never reaches the level",
            Crossing::StartsAbove => "at or above the level from the smallest size",
            Crossing::FallsBack => "falls back below the level by the largest size",
        }
    }
}

/// The last upward crossing of `level` by `y` (not empty).
pub fn crossing(y: &[f64], level: f64) -> Crossing {
    let n = y.len();
    if y.iter().all(|&v| v < level) {
        return Crossing::NeverReaches;
    }
    if y[0] >= level {
        return Crossing::StartsAbove;
    }
    if y[n - 1] < level {
        return Crossing::FallsBack;
    }
    let mut j = n - 1;
    while y[j - 1] >= level {
        j -= 1;
    }
    Crossing::Up { below: j - 1 }
}

/// The crossing interpolated linearly in x between `below` and `below + 1`.
pub fn interpolate(x: &[f64], y: &[f64], below: usize, level: f64) -> f64 {
    let (x0, x1, y0, y1) = (x[below], x[below + 1], y[below], y[below + 1]);
    x0 + (level - y0) / (y1 - y0) * (x1 - x0)
}

/// A fitted shape, as far as reading a level off it goes.
#[derive(Debug, Clone, Copy)]
pub enum Fitted {
    LogLinear(LogLinear),
    Sigmoid(Sigmoid),
}

impl Fitted {
    /// Where the curve takes the value `level`, if it ever does.
    pub fn x_at(&self, level: f64) -> Option<f64> {
        let x = match *self {
            Fitted::LogLinear(l) => (l.slope != 0.0).then(|| (level - l.intercept) / l.slope)?,
            Fitted::Sigmoid(s) => {
                let t = (level - s.floor) / (s.ceiling - s.floor);
                if !(t > 0.0 && t < 1.0) {
                    return None;
                }
                s.midpoint - (1.0 / t - 1.0).ln() / s.steepness
            }
        };
        x.is_finite().then_some(x)
    }
}

/// N* of one curve: where, how it was read, and the sizes around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// log10 of N*.
    pub x: f64,
    /// `fit` or `interpolated`.
    pub method: &'static str,
    /// Index of the size just below the crossing.
    pub below: usize,
}

/// N* of the curve `d` at `level`: from `fit` where it reaches the level
/// between the two sizes around the crossing, else interpolated. `Err` with
/// the crossing when the curve is not located.
pub fn estimate(d: &Data, level: f64, fit: Option<Fitted>) -> Result<Estimate, Crossing> {
    let c = crossing(&d.y, level);
    let Crossing::Up { below } = c else {
        return Err(c);
    };
    let (a, b) = (d.x[below], d.x[below + 1]);
    if let Some(x) = fit
        .and_then(|f| f.x_at(level))
        .filter(|x| (a..=b).contains(x))
    {
        return Ok(Estimate {
            x,
            method: "fit",
            below,
        });
    }
    Ok(Estimate {
        x: interpolate(&d.x, &d.y, below, level),
        method: "interpolated",
        below,
    })
}

/// N*'s 95 % interval in log10; `None` on a side means open: in more than
/// 2.5 % of replicates the curve is not located on that side of the ladder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// `bracket` (exactly the gap between the two sizes around N*: all the
    /// data say) or `bootstrap`.
    pub method: &'static str,
}

impl Interval {
    /// Width in decades (infinite when open).
    pub fn width(&self) -> f64 {
        match (self.lo, self.hi) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => f64::INFINITY,
        }
    }
}

/// Whether the size at index `i` lies on the slope: its value is more than
/// 1.96 standard errors from both chance and `top`.
fn on_slope(d: &Data, i: usize, chance: f64, top: f64) -> bool {
    let band = 1.96 * d.sigma[i];
    (d.y[i] - chance).abs() > band && (d.y[i] - top).abs() > band
}

/// A bootstrap replicate's N* (log10) for [`interval`]: a replicate that
/// is not located lies beyond the ladder on its side (−∞ when it starts
/// above the level, +∞ otherwise).
pub fn replicate_x(r: Result<Estimate, Crossing>) -> f64 {
    match r {
        Ok(e) => e.x,
        Err(Crossing::StartsAbove) => f64::NEG_INFINITY,
        Err(_) => f64::INFINITY,
    }
}

/// The interval of `est` from the N* of bootstrap replicates (`reps`,
/// log10, see [`replicate_x`]; none without item data), joined with the
/// point, with the bracket rule. `top` is the curve's upper plateau (the
/// sigmoid's ceiling, or the largest value).
pub fn interval(d: &Data, est: &Estimate, chance: f64, top: f64, reps: &[f64]) -> Interval {
    let (a, b) = (d.x[est.below], d.x[est.below + 1]);
    let (mut lo, mut hi) = (est.x, est.x);
    if !reps.is_empty() {
        let mut xs = reps.to_vec();
        lo = lo.min(percentile(&mut xs, 0.025));
        hi = hi.max(percentile(&mut xs, 0.975));
    }
    // Inside the gap, where the curve crosses is read off the points on
    // each side; with a side at chance or at the top, the crossing's place
    // in the gap rests on the fitted shape alone, which no bootstrap tests.
    let bracket = reps.is_empty()
        || !on_slope(d, est.below, chance, top)
        || !on_slope(d, est.below + 1, chance, top);
    if bracket {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    Interval {
        lo: lo.is_finite().then_some(lo),
        hi: hi.is_finite().then_some(hi),
        method: if lo == a && hi == b {
            "bracket"
        } else {
            "bootstrap"
        },
    }
}

/// What a curve shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Emergent,
    Smooth,
    NotLocated,
}

impl Verdict {
    /// The `fits.csv` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Emergent => "emergent",
            Verdict::Smooth => "smooth",
            Verdict::NotLocated => "not_located",
        }
    }
}

/// The verdict rule on one curve (a seed mean or one seed's): not located
/// unless it crosses `level` (see [`crossing`]); then emergent when the
/// sigmoid is preferred and some size below the crossing is within
/// [`NEAR_CHANCE`] of `chance`; smooth otherwise.
pub fn verdict(y: &[f64], chance: f64, level: f64, sigmoid_preferred: bool) -> Verdict {
    match crossing(y, level) {
        Crossing::Up { below } => {
            let from_chance = y[..=below].iter().any(|&v| v <= chance + NEAR_CHANCE);
            if sigmoid_preferred && from_chance {
                Verdict::Emergent
            } else {
                Verdict::Smooth
            }
        }
        _ => Verdict::NotLocated,
    }
}

/// The curve's verdict from its seed mean's and each seed's: emergent only
/// when the mean is and at least two thirds of the seeds are (2 of 3);
/// a mean that is emergent without that agreement is called smooth. Returns
/// the verdict and how many seeds agree with it.
pub fn combine(mean: Verdict, seeds: &[Verdict]) -> (Verdict, usize) {
    let n = seeds.len();
    let emergent = seeds.iter().filter(|&&v| v == Verdict::Emergent).count();
    let v = match mean {
        Verdict::Emergent if 3 * emergent >= 2 * n => Verdict::Emergent,
        Verdict::Emergent => Verdict::Smooth,
        v => v,
    };
    (v, seeds.iter().filter(|&&s| s == v).count())
}

/// A transition on a run's parameter axis, as a ladder-refinement loop
/// needs it: where N* is, which two ladder sizes straddle it, and whether
/// the data already pin it down.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub key: CurveKey,
    /// N* in non-embedding parameters.
    pub n_star: f64,
    /// Its 95 % interval (parameters), as in `fits.csv`; `None` when open.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// `fits.csv`'s `interval_method`.
    pub method: String,
    /// The ladder sizes around N* (non-embedding parameters).
    pub straddle: Option<(u64, u64)>,
    /// The interval is closed and spans at most [`LOCATED_DECADES`].
    pub located: bool,
}

/// Every located N* of an analysis on the parameter axis (one per curve:
/// both shape rows carry it, the sigmoid's is read).
pub fn transitions(fits: &[FitRow]) -> Vec<Transition> {
    fits.iter()
        .filter(|r| r.x_axis == x_axis::PARAMS && r.shape == shape::SIGMOID)
        .filter_map(|r| {
            let n_star = r.threshold_params?;
            Some(Transition {
                key: CurveKey {
                    task: r.task.clone(),
                    mode: r.mode,
                    shots: r.shots,
                    metric: r.metric.clone(),
                },
                n_star,
                lo: r.threshold_lo,
                hi: r.threshold_hi,
                method: r.interval_method.clone(),
                straddle: r
                    .threshold_below
                    .zip(r.threshold_above)
                    .map(|(a, b)| (a.round() as u64, b.round() as u64)),
                located: r
                    .threshold_lo
                    .zip(r.threshold_hi)
                    .is_some_and(|(lo, hi)| (hi / lo).log10() <= LOCATED_DECADES + 1e-9),
            })
        })
        .collect()
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

    /// Replicate values to replicate N*s, interpolated.
    fn rep_x(x: &[f64], reps: &[Vec<f64>], level: f64) -> Vec<f64> {
        reps.iter()
            .map(|y| replicate_x(estimate(&data(x, y, 0.01), level, None)))
            .collect()
    }

    #[test]
    fn crossings() {
        assert_eq!(
            crossing(&[0.0, 0.1, 0.6, 0.9], 0.5),
            Crossing::Up { below: 1 }
        );
        // The last upward crossing: a dip back below moves it up.
        assert_eq!(
            crossing(&[0.0, 0.6, 0.4, 0.9], 0.5),
            Crossing::Up { below: 2 }
        );
        assert_eq!(crossing(&[0.0, 0.1, 0.2], 0.5), Crossing::NeverReaches);
        assert_eq!(crossing(&[0.9, 0.6, 0.2], 0.5), Crossing::StartsAbove);
        assert_eq!(crossing(&[0.6, 0.7, 0.9], 0.5), Crossing::StartsAbove);
        assert_eq!(crossing(&[0.1, 0.7, 0.3], 0.5), Crossing::FallsBack);
    }

    #[test]
    fn the_ceiling_no_longer_moves_n_star() {
        // Two sigmoids that cross 0.5 at the same size, with ceilings 0.77
        // and 1.0: their midpoints differ, their N* at the level does not.
        let x: Vec<f64> = (0..9).map(|i| 3.5 + 0.25 * i as f64).collect();
        let n_star = 4.6;
        let mut found = Vec::new();
        for ceiling in [0.77, 1.0] {
            // Midpoint chosen so that the curve is 0.5 at n_star (k = 6).
            let k = 6.0;
            let t = 0.5 / ceiling;
            let x0 = n_star + (1.0f64 / t - 1.0).ln() / k;
            let y: Vec<f64> = x
                .iter()
                .map(|&v| ceiling / (1.0 + (-k * (v - x0)).exp()))
                .collect();
            let d = data(&x, &y, 0.01);
            let f = fit_sigmoid(&d, 0.0, Some(1.0), None).unwrap();
            let e = estimate(&d, 0.5, Some(Fitted::Sigmoid(f))).unwrap();
            assert_eq!(e.method, "fit");
            found.push((f.midpoint, e.x));
        }
        assert!((found[0].1 - n_star).abs() < 0.01, "{found:?}");
        assert!((found[1].1 - n_star).abs() < 0.01, "{found:?}");
        assert!((found[0].0 - found[1].0).abs() > 0.1, "{found:?}");
    }

    #[test]
    fn interpolated_when_the_fit_misses_the_gap_and_a_jump_gives_the_whole_gap() {
        let x = [3.5, 4.0, 4.5, 5.0, 5.5, 6.0];
        let d = data(&x, &[0.0, 0.0, 0.0, 0.0, 0.997, 1.0], 0.004);
        let e = estimate(&d, 0.5, None).unwrap();
        assert_eq!((e.method, e.below), ("interpolated", 3));
        assert!((e.x - (5.0 + 0.5 / 0.997 * 0.5)).abs() < 1e-12);
        // Replicates cannot move 0/300 or 300/300: still the whole gap.
        let reps = rep_x(&x, &vec![d.y.clone(); 50], 0.5);
        let iv = interval(&d, &e, 0.0, 1.0, &reps);
        assert_eq!(iv.method, "bracket");
        assert_eq!((iv.lo, iv.hi), (Some(5.0), Some(5.5)));
    }

    #[test]
    fn a_size_on_the_slope_narrows_the_interval_below_the_gap() {
        let x = [4.0, 4.5, 5.0, 5.5];
        let d = data(&x, &[0.0, 0.3, 0.7, 1.0], 0.02);
        let e = estimate(&d, 0.5, None).unwrap();
        // Replicates jitter both slope points by about their error.
        let reps: Vec<Vec<f64>> = (0..200)
            .map(|i| {
                let j = (i as f64 / 199.0 - 0.5) * 0.06;
                vec![0.0, 0.3 + j, 0.7 + j, 1.0]
            })
            .collect();
        let iv = interval(&d, &e, 0.0, 1.0, &rep_x(&x, &reps, 0.5));
        assert_eq!(iv.method, "bootstrap");
        let (lo, hi) = (iv.lo.unwrap(), iv.hi.unwrap());
        assert!(lo > 4.5 && hi < 5.0 && lo < e.x && e.x < hi, "{iv:?} {e:?}");
    }

    #[test]
    fn replicates_that_are_not_located_open_the_interval() {
        let x = [4.0, 4.5, 5.0];
        let d = data(&x, &[0.0, 0.3, 0.55], 0.03);
        let e = estimate(&d, 0.5, None).unwrap();
        // A tenth of the replicates never reach the level: open above.
        let reps: Vec<Vec<f64>> = (0..100)
            .map(|i| {
                if i % 10 == 0 {
                    vec![0.0, 0.3, 0.45]
                } else {
                    vec![0.0, 0.3, 0.55]
                }
            })
            .collect();
        let iv = interval(&d, &e, 0.0, 0.55, &rep_x(&x, &reps, 0.5));
        assert_eq!(iv.hi, None, "{iv:?}");
        assert!(iv.lo.is_some() && iv.width().is_infinite());
    }

    #[test]
    fn verdicts_and_seed_agreement() {
        let v = |y: &[f64], pref: bool| verdict(y, 0.0, 0.5, pref);
        assert_eq!(v(&[0.0, 0.0, 0.9, 1.0], true), Verdict::Emergent);
        // Log-linear preferred, or no size near chance: smooth.
        assert_eq!(v(&[0.0, 0.3, 0.6, 0.9], false), Verdict::Smooth);
        assert_eq!(v(&[0.2, 0.3, 0.6, 0.9], true), Verdict::Smooth);
        assert_eq!(v(&[0.0, 0.1, 0.2, 0.3], true), Verdict::NotLocated);
        assert_eq!(v(&[0.9, 0.6, 0.2, 0.0], true), Verdict::NotLocated);
        use Verdict::*;
        assert_eq!(
            combine(Emergent, &[Emergent, Emergent, Smooth]),
            (Emergent, 2)
        );
        assert_eq!(combine(Emergent, &[Emergent, Smooth, Smooth]), (Smooth, 2));
        assert_eq!(
            combine(Smooth, &[Emergent, Emergent, Emergent]),
            (Smooth, 0)
        );
        assert_eq!(
            combine(NotLocated, &[NotLocated, Smooth, NotLocated]),
            (NotLocated, 2)
        );
        assert_eq!(combine(Emergent, &[Emergent]), (Emergent, 1));
    }
}
