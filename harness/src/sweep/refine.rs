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
pub use results::threshold::LOCATED_DECADES;
use results::threshold::{transitions, Transition};
use runfolder::schema::{files, metric};
use runfolder::FitRow;
use std::path::Path;

/// One (task, mode, shots) exact-match curve with a located N* (the fixed
/// level of `fits.csv`) and the two ladder sizes around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Straddle {
    /// `task/mode/Nsh`.
    pub curve: String,
    /// N* (non-embedding parameters).
    pub n_star: f64,
    /// Sizes (non-embedding parameters) below and above the crossing.
    pub below: u64,
    pub above: u64,
    /// N*'s 95 % interval from `fits.csv` (lo, hi, method); an open side
    /// is `None`.
    pub interval: (Option<f64>, Option<f64>, String),
}

impl Straddle {
    pub fn decades(&self) -> f64 {
        (self.above as f64 / self.below as f64).log10()
    }

    /// Width of N*'s interval in decades (infinite when open).
    pub fn width(&self) -> f64 {
        match self.interval {
            (Some(lo), Some(hi), _) => (hi / lo).log10(),
            _ => f64::INFINITY,
        }
    }

    pub fn located(&self) -> bool {
        self.width() <= LOCATED_DECADES + 1e-9
    }

    pub fn describe(&self) -> String {
        let side = |v: Option<f64>, open: &str| v.map_or(open.to_string(), |v| format!("{v:.3e}"));
        let (lo, hi, method) = &self.interval;
        format!(
            "{}: N* {:.3e} in [{}, {}] ({method}), {:.2} decade, between sizes {} and {}",
            self.curve,
            self.n_star,
            side(*lo, "below"),
            side(*hi, "beyond"),
            self.width(),
            sci(self.below),
            sci(self.above),
        )
    }
}

fn sci(n: u64) -> String {
    format!("{:.3e}", n as f64)
}

/// The located exact-match transitions of an analysis.
pub fn straddles(fits: &[FitRow]) -> Vec<Straddle> {
    transitions(fits)
        .into_iter()
        .filter(|t| t.key.metric == metric::EXACT_MATCH)
        .filter_map(|t: Transition| {
            let (below, above) = t.straddle?;
            Some(Straddle {
                curve: format!("{}/{}/{}sh", t.key.task, t.key.mode.as_str(), t.key.shots),
                n_star: t.n_star,
                below,
                above,
                interval: (t.lo, t.hi, t.method),
            })
        })
        .collect()
}

/// The straddles of a run folder's `fits.csv` (written by the analysis
/// after every round).
pub fn straddles_of(run: &Path) -> Result<Vec<Straddle>, String> {
    let fits: Vec<FitRow> =
        runfolder::read::read_csv(&run.join(files::FITS)).map_err(|e| e.to_string())?;
    Ok(straddles(&fits))
}

/// The shape to add between `below` and `above`: the one whose
/// non-embedding size is closest (in log) to the geometric mean of the two,
/// strictly between them and not already in the sweep. First among shapes
/// like its neighbours (depth between theirs, one of their head sizes, no
/// wider than the wider), so that it differs from them in size rather than
/// in kind; when none fits there, among a wider family (widths a multiple
/// of 8 up to the wider neighbour, any head size from 4 to 64 that divides
/// the width, one layer more or fewer than the neighbours). `Err` says why
/// no shape fits: the gap is as fine as shapes allow.
pub fn shape_between(cfg: &SweepConfig, below: u64, above: u64) -> Result<Shape, String> {
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
    let (Some(min_layer), Some(max_layer), Some(max_width)) = (
        frame.iter().map(|s| s.n_layer).min(),
        frame.iter().map(|s| s.n_layer).max(),
        frame.iter().map(|s| s.d_model).max(),
    ) else {
        return Err("no shapes in the sweep".into());
    };
    let mut head_dims: Vec<usize> = frame.iter().map(|s| s.d_model / s.n_head).collect();
    head_dims.sort_unstable();
    head_dims.dedup();
    let target = ((below as f64).ln() + (above as f64).ln()) / 2.0;
    let closest = |candidates: Vec<Shape>| {
        let mut best: Option<(f64, Shape)> = None;
        for s in candidates {
            let size = n(&s);
            if taken.contains(&s)
                || size <= below as f64
                || size >= above as f64
                || jobs::config_of(cfg, &s).validate().is_err()
            {
                continue;
            }
            // Ties go to the first candidate: the shallower, narrower shape.
            let d = (size.ln() - target).abs();
            if best.is_none_or(|(bd, _)| d < bd - 1e-12) {
                best = Some((d, s));
            }
        }
        best.map(|(_, s)| s)
    };
    let mut alike = Vec::new();
    for n_layer in min_layer..=max_layer {
        for &head in &head_dims {
            for n_head in 1..=max_width / head {
                alike.push(Shape {
                    n_layer,
                    d_model: n_head * head,
                    n_head,
                });
            }
        }
    }
    if let Some(s) = closest(alike) {
        return Ok(s);
    }
    let mut wider = Vec::new();
    for n_layer in min_layer.saturating_sub(1).max(1)..=max_layer + 1 {
        for d_model in (8..=max_width).step_by(8) {
            for n_head in 1..=d_model / 4 {
                let head = d_model / n_head;
                if d_model % n_head == 0 && (4..=64).contains(&head) {
                    wider.push(Shape {
                        n_layer,
                        d_model,
                        n_head,
                    });
                }
            }
        }
    }
    closest(wider).ok_or_else(|| {
        format!(
            "as fine as shapes allow: no new shape of depth {}-{}, width a multiple of 8 up to {max_width} and heads of 4-64 lies strictly between {} and {}",
            min_layer.saturating_sub(1).max(1),
            max_layer + 1,
            sci(below),
            sci(above)
        )
    })
}

/// `.refine.json` in a run folder: a `--refine K` that has not ended yet.
pub const IN_PROGRESS: &str = ".refine.json";

/// A `--refine` in progress: its budget K and how many sizes
/// `model.refined` held when it began. A `--refine K` that was interrupted
/// (killed, or a job of its rounds left unfinished) and is run again with
/// the same K counts the sizes it had added against K, so it adds what an
/// uninterrupted run would have added; without this record it would start
/// a new budget of K after the sizes it had already added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InProgress {
    pub budget: usize,
    pub start: usize,
}

/// The refinement in progress in `run`, if any. A record that does not
/// parse (torn by a crash while written, which the atomic write rules out,
/// or edited) is no record: the refinement starts afresh.
pub fn in_progress(run: &Path) -> Option<InProgress> {
    let text = std::fs::read_to_string(run.join(IN_PROGRESS)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Record that a `--refine` is in progress in `run` (written whole).
pub fn mark_in_progress(run: &Path, p: InProgress) -> Result<(), String> {
    let text = serde_json::to_string(&p).map_err(|e| e.to_string())?;
    runfolder::write_bytes_atomic(&run.join(IN_PROGRESS), text.as_bytes())
        .map_err(|e| e.to_string())
}

/// The refinement of `run` has ended: remove its record.
pub fn mark_done(run: &Path) -> Result<(), String> {
    match std::fs::remove_file(run.join(IN_PROGRESS)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("{}: {e}", run.join(IN_PROGRESS).display()))
        }
        _ => Ok(()),
    }
}

/// The shapes of the next refinement round: one per unlocated transition,
/// at most `budget`, without repeats; and, for each transition no shape can
/// split, why.
pub fn next_round(
    cfg: &SweepConfig,
    straddles: &[Straddle],
    budget: usize,
) -> (Vec<Shape>, Vec<String>) {
    let mut out: Vec<Shape> = Vec::new();
    let mut stuck = Vec::new();
    for st in straddles.iter().filter(|s| !s.located()) {
        if out.len() >= budget {
            break;
        }
        match shape_between(cfg, st.below, st.above) {
            Ok(s) if !out.contains(&s) => out.push(s),
            Ok(_) => {}
            Err(why) => stuck.push(format!("{}: {why}", st.curve)),
        }
    }
    (out, stuck)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::parse;
    use crate::sweep::Preset;
    use runfolder::schema::{shape, x_axis};
    use runfolder::Mode;

    /// A fits.csv sigmoid row with a located N*.
    fn fit(metric: &str, lo: Option<f64>, hi: Option<f64>) -> FitRow {
        FitRow {
            threshold_params: Some(3.1e4),
            threshold_lo: lo,
            threshold_hi: hi,
            threshold_method: "interpolated".into(),
            threshold_below: Some(2.0e4),
            threshold_above: Some(4.0e4),
            level: Some(0.5),
            interval_method: "bootstrap".into(),
            verdict: "emergent".into(),
            ..FitRow::empty(
                ("add", Mode::Cot, 0, metric),
                x_axis::PARAMS,
                shape::SIGMOID,
            )
        }
    }

    #[test]
    fn the_fixed_level_interval_decides_whether_a_transition_is_located() {
        // Another metric's N* does not count; a not-located curve has none.
        let mut flat = fit(metric::EXACT_MATCH, None, None);
        flat.threshold_params = None;
        flat.threshold_method = "not_located".into();
        assert!(straddles(&[fit(metric::TOKEN_ACCURACY, Some(3e4), Some(3.3e4)), flat]).is_empty());
        let narrow = &straddles(&[fit(metric::EXACT_MATCH, Some(3.0e4), Some(3.3e4))])[0];
        assert!(narrow.located(), "{narrow:?}");
        assert_eq!((narrow.below, narrow.above), (20_000, 40_000));
        assert_eq!(narrow.curve, "add/cot/0sh");
        let wide = &straddles(&[fit(metric::EXACT_MATCH, Some(2.0e4), Some(4.0e4))])[0];
        assert!(!wide.located() && (wide.width() - 2f64.log10()).abs() < 1e-12);
        assert!(
            wide.describe().contains("(bootstrap)"),
            "{}",
            wide.describe()
        );
        // An open interval is never located.
        let open = &straddles(&[fit(metric::EXACT_MATCH, Some(2.0e4), None)])[0];
        assert!(!open.located() && open.describe().contains("beyond"));
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
        // Two adjacent sizes with nothing between them: why, in words.
        let close = shape_between(&cfg, n(&shapes[0]), n(&shapes[0]) + 1).unwrap_err();
        assert!(close.starts_with("as fine as shapes allow"), "{close}");
        // Refined shapes count as taken.
        let mut cfg2 = cfg.clone();
        cfg2.model.refined.push(s);
        assert_ne!(shape_between(&cfg2, lo, hi), Ok(s));
        let (round, stuck) = next_round(&cfg, &[], 3);
        assert!(round.is_empty() && stuck.is_empty());
    }

    #[test]
    fn when_the_neighbours_shapes_leave_no_room_the_family_widens() {
        // The case: between (3,60,3) and (3,80,4) no shape with
        // head size 20 and depth 3 lies strictly between except width 60
        // and 80 themselves; the wider family finds one.
        let mut cfg = parse(Preset::Quick.text(), "quick").unwrap();
        let a = Shape {
            n_layer: 3,
            d_model: 60,
            n_head: 3,
        };
        let b = Shape {
            n_layer: 3,
            d_model: 80,
            n_head: 4,
        };
        cfg.model.refined.extend([a, b]);
        let n = |s: &Shape| jobs::config_of(&cfg, s).params_non_embedding() as u64;
        let s = shape_between(&cfg, n(&a), n(&b)).expect("the wider family has one");
        assert!(n(&a) < n(&s) && n(&s) < n(&b), "{s:?}");
        assert!(
            s.d_model.is_multiple_of(8) && (4..=64).contains(&(s.d_model / s.n_head)),
            "{s:?}"
        );
    }
}
