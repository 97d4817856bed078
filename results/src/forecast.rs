//! Forecast, then check: N* predicted from the sizes below it alone, and
//! scored against the N* the ladder's larger sizes measured.
//!
//! For every exact-match curve (parameter axis) with a located fixed-level
//! N* ([`crate::threshold`], `fits.csv` `threshold_method` `fit` or
//! `interpolated`), the sizes used are those up to the crossing whose seed
//! mean is below the level; fewer than [`MIN_BELOW`] is "too few sizes
//! below". Three predictors, each fitted to those sizes only:
//!
//! - **`log_linear`**: exact match linear in log size (weighted least
//!   squares, as `fits.csv`'s log-linear shape), read where it reaches the
//!   level.
//! - **`sigmoid`**: exact match = chance + (1 − chance)·σ(k·(x − x0)), the
//!   ceiling fixed at a perfect score (below the level a ceiling cannot be
//!   measured), weighted least squares; read where it reaches the level.
//! - **`logprob`**: the gold completion's total log-probability per item,
//!   s = `completion_logprob · completion_tokens`, which is the log of the
//!   chance that sampling writes the gold completion: a pass rate with
//!   unlimited resolution, measured where exact match is still 0.
//!   - *Trend* (PassUntil's law): log(−s_i) = a_i + b·log10 N, one
//!     intercept per item (its difficulty) and one slope shared by all
//!     (three or four sizes cannot fit a slope per item).
//!   - *Link*: exact match is greedy decoding, not sampling; greedy passes
//!     an item well before the gold completion's probability reaches the
//!     level (ten tokens at 0.9 each: the sequence has p = 0.35, greedy
//!     writes it). So P(pass | s) = σ(α + β·s) is a logistic regression
//!     of the sub-threshold items' own exact match on their s (calibrated
//!     below the level, never above it); with fewer than [`MIN_LINK`] items
//!     right or wrong there it falls back to sampling, P = exp(s).
//!   - Forecast exact match at x: the mean over items of the link at each
//!     item's extrapolated s_i(x).
//!   - Which tokens count: the completion the mode asks for (`direct`: the
//!     answer; `cot`: trace, answer cue and answer), the same text
//!     `completion_logprob` and free generation score. A chain-of-thought
//!     answer is right only when the model also writes a right trace, and
//!     the answer after a gold trace is nearly certain at every size (it is
//!     the trace's last line), so those tokens alone would forecast nothing.
//!   - Without `samples.csv` (gallery folders keep only `scores.csv`), the
//!     same trend and link on the seed means: the mean log-probability per
//!     token L, log(−L) linear in log size, and exact match =
//!     chance + (1 − chance)·σ(k·(L − L0)) fitted on the sizes used
//!     (`basis` = `means`); the completion length is absorbed into k.
//!
//! **Interval** (95 %): [`REPS`] replicates refit each predictor: resampling
//! items and seeds (`samples.csv`), else drawing each point from its own
//! interval; a replicate whose trend never reaches the level within
//! [`REACH`] decades of the largest size used lies beyond it, and more than
//! 2.5 % of those leave that side open. Joined with the point, as for N*.
//! `covered`: the measured N* lies inside it. Seeded per curve and
//! predictor, so `forecast.csv` is byte-identical for one run folder.

use crate::analyze::replicates;
use crate::bootstrap::ItemIndex;
use crate::curve::{several_seeds, Series};
use crate::error::{Error, Result};
use crate::fit::{fit_log_linear, Data};
use crate::load::Run;
use crate::stats::{percentile, stable_hash};
use crate::threshold::{self, Crossing};
use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runfolder::schema::CurveKey;
use runfolder::schema::{files, metric, shape, x_axis, FitRow, ForecastRow};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Fewer sizes below the level than this: no forecast.
pub const MIN_BELOW: usize = 3;
/// Replicates per forecast interval.
pub const REPS: usize = 200;
/// How far past the largest size used (decades) a forecast may land;
/// beyond it the trend "does not reach the level".
pub const REACH: f64 = 2.0;
/// Items right (and wrong) below the level needed to calibrate the
/// log-probability predictor's link; with fewer it is exp(s).
pub const MIN_LINK: usize = 5;
/// Base seed of the forecast replicates.
pub const FORECAST_SEED: u64 = 0x666f_7265_6361_7374; // "forecast"

/// Predictor names (`forecast.csv`'s `predictor`).
pub mod predictor {
    pub const LOG_LINEAR: &str = "log_linear";
    pub const SIGMOID: &str = "sigmoid";
    pub const LOGPROB: &str = "logprob";
    pub const ALL: [&str; 3] = [LOG_LINEAR, SIGMOID, LOGPROB];
}

/// What a predictor was fitted to (`forecast.csv`'s `basis`).
pub mod basis {
    pub const POINTS: &str = "points";
    pub const ITEMS: &str = "items";
    pub const ITEMS_PER_TOKEN: &str = "items_per_token";
    pub const MEANS: &str = "means";
}

/// A measured or forecast N* in log10 parameters; `None` bounds are open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NStar {
    pub x: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// One predictor's forecast of one curve, for the table and the chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub predictor: &'static str,
    pub basis: &'static str,
    /// `None` when the trend does not reach the level (`note` says why).
    pub n_star: Option<NStar>,
    /// Forecast exact match on a grid of log10 sizes: (x, point, lo, hi),
    /// the band from the replicates.
    pub curve: Vec<(f64, f64, f64, f64)>,
    pub note: String,
}

/// The forecasts of one curve.
#[derive(Debug, Clone)]
pub struct CurveForecast {
    /// The exact-match curve.
    pub key: CurveKey,
    pub level: f64,
    pub chance: f64,
    pub measured: NStar,
    /// Sizes (log10) fitted, ascending.
    pub used: Vec<f64>,
    /// Empty when fewer than [`MIN_BELOW`] sizes lie below the level.
    pub lines: Vec<Line>,
    pub interval_noise: &'static str,
}

/// Every forecast of a run, and notes for the user.
#[derive(Debug, Clone, Default)]
pub struct Forecast {
    pub curves: Vec<CurveForecast>,
    pub notes: Vec<String>,
}

/// A fitted predictor: exact match as a function of x = log10 size.
#[derive(Debug, Clone)]
enum Model {
    Line {
        a: f64,
        b: f64,
    },
    /// chance + (1 − chance)·σ(k·(z − z0)) with z = x.
    Rise(Rise),
    /// L(x) = −exp(a + b·x), exact match = rise(L(x)).
    Means {
        a: f64,
        b: f64,
        link: Rise,
    },
    /// Mean over items of link(−exp(a_i + b·x)).
    Items {
        a: Vec<f64>,
        b: f64,
        link: Link,
    },
}

#[derive(Debug, Clone, Copy)]
struct Rise {
    chance: f64,
    k: f64,
    z0: f64,
}

impl Rise {
    fn at(&self, z: f64) -> f64 {
        self.chance + (1.0 - self.chance) * sigmoid(self.k * (z - self.z0))
    }
}

/// P(greedy pass | total log-probability s).
#[derive(Debug, Clone, Copy)]
enum Link {
    Logistic { alpha: f64, beta: f64 },
    Sampling,
}

impl Link {
    fn at(&self, s: f64) -> f64 {
        match *self {
            Link::Logistic { alpha, beta } => sigmoid(alpha + beta * s),
            Link::Sampling => s.exp(),
        }
    }
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

impl Model {
    fn at(&self, x: f64) -> f64 {
        match self {
            Model::Line { a, b } => a + b * x,
            Model::Rise(r) => r.at(x),
            Model::Means { a, b, link } => link.at(-(a + b * x).exp()),
            Model::Items { a, b, link } => {
                a.iter().map(|ai| link.at(-(ai + b * x).exp())).sum::<f64>() / a.len() as f64
            }
        }
    }

    /// Whether forecast exact match rises with size (else no forecast).
    fn rising(&self) -> bool {
        match self {
            Model::Line { b, .. } => *b > 0.0,
            Model::Rise(r) => r.k > 0.0,
            Model::Means { b, link, .. } => *b < 0.0 && link.k > 0.0,
            Model::Items { b, link, .. } => {
                *b < 0.0
                    && match link {
                        Link::Logistic { beta, .. } => *beta > 0.0,
                        Link::Sampling => true,
                    }
            }
        }
    }

    /// Where the forecast reaches `level` within `[lo, hi]` (log10 size):
    /// −∞ when already above it at `lo`, +∞ when still below at `hi` or not
    /// rising at all.
    fn reach(&self, level: f64, lo: f64, hi: f64) -> f64 {
        if !self.rising() {
            return f64::INFINITY;
        }
        if self.at(lo) >= level {
            return f64::NEG_INFINITY;
        }
        if self.at(hi) < level {
            return f64::INFINITY;
        }
        let (mut a, mut b) = (lo, hi);
        for _ in 0..60 {
            let m = 0.5 * (a + b);
            if self.at(m) < level {
                a = m;
            } else {
                b = m;
            }
        }
        0.5 * (a + b)
    }
}

/// Weighted least squares of a rise from `chance` to 1 in z, with z0 kept
/// within `z_bounds` and k within [`K_BOUNDS`]: Nelder–Mead on (ln k, z0)
/// from several starts.
fn fit_rise(
    z: &[f64],
    y: &[f64],
    sigma: &[f64],
    chance: f64,
    z_bounds: (f64, f64),
) -> Option<Rise> {
    #[derive(Clone, Copy)]
    struct Cost<'a> {
        z: &'a [f64],
        y: &'a [f64],
        sigma: &'a [f64],
        chance: f64,
        bounds: (f64, f64),
    }
    impl Cost<'_> {
        fn unpack(&self, p: &[f64]) -> (Rise, f64) {
            let lk = p[0].clamp(K_BOUNDS.0.ln(), K_BOUNDS.1.ln());
            let z0 = p[1].clamp(self.bounds.0, self.bounds.1);
            let penalty = (p[0] - lk).powi(2) + (p[1] - z0).powi(2);
            (
                Rise {
                    chance: self.chance,
                    k: lk.exp(),
                    z0,
                },
                penalty,
            )
        }
    }
    impl CostFunction for Cost<'_> {
        type Param = Vec<f64>;
        type Output = f64;
        fn cost(&self, p: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
            let (r, penalty) = self.unpack(p);
            let w: f64 = (0..self.z.len())
                .map(|i| ((self.y[i] - r.at(self.z[i])) / self.sigma[i]).powi(2))
                .sum();
            Ok(if w.is_finite() {
                w + 1e6 * penalty
            } else {
                f64::MAX
            })
        }
    }
    let cost = Cost {
        z,
        y,
        sigma,
        chance,
        bounds: z_bounds,
    };
    let span = (z_bounds.1 - z_bounds.0).max(1e-6);
    let mut best: Option<(Vec<f64>, f64)> = None;
    for frac in [0.2, 0.5, 0.8] {
        for k in [0.5f64, 3.0, 15.0] {
            let start = vec![k.ln(), z_bounds.0 + frac * span];
            let simplex = vec![
                start.clone(),
                vec![start[0] + 0.7, start[1]],
                vec![start[0], start[1] + 0.1 * span],
            ];
            let Ok(solver) = NelderMead::new(simplex).with_sd_tolerance(1e-12) else {
                continue;
            };
            let Ok(res) = Executor::new(cost, solver)
                .configure(|s| s.max_iters(800))
                .run()
            else {
                continue;
            };
            let st = res.state();
            if let Some(p) = st.best_param.clone() {
                if best.as_ref().is_none_or(|b| st.best_cost < b.1) {
                    best = Some((p, st.best_cost));
                }
            }
        }
    }
    let (p, c) = best?;
    (c.is_finite() && c < f64::MAX).then(|| cost.unpack(&p).0)
}

/// A rise's steepness: from "over 20 units of its variable" to "a step".
const K_BOUNDS: (f64, f64) = (0.05, 200.0);

/// Exact match of the sizes used, as fit data, with its chance level.
struct Points<'a> {
    em: &'a Data,
    chance: f64,
    /// Seed-mean log-probability per token and its standard error.
    lp: Option<&'a Data>,
}

fn fit_points(p: &Points, which: &str) -> Option<Model> {
    let x = &p.em.x;
    match which {
        predictor::LOG_LINEAR => fit_log_linear(p.em).map(|l| Model::Line {
            a: l.intercept,
            b: l.slope,
        }),
        predictor::SIGMOID => {
            // The midpoint may lie past the reach, so that a fit pinned at
            // its bound reads as "does not reach the level", not as a
            // forecast at the bound.
            let bounds = (x[0] - 1.0, x[x.len() - 1] + REACH + 1.0);
            fit_rise(x, &p.em.y, &p.em.sigma, p.chance, bounds).map(Model::Rise)
        }
        _ => {
            let lp = p.lp?;
            if lp.y.iter().any(|&v| v.is_nan() || v >= 0.0) {
                return None;
            }
            let t = Data {
                x: lp.x.clone(),
                y: lp.y.iter().map(|v| (-v).ln()).collect(),
                sigma: vec![1.0; lp.len()],
            };
            let trend = fit_log_linear(&t)?;
            let lmin = lp.y.iter().cloned().fold(f64::INFINITY, f64::min);
            let link = fit_rise(&lp.y, &p.em.y, &p.em.sigma, p.chance, (lmin, 0.0))?;
            Some(Model::Means {
                a: trend.intercept,
                b: trend.slope,
                link,
            })
        }
    }
}

/// Per-item data of the sizes used: `s[j][k][i]` (size, seed, item) the
/// total log-probability (or the per-token mean, `per_token`), `em` alike.
#[derive(Debug, Clone)]
struct Items {
    x: Vec<f64>,
    s: Vec<Vec<Vec<f64>>>,
    em: Vec<Vec<Vec<bool>>>,
    per_token: bool,
}

/// One model's items by id: (log-probability per token, exact match,
/// completion tokens).
type ItemRows<'a> = BTreeMap<&'a str, (f64, bool, Option<u32>)>;

impl Items {
    fn n_items(&self) -> usize {
        self.s[0][0].len()
    }

    /// Collect the items every member of every size used answered.
    fn collect(index: &ItemIndex, s: &Series, used: usize) -> Option<Items> {
        let mut per: Vec<Vec<ItemRows>> = Vec::new();
        for ms in &s.members[..used] {
            let mut seeds = Vec::new();
            for m in ms {
                let rows = index.rows(&s.key, m)?;
                seeds.push(
                    rows.iter()
                        .map(|r| {
                            (
                                r.item_id.as_str(),
                                (r.completion_logprob, r.exact_match, r.completion_tokens),
                            )
                        })
                        .collect(),
                );
            }
            if seeds.is_empty() {
                return None;
            }
            per.push(seeds);
        }
        let mut common: BTreeSet<&str> = per[0][0].keys().copied().collect();
        for m in per.iter().flatten() {
            common.retain(|id| m.contains_key(id));
        }
        if common.is_empty() {
            return None;
        }
        let per_token = per
            .iter()
            .flatten()
            .flat_map(|m| m.values())
            .any(|v| v.2.is_none());
        let total = |v: &(f64, bool, Option<u32>)| match (per_token, v.2) {
            (false, Some(t)) => v.0 * t as f64,
            _ => v.0,
        };
        Some(Items {
            x: s.data.x[..used].to_vec(),
            s: per
                .iter()
                .map(|seeds| {
                    seeds
                        .iter()
                        .map(|m| common.iter().map(|id| total(&m[id])).collect())
                        .collect()
                })
                .collect(),
            em: per
                .iter()
                .map(|seeds| {
                    seeds
                        .iter()
                        .map(|m| common.iter().map(|id| m[id].1).collect())
                        .collect()
                })
                .collect(),
            per_token,
        })
    }

    /// One bootstrap replicate: items drawn with replacement (the same
    /// draw at every size: they are the same items), and with `seeds` each
    /// size's seeds too.
    fn resample(&self, rng: &mut ChaCha8Rng, seeds: bool) -> Items {
        let n = self.n_items();
        let pick: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
        let mut s = Vec::with_capacity(self.s.len());
        let mut em = Vec::with_capacity(self.s.len());
        for (sj, ej) in self.s.iter().zip(&self.em) {
            let ks: Vec<usize> = if seeds {
                (0..sj.len()).map(|_| rng.gen_range(0..sj.len())).collect()
            } else {
                (0..sj.len()).collect()
            };
            s.push(
                ks.iter()
                    .map(|&k| pick.iter().map(|&i| sj[k][i]).collect())
                    .collect(),
            );
            em.push(
                ks.iter()
                    .map(|&k| pick.iter().map(|&i| ej[k][i]).collect())
                    .collect(),
            );
        }
        Items {
            x: self.x.clone(),
            s,
            em,
            per_token: self.per_token,
        }
    }

    /// The trend (shared slope, one intercept per item, on the seed means
    /// of s) and the link (logistic regression of every item's exact match
    /// on its s, or sampling).
    fn fit(&self) -> Option<Model> {
        let n = self.n_items();
        let j = self.x.len();
        let xm = self.x.iter().sum::<f64>() / j as f64;
        let sxx: f64 = self.x.iter().map(|x| (x - xm).powi(2)).sum();
        if sxx <= 1e-12 {
            return None;
        }
        // log(−s̄) per size and item; a certain item (s = 0) is floored.
        let y: Vec<Vec<f64>> = self
            .s
            .iter()
            .map(|seeds| {
                (0..n)
                    .map(|i| {
                        let m = seeds.iter().map(|v| v[i]).sum::<f64>() / seeds.len() as f64;
                        (-m).max(1e-6).ln()
                    })
                    .collect()
            })
            .collect();
        let ybar: Vec<f64> = (0..n)
            .map(|i| y.iter().map(|yj| yj[i]).sum::<f64>() / j as f64)
            .collect();
        let sxy: f64 = (0..j)
            .map(|jj| {
                (0..n)
                    .map(|i| (self.x[jj] - xm) * (y[jj][i] - ybar[i]))
                    .sum::<f64>()
            })
            .sum();
        let b = sxy / (n as f64 * sxx);
        let a: Vec<f64> = ybar.iter().map(|yb| yb - b * xm).collect();
        let obs: Vec<(f64, bool)> = self
            .s
            .iter()
            .zip(&self.em)
            .flat_map(|(sj, ej)| {
                sj.iter()
                    .zip(ej)
                    .flat_map(|(sv, ev)| sv.iter().copied().zip(ev.iter().copied()))
            })
            .collect();
        let right = obs.iter().filter(|o| o.1).count();
        let link = if right >= MIN_LINK && obs.len() - right >= MIN_LINK {
            logistic_regression(&obs).map(|(alpha, beta)| Link::Logistic { alpha, beta })?
        } else {
            Link::Sampling
        };
        b.is_finite().then_some(Model::Items { a, b, link })
    }
}

/// Maximum-likelihood (α, β) of P(y) = σ(α + β·s) by Newton's method, with
/// a slight ridge on β so that separable data stay finite.
fn logistic_regression(obs: &[(f64, bool)]) -> Option<(f64, f64)> {
    const RIDGE: f64 = 1e-3;
    let mean = obs.iter().filter(|o| o.1).count() as f64 / obs.len() as f64;
    let (mut a, mut b) = ((mean / (1.0 - mean)).ln(), 0.0);
    for _ in 0..100 {
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, -RIDGE * b, 0.0, 0.0, RIDGE);
        for &(s, y) in obs {
            let p = sigmoid(a + b * s);
            let r = f64::from(u8::from(y)) - p;
            let w = p * (1.0 - p);
            g0 += r;
            g1 += r * s;
            h00 += w;
            h01 += w * s;
            h11 += w * s * s;
        }
        let det = h00 * h11 - h01 * h01;
        if det.is_nan() || det <= 0.0 {
            return None;
        }
        let (da, db) = ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det);
        a += da;
        b += db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    (a.is_finite() && b.is_finite()).then_some((a, b))
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Each point drawn from a normal with its standard error (kept within
/// `range`): the replicate when no items can be resampled.
fn jitter(d: &Data, range: (f64, f64), rng: &mut ChaCha8Rng) -> Data {
    Data {
        x: d.x.clone(),
        y: d.y
            .iter()
            .zip(&d.sigma)
            .map(|(y, s)| (y + s * normal(rng)).clamp(range.0, range.1))
            .collect(),
        sigma: d.sigma.clone(),
    }
}

/// The first `n` points of a series.
fn head(s: &Series, n: usize) -> Series {
    let mut t = s.clone();
    t.points.truncate(n);
    t.members.truncate(n);
    t.data.x.truncate(n);
    t.data.y.truncate(n);
    t.data.sigma.truncate(n);
    t.n_sizes = n;
    t
}

/// The interval from replicate forecasts, joined with the point.
fn interval(point: f64, mut xs: Vec<f64>) -> (Option<f64>, Option<f64>) {
    let lo = percentile(&mut xs, 0.025).min(point);
    let hi = percentile(&mut xs, 0.975).max(point);
    (lo.is_finite().then_some(lo), hi.is_finite().then_some(hi))
}

/// The band of forecast exact match on a grid: (x, median, lo, hi).
type Band = Vec<(f64, f64, f64, f64)>;

/// Forecast one curve with one predictor: the point, its interval and the
/// band of forecast exact match on `grid`.
fn run_predictor(
    which: &'static str,
    fitted: std::result::Result<Model, String>,
    reps: Vec<Option<Model>>,
    level: f64,
    span: (f64, f64),
    grid: &[f64],
) -> (Option<NStar>, Band, String) {
    let model = match fitted {
        Ok(m) => m,
        Err(why) => return (None, Vec::new(), format!("{which}: {why}")),
    };
    let curve_of = |m: &Model| grid.iter().map(|&x| m.at(x)).collect::<Vec<f64>>();
    let point_curve = curve_of(&model);
    let rep_curves: Vec<Vec<f64>> = reps.iter().flatten().map(curve_of).collect();
    let curve = grid
        .iter()
        .enumerate()
        .map(|(g, &x)| {
            let mut v: Vec<f64> = rep_curves.iter().map(|c| c[g]).collect();
            let (lo, hi) = if v.is_empty() {
                (point_curve[g], point_curve[g])
            } else {
                (percentile(&mut v, 0.025), percentile(&mut v, 0.975))
            };
            (x, point_curve[g], lo, hi)
        })
        .collect();
    let x = model.reach(level, span.0, span.1);
    if !x.is_finite() {
        let why = if !model.rising() {
            format!("{which}: the fitted trend does not rise with size")
        } else if x > 0.0 {
            format!("{which}: the fitted trend stays below the level within {REACH} decades of the largest size used")
        } else {
            format!("{which}: the fitted trend is above the level already at the smallest size")
        };
        return (None, curve, why);
    }
    // A replicate that fails to fit has no crossing: beyond the ladder.
    let xs: Vec<f64> = reps
        .iter()
        .map(|m| {
            m.as_ref()
                .map_or(f64::INFINITY, |m| m.reach(level, span.0, span.1))
        })
        .collect();
    let (lo, hi) = interval(x, xs);
    (Some(NStar { x, lo, hi }), curve, String::new())
}

/// The measured N* of every located exact-match curve in `fits` (parameter
/// axis), with its level.
fn measured(fits: &[FitRow]) -> BTreeMap<CurveKey, (NStar, f64)> {
    fits.iter()
        .filter(|r| {
            r.metric == metric::EXACT_MATCH
                && r.x_axis == x_axis::PARAMS
                && r.shape == shape::SIGMOID
                && matches!(r.threshold_method.as_str(), "fit" | "interpolated")
        })
        .filter_map(|r| {
            let n = r.threshold_params?;
            Some((
                CurveKey {
                    task: r.task.clone(),
                    mode: r.mode,
                    shots: r.shots,
                    metric: r.metric.clone(),
                },
                (
                    NStar {
                        x: n.log10(),
                        lo: r.threshold_lo.map(f64::log10),
                        hi: r.threshold_hi.map(f64::log10),
                    },
                    r.level?,
                ),
            ))
        })
        .collect()
}

/// Forecast every located exact-match N* of `run` (measured values from
/// `fits`, its analysis).
pub fn forecast(run: &Run, fits: &[FitRow]) -> Forecast {
    let located = measured(fits);
    let series = crate::analyze::series_for(run, x_axis::PARAMS);
    let by_key: BTreeMap<&CurveKey, &Series> = series.iter().map(|s| (&s.key, s)).collect();
    let index = ItemIndex::new(&run.samples);
    let mut out = Forecast::default();
    for (key, (measured, level)) in located {
        let Some(s) = by_key.get(&key) else { continue };
        let Crossing::Up { below } = threshold::crossing(&s.data.y, level) else {
            out.notes.push(format!(
                "{}/{}/{}: fits.csv locates N* but the scores do not cross the level; not forecast",
                key.task, key.mode, key.shots
            ));
            continue;
        };
        // Sizes up to the crossing that are below the level (a dip above
        // it before the last crossing is left out: it is not "below").
        let used_idx: Vec<usize> = (0..=below).filter(|&i| s.data.y[i] < level).collect();
        let mut curve = CurveForecast {
            key: key.clone(),
            level,
            chance: s.chance,
            measured,
            used: used_idx.iter().map(|&i| s.data.x[i]).collect(),
            lines: Vec::new(),
            interval_noise: "points",
        };
        if used_idx.len() >= MIN_BELOW {
            forecast_curve(run, s, &by_key, &index, &used_idx, &mut curve);
        }
        out.curves.push(curve);
    }
    out
}

fn forecast_curve(
    run: &Run,
    s: &Series,
    by_key: &BTreeMap<&CurveKey, &Series>,
    index: &ItemIndex,
    used_idx: &[usize],
    curve: &mut CurveForecast,
) {
    let n_used = used_idx[used_idx.len() - 1] + 1;
    let pick = |d: &Data| Data {
        x: used_idx.iter().map(|&i| d.x[i]).collect(),
        y: used_idx.iter().map(|&i| d.y[i]).collect(),
        sigma: used_idx.iter().map(|&i| d.sigma[i]).collect(),
    };
    let em = pick(&s.data);
    let lp_key = CurveKey {
        metric: metric::COMPLETION_LOGPROB.into(),
        ..s.key.clone()
    };
    let lp = by_key
        .get(&lp_key)
        .filter(|l| l.data.x.len() >= n_used && l.data.x[..n_used] == s.data.x[..n_used])
        .map(|l| pick(&l.data));
    let seeds = several_seeds(s);
    let items = Items::collect(index, &head(s, n_used), n_used).map(|mut it| {
        // Keep only the sizes used (a dip above the level is not below).
        let keep: BTreeSet<usize> = used_idx.iter().copied().collect();
        it.s =
            it.s.into_iter()
                .enumerate()
                .filter(|(j, _)| keep.contains(j))
                .map(|(_, x)| x)
                .collect();
        it.em = it
            .em
            .into_iter()
            .enumerate()
            .filter(|(j, _)| keep.contains(j))
            .map(|(_, x)| x)
            .collect();
        it.x = used_idx.iter().map(|&i| s.data.x[i]).collect();
        it
    });
    // Replicates of the exact-match points: items and seeds when
    // samples.csv has them, else each point drawn from its interval.
    let key_text = format!("{}/{}/{}", s.key.task, s.key.mode, s.key.shots);
    let mut rng = ChaCha8Rng::seed_from_u64(FORECAST_SEED ^ stable_hash(&key_text));
    let item_reps: Vec<Data> = replicates(&head(s, n_used), index, &mut rng)
        .iter()
        .map(pick)
        .collect();
    curve.interval_noise = match (item_reps.is_empty(), seeds) {
        (true, _) => "points",
        (false, true) => "items+seeds",
        (false, false) => "items",
    };
    let em_reps: Vec<Data> = if item_reps.is_empty() {
        (0..REPS)
            .map(|_| jitter(&em, (0.0, 1.0), &mut rng))
            .collect()
    } else {
        item_reps
    };
    let span = (em.x[0] - 1.0, em.x[em.len() - 1] + REACH);
    let top = run
        .final_points
        .iter()
        .filter(|p| p.key() == s.key)
        .map(|p| (p.params_non_embedding as f64).log10())
        .fold(f64::NEG_INFINITY, f64::max);
    let grid: Vec<f64> = (0..=80)
        .map(|g| span.0 + 0.9 + (top + 0.3 - span.0 - 0.9) * g as f64 / 80.0)
        .collect();
    // "At chance" as the verdict reads it (within NEAR_CHANCE).
    let flat = em.y.iter().all(|y| y - s.chance <= threshold::NEAR_CHANCE);
    let points = Points {
        em: &em,
        chance: s.chance,
        lp: lp.as_ref(),
    };
    for which in predictor::ALL {
        let (fitted, reps, basis): (Option<Model>, Vec<Option<Model>>, &'static str) =
            match (which, &items) {
                (predictor::LOGPROB, Some(it)) => {
                    let reps = (0..REPS)
                        .map(|_| it.resample(&mut rng, seeds).fit())
                        .collect();
                    let b = if it.per_token {
                        basis::ITEMS_PER_TOKEN
                    } else {
                        basis::ITEMS
                    };
                    (it.fit(), reps, b)
                }
                (predictor::LOGPROB, None) => {
                    let reps = match &lp {
                        Some(l) => (0..REPS)
                            .map(|r| {
                                let lj = jitter(l, (f64::NEG_INFINITY, -1e-9), &mut rng);
                                let p = Points {
                                    em: &em_reps[r],
                                    chance: s.chance,
                                    lp: Some(&lj),
                                };
                                fit_points(&p, which)
                            })
                            .collect(),
                        None => Vec::new(),
                    };
                    (fit_points(&points, which), reps, basis::MEANS)
                }
                _ => {
                    let reps = em_reps
                        .iter()
                        .map(|d| {
                            let p = Points {
                                em: d,
                                chance: s.chance,
                                lp: None,
                            };
                            fit_points(&p, which)
                        })
                        .collect();
                    (fit_points(&points, which), reps, basis::POINTS)
                }
            };
        let link_note = match &fitted {
            Some(Model::Items {
                link: Link::Sampling,
                ..
            }) => format!(
                "fewer than {MIN_LINK} items right (or wrong) below the level: the link is sampling's, exp(s)"
            ),
            _ if which == predictor::LOGPROB && lp.is_none() && items.is_none() => {
                "no completion_logprob for these sizes".into()
            }
            _ => String::new(),
        };
        // A curve at chance below the level has no rise for exact match
        // (or a link to it) to extrapolate: any fit there is a guess.
        let fitted = match fitted {
            _ if flat && matches!(basis, basis::POINTS | basis::MEANS) => Err(
                "exact match is within 0.05 of chance at every size below: no rise to extrapolate"
                    .to_string(),
            ),
            Some(m) => Ok(m),
            None => Err("the fit failed (no finite fit to the sizes below)".to_string()),
        };
        let (n_star, band, why) = run_predictor(which, fitted, reps, curve.level, span, &grid);
        let note = [
            link_note,
            if n_star.is_none() { why } else { String::new() },
        ]
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
        curve.lines.push(Line {
            predictor: which,
            basis,
            n_star,
            curve: band,
            note,
        });
    }
}

/// `forecast.csv`'s rows: per curve, one per predictor.
pub fn rows(f: &Forecast) -> Vec<ForecastRow> {
    let mut out = Vec::new();
    for c in &f.curves {
        let p10 = |x: f64| 10f64.powf(x);
        let base = |which: &str, basis: &str, status: &str| ForecastRow {
            task: c.key.task.clone(),
            mode: c.key.mode,
            shots: c.key.shots,
            predictor: which.to_string(),
            basis: basis.to_string(),
            status: status.to_string(),
            sizes_used: c.used.len() as u32,
            largest_used: c.used.last().map(|&x| p10(x)),
            level: c.level,
            forecast: None,
            forecast_lo: None,
            forecast_hi: None,
            measured: p10(c.measured.x),
            measured_lo: c.measured.lo.map(p10),
            measured_hi: c.measured.hi.map(p10),
            error_decades: None,
            covered: None,
            interval_noise: c.interval_noise.to_string(),
            note: String::new(),
        };
        if c.lines.is_empty() {
            for which in predictor::ALL {
                out.push(ForecastRow {
                    note: format!(
                        "too few sizes below: {} below the level; need {MIN_BELOW}",
                        c.used.len()
                    ),
                    ..base(which, "", "too_few_sizes_below")
                });
            }
            continue;
        }
        for l in &c.lines {
            let mut r = base(l.predictor, l.basis, "ok");
            r.note = l.note.clone();
            match l.n_star {
                Some(n) => {
                    r.forecast = Some(p10(n.x));
                    r.forecast_lo = n.lo.map(p10);
                    r.forecast_hi = n.hi.map(p10);
                    r.error_decades = Some(n.x - c.measured.x);
                    r.covered = Some(
                        n.lo.is_none_or(|lo| lo <= c.measured.x)
                            && n.hi.is_none_or(|hi| c.measured.x <= hi),
                    );
                }
                None => r.status = "no_forecast".into(),
            }
            out.push(r);
        }
    }
    out
}

/// The analysis `forecast` reads N* from: `dir/fits.csv` when it reads
/// under the current schema, else `run` analyzed in memory (with a note).
pub fn fits_for(run: &Run, dir: &Path, notes: &mut Vec<String>) -> Result<Vec<FitRow>> {
    let path = dir.join(files::FITS);
    match runfolder::read::read_csv::<FitRow>(&path) {
        Ok(f) => Ok(f),
        Err(e) => {
            notes.push(format!(
                "{} unreadable ({e}); N* measured by analyzing in memory",
                path.display()
            ));
            Ok(crate::analyze::analyze(run)?.fits)
        }
    }
}

/// Write `f` as `dir/forecast.csv` (whole).
pub fn write_forecast(dir: &Path, f: &Forecast) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(files::FORECAST);
    runfolder::write::write_csv(&path, &rows(f)).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// A few lines for the terminal: each curve's forecasts against the
/// measured N*.
pub fn summary(f: &Forecast) -> String {
    let mut s = String::new();
    for r in rows(f) {
        let si = |v: Option<f64>| v.map_or("open".to_string(), |v| format!("{v:.3e}"));
        let line = match r.status.as_str() {
            "ok" => format!(
                "{:>8} {:>6} {}-shot {:>10} ({}): N* forecast {} [{}, {}] vs measured {:.3e}: {:+.2} decade, {}\n",
                r.task,
                r.mode,
                r.shots,
                r.predictor,
                r.basis,
                si(r.forecast),
                si(r.forecast_lo),
                si(r.forecast_hi),
                r.measured,
                r.error_decades.unwrap_or(f64::NAN),
                if r.covered == Some(true) { "covered" } else { "missed" }
            ),
            _ => format!(
                "{:>8} {:>6} {}-shot {:>10}: {}\n",
                r.task, r.mode, r.shots, r.predictor, r.note
            ),
        };
        s.push_str(&line);
    }
    s
}
