//! Adaptive refinement of the ladder (`emerge sweep --refine K`).
//!
//! A jump that falls between two ladder sizes is located only to the gap
//! between them, however well a sigmoid seems to fit. Refinement bisects that
//! gap: it adds the shape closest to the geometric mean of the two sizes that
//! straddle each transition, trains and scores it as an ordinary job of the
//! same run (same data order), and looks again, until every transition is
//! bracketed within [`LOCATED_DECADES`] or the budget of new sizes is spent.

use super::config::{Shape, SweepConfig};
use super::jobs;
use results::schema::{files, metric};
pub use results::threshold::LOCATED_DECADES;
use results::threshold::{transitions, Transition};
use results::{FitRow, ModelRow, ModelStatus, ScoreRow};
use std::collections::BTreeMap;
use std::path::Path;

/// A curve whose exact match moves less than this between its lowest and
/// highest size has no jump to locate.
pub const MIN_JUMP: f64 = 0.25;

/// One (task, mode, shots) exact-match curve against non-embedding size and
/// the adjacent pair of sizes it crosses its midpoint between.
#[derive(Debug, Clone, PartialEq)]
pub struct Straddle {
    /// `task/mode/Nsh`.
    pub curve: String,
    /// Sizes (non-embedding parameters) below and above the crossing.
    pub below: u64,
    pub above: u64,
    /// Exact match at `below` and `above` (mean over seeds).
    pub y_below: f64,
    pub y_above: f64,
    /// Halfway between the curve's lowest and highest score.
    pub midpoint: f64,
    /// N*'s 95 % interval from `fits.csv` (lo, hi, method) when the sigmoid
    /// is the curve's preferred fit.
    pub interval: Option<(f64, f64, String)>,
}

impl Straddle {
    pub fn decades(&self) -> f64 {
        (self.above as f64 / self.below as f64).log10()
    }

    /// Width of what the data say about N*: its interval when there is a
    /// fitted one, otherwise the gap between the straddling sizes.
    pub fn width(&self) -> f64 {
        match &self.interval {
            Some((lo, hi, _)) => (hi / lo).log10(),
            None => self.decades(),
        }
    }

    pub fn located(&self) -> bool {
        self.width() <= LOCATED_DECADES + 1e-9
    }

    pub fn describe(&self) -> String {
        let n_star = match &self.interval {
            Some((lo, hi, method)) => format!(
                "N* in [{:.3e}, {:.3e}] ({method}), {:.2} decade",
                lo,
                hi,
                self.width()
            ),
            None => format!("no sigmoid fit, {:.2} decade", self.width()),
        };
        format!(
            "{}: between {} ({:.3}) and {} ({:.3}); {n_star}",
            self.curve,
            sci(self.below),
            self.y_below,
            sci(self.above),
            self.y_above,
        )
    }

    /// Take the fitted interval of this curve, and its straddling sizes,
    /// which bracket N* itself rather than the midpoint crossing.
    fn with_fit(mut self, fits: &[Transition]) -> Straddle {
        let fit = fits.iter().find(|t| {
            t.key.metric == metric::EXACT_MATCH
                && format!("{}/{}/{}sh", t.key.task, t.key.mode.as_str(), t.key.shots) == self.curve
        });
        if let Some(t) = fit {
            self.interval = Some((t.lo, t.hi, t.method.clone()));
            if let Some((a, b)) = t.straddle {
                self.below = a;
                self.above = b;
            }
        }
        self
    }
}

fn sci(n: u64) -> String {
    format!("{:.3e}", n as f64)
}

/// The straddling pair of every curve with a jump, from the final checkpoint
/// of each finished model (diverged models and `word_ood`'s parrot rate are
/// left out; seeds are averaged per size).
pub fn straddles(models: &[ModelRow], scores: &[ScoreRow]) -> Vec<Straddle> {
    let size: BTreeMap<&str, u64> = models
        .iter()
        .filter(|m| m.status == ModelStatus::Ok)
        .map(|m| (m.model_id.as_str(), m.params_non_embedding))
        .collect();
    // Final step of each (model, curve).
    let mut last: BTreeMap<(String, &str), &ScoreRow> = BTreeMap::new();
    for r in scores {
        if r.metric != metric::EXACT_MATCH || !size.contains_key(r.model_id.as_str()) {
            continue;
        }
        let curve = format!("{}/{}/{}sh", r.task, r.mode.as_str(), r.shots);
        let slot = last.entry((curve, r.model_id.as_str())).or_insert(r);
        if r.step > slot.step {
            *slot = r;
        }
    }
    let mut curves: BTreeMap<String, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for ((curve, model), r) in last {
        curves
            .entry(curve)
            .or_default()
            .entry(size[model])
            .or_default()
            .push(r.value);
    }
    let mut out = Vec::new();
    for (curve, points) in curves {
        let pts: Vec<(u64, f64)> = points
            .into_iter()
            .map(|(n, v)| (n, v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if pts.len() < 2 || hi - lo < MIN_JUMP {
            continue;
        }
        let midpoint = (lo + hi) / 2.0;
        // The first upward crossing: where the ability appears.
        if let Some(w) = pts
            .windows(2)
            .find(|w| w[0].1 < midpoint && w[1].1 >= midpoint)
        {
            out.push(Straddle {
                curve,
                below: w[0].0,
                above: w[1].0,
                y_below: w[0].1,
                y_above: w[1].1,
                midpoint,
                interval: None,
            });
        }
    }
    out
}

/// The straddles of a run folder's merged CSVs, with the intervals of its
/// `fits.csv` (written by the analysis after every round).
pub fn straddles_of(run: &Path) -> Result<Vec<Straddle>, String> {
    let models: Vec<ModelRow> =
        results::read::read_csv(&run.join(files::MODELS)).map_err(|e| e.to_string())?;
    let scores: Vec<ScoreRow> =
        results::read::read_csv(&run.join(files::SCORES)).map_err(|e| e.to_string())?;
    let fits: Vec<FitRow> =
        results::read::read_csv(&run.join(files::FITS)).map_err(|e| e.to_string())?;
    let fitted = transitions(&fits);
    Ok(straddles(&models, &scores)
        .into_iter()
        .map(|s| s.with_fit(&fitted))
        .collect())
}

/// The shape to add between `below` and `above`: the one whose
/// non-embedding size is closest (in log) to the geometric mean of the two,
/// strictly between them and not already in the sweep, shaped like its
/// neighbours (depth between theirs, one of their head sizes, no wider than
/// the wider), so that it differs from them in size rather than in kind.
/// `None` when no such shape exists (the gap is as fine as shapes allow).
pub fn shape_between(cfg: &SweepConfig, below: u64, above: u64) -> Option<Shape> {
    let taken: Vec<Shape> = jobs::shapes(cfg)
        .into_iter()
        .chain(cfg.model.refined.iter().copied())
        .collect();
    let n = |s: &Shape| jobs::config_of(cfg, s).params_non_embedding() as f64;
    let near: Vec<Shape> = taken
        .iter()
        .filter(|s| [below, above].contains(&(n(s) as u64)))
        .copied()
        .collect();
    // Sizes that are no shape of this sweep: the whole ladder bounds the search.
    let frame = if near.is_empty() { &taken } else { &near };
    let min_layer = frame.iter().map(|s| s.n_layer).min()?;
    let max_layer = frame.iter().map(|s| s.n_layer).max()?;
    let max_width = frame.iter().map(|s| s.d_model).max()?;
    let mut head_dims: Vec<usize> = frame.iter().map(|s| s.d_model / s.n_head).collect();
    head_dims.sort_unstable();
    head_dims.dedup();
    let target = ((below as f64).ln() + (above as f64).ln()) / 2.0;
    let mut best: Option<(f64, Shape)> = None;
    for n_layer in min_layer..=max_layer {
        for &head in &head_dims {
            for n_head in 1..=max_width / head {
                let s = Shape {
                    n_layer,
                    d_model: n_head * head,
                    n_head,
                };
                let size = n(&s);
                if taken.contains(&s)
                    || size <= below as f64
                    || size >= above as f64
                    || jobs::config_of(cfg, &s).validate().is_err()
                {
                    continue;
                }
                // Ties go to the shallower, narrower shape: cheaper to train.
                let d = (size.ln() - target).abs();
                if best.is_none_or(|(bd, _)| d < bd - 1e-12) {
                    best = Some((d, s));
                }
            }
        }
    }
    best.map(|(_, s)| s)
}

/// The shapes of the next refinement round: one per unlocated transition,
/// at most `budget`, without repeats.
pub fn next_round(cfg: &SweepConfig, straddles: &[Straddle], budget: usize) -> Vec<Shape> {
    let mut out: Vec<Shape> = Vec::new();
    for st in straddles.iter().filter(|s| !s.located()) {
        if out.len() >= budget {
            break;
        }
        if let Some(s) = shape_between(cfg, st.below, st.above) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::parse;
    use crate::sweep::Preset;
    use results::Mode;

    fn model(id: &str, n: u64) -> ModelRow {
        ModelRow {
            model_id: id.into(),
            seed: 0,
            n_layer: 1,
            d_model: 8,
            n_head: 1,
            params: n,
            params_non_embedding: n,
            step: 10,
            tokens: 0,
            flops: 0.0,
            train_loss: 0.0,
            status: ModelStatus::Ok,
        }
    }

    fn score(id: &str, mode: Mode, step: u64, v: f64) -> ScoreRow {
        ScoreRow {
            model_id: id.into(),
            step,
            task: "add".into(),
            mode,
            shots: 0,
            metric: metric::EXACT_MATCH.into(),
            value: v,
            ci_lo: v,
            ci_hi: v,
            n: 100,
            chance: 0.0,
        }
    }

    #[test]
    fn straddles_find_the_first_crossing_of_the_midpoint_at_the_final_step() {
        let models: Vec<ModelRow> = [
            ("a", 1_000),
            ("b", 10_000),
            ("c", 100_000),
            ("d", 1e6 as u64),
        ]
        .iter()
        .map(|&(id, n)| model(id, n))
        .collect();
        let mut scores = Vec::new();
        for (id, cot, direct) in [
            ("a", 0.0, 0.0),
            ("b", 0.1, 0.0),
            ("c", 0.95, 0.1),
            ("d", 1.0, 0.15),
        ] {
            scores.push(score(id, Mode::Cot, 10, cot));
            scores.push(score(id, Mode::Direct, 10, direct));
            // An earlier checkpoint that must not count.
            scores.push(score(id, Mode::Cot, 5, 1.0 - cot));
        }
        let st = straddles(&models, &scores);
        // Direct moves by 0.15 only: no jump to locate.
        assert_eq!(st.len(), 1, "{st:?}");
        let s = &st[0];
        assert_eq!(
            (s.curve.as_str(), s.below, s.above),
            ("add/cot/0sh", 10_000, 100_000)
        );
        assert!((s.midpoint - 0.5).abs() < 1e-12 && (s.decades() - 1.0).abs() < 1e-12);
        assert!(!s.located());
    }

    #[test]
    fn a_fitted_interval_decides_whether_a_transition_is_located() {
        let st = Straddle {
            curve: "add/cot/0sh".into(),
            below: 10_000,
            above: 100_000,
            y_below: 0.0,
            y_above: 1.0,
            midpoint: 0.5,
            interval: None,
        };
        assert!(!st.located());
        let fit = |lo: f64, hi: f64, metric: &str| Transition {
            key: results::CurveKey {
                task: "add".into(),
                mode: Mode::Cot,
                shots: 0,
                metric: metric.into(),
            },
            n_star: (lo * hi).sqrt(),
            lo,
            hi,
            method: "profile".into(),
            straddle: Some((20_000, 40_000)),
            located: false,
        };
        // Another metric's fit does not count.
        let other = st
            .clone()
            .with_fit(&[fit(3.0e4, 3.3e4, metric::TOKEN_ACCURACY)]);
        assert_eq!(other, st);
        let narrow = st
            .clone()
            .with_fit(&[fit(3.0e4, 3.3e4, metric::EXACT_MATCH)]);
        assert!(narrow.located(), "{narrow:?}");
        assert_eq!((narrow.below, narrow.above), (20_000, 40_000));
        let wide = st
            .clone()
            .with_fit(&[fit(2.0e4, 4.0e4, metric::EXACT_MATCH)]);
        assert!(!wide.located() && (wide.width() - 2f64.log10()).abs() < 1e-12);
        assert!(wide.describe().contains("(profile)"), "{}", wide.describe());
    }

    #[test]
    fn the_shape_between_two_sizes_bisects_them_in_log_and_is_new() {
        let cfg = parse(Preset::Quick.text(), "quick").unwrap();
        let n = |s: &Shape| jobs::config_of(&cfg, s).params_non_embedding() as u64;
        let shapes = jobs::shapes(&cfg);
        let (lo, hi) = (n(&shapes[4]), n(&shapes[6]));
        let s = shape_between(&cfg, lo, hi).expect("a shape fits between");
        assert!(!shapes.contains(&s));
        let mid = ((lo as f64).ln() + (hi as f64).ln()) / 2.0;
        assert!(((n(&s) as f64).ln() - mid).abs() < 0.25, "{s:?}: {}", n(&s));
        // Shaped like its neighbours: depth between theirs, their head size.
        assert!(
            (shapes[4].n_layer..=shapes[6].n_layer).contains(&s.n_layer),
            "{s:?}"
        );
        assert_eq!(s.d_model / s.n_head, 16, "{s:?}");
        // Between the 16-wide and the 80-wide quick models, the (1,8,2) model's
        // 4-wide heads are not an option.
        let t = shape_between(&cfg, n(&shapes[2]), n(&shapes[5])).unwrap();
        assert!(t.d_model / t.n_head >= 16, "{t:?}");
        // Two adjacent sizes with nothing between them: none.
        let close = shape_between(&cfg, n(&shapes[0]), n(&shapes[0]) + 1);
        assert_eq!(close, None);
        // Refined shapes count as taken.
        let mut cfg2 = cfg.clone();
        cfg2.model.refined.push(s);
        assert_ne!(shape_between(&cfg2, lo, hi), Some(s));
        let round = next_round(&cfg, &[], 3);
        assert!(round.is_empty());
    }
}
