//! `emerge analyze`: every curve of a run fitted with both shapes, compared by
//! AICc/BIC, with N* and its 95 % interval, breakthroughness, the scale
//! where chain of thought overtakes direct answers, and the mirage verdict.
//!
//! Determinism: curves are visited in BTreeMap order and every bootstrap draws
//! from its own ChaCha8 stream seeded by [`BOOTSTRAP_SEED`] and a stable hash
//! of the curve's key, so one run folder always gives a byte-identical
//! `fits.csv`.

use crate::bootstrap::{ItemIndex, Member};
use crate::error::{Error, Result};
use crate::fit::{aicc, bic, fit_log_linear, fit_sigmoid, Data, LogLinear, Sigmoid};
use crate::load::{CurveKey, CurvePoint, Run};
use crate::schema::{files, metric, shape, x_axis, FitRow};
use crate::stats::{breakthroughness, percentile, stable_hash};
use crate::threshold::{threshold_interval, Interval, Method};
use crate::verdicts;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Fewer distinct model sizes than this: no fit ("too few points").
pub const MIN_SIZES: usize = 4;
/// Bootstrap replicates for N* (several seeds) and the cot crossing.
pub const BOOTSTRAP_REPS: usize = 200;
/// Base seed of every bootstrap stream (recorded here so results are reproducible).
pub const BOOTSTRAP_SEED: u64 = 0x656d_6572_6765; // "emerge"

/// The fitted rows and notes for the user.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub fits: Vec<FitRow>,
    /// `claims.csv`'s rows (see [`crate::claims`]).
    pub claims: Vec<crate::schema::ClaimRow>,
    pub notes: Vec<String>,
}

/// One curve ready to fit: x = log10 of the scale, sorted ascending.
#[derive(Debug, Clone)]
pub struct Series {
    pub key: CurveKey,
    pub axis: &'static str,
    pub points: Vec<CurvePoint>,
    pub data: Data,
    pub chance: f64,
    /// Models (and steps) behind each point, for resampling their items.
    pub members: Vec<Vec<Member>>,
    pub n_sizes: usize,
    /// Smallest standard error a point may have (keeps zero-width intervals
    /// of continuous metrics from taking infinite weight).
    pub sigma_floor: f64,
}

impl Series {
    /// 10^x, exactly the measured scale when x is one of the points' (a
    /// bracket's bounds are sizes, and should read as the sizes).
    pub fn scale_at(&self, x: f64) -> f64 {
        match self.data.x.iter().position(|&v| v == x) {
            Some(i) if self.axis == x_axis::FLOPS => self.points[i].flops,
            Some(i) => self.points[i].params_non_embedding as f64,
            None => 10f64.powf(x),
        }
    }
}

/// Both shapes fitted to one series.
#[derive(Debug, Clone)]
pub struct CurveFit {
    pub log_linear: Option<LogLinear>,
    pub sigmoid: Option<Sigmoid>,
    /// `Some(true)`: sigmoid preferred; `None`: not fitted.
    pub sigmoid_preferred: Option<bool>,
    pub aicc: [Option<f64>; 2],
    pub bic: [Option<f64>; 2],
    pub note: String,
}

/// Build the series of one axis from a run's aggregated points.
pub fn series_for(run: &Run, axis: &'static str) -> Vec<Series> {
    let curves = if axis == x_axis::FLOPS {
        run.checkpoint_curves()
    } else {
        run.final_curves()
    };
    let size_of = run.size_of();
    let mut out = Vec::new();
    for (key, mut pts) in curves {
        let xv = |p: &CurvePoint| {
            if axis == x_axis::FLOPS {
                p.flops.log10()
            } else {
                (p.params_non_embedding as f64).log10()
            }
        };
        pts.retain(|p| xv(p).is_finite() && p.value.is_finite());
        pts.sort_by(|a, b| xv(a).total_cmp(&xv(b)).then(a.step.cmp(&b.step)));
        let y: Vec<f64> = pts.iter().map(|p| p.value).collect();
        let floor = 1e-3 * y.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let range = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - y.iter().cloned().fold(f64::INFINITY, f64::min);
        let sigma = pts
            .iter()
            .map(|p| {
                let s = p.sigma();
                if s.is_finite() {
                    s.max(floor)
                } else {
                    floor.max(0.05 * range)
                }
            })
            .collect();
        let members = pts
            .iter()
            .map(|p| {
                let step_of = |id: &String| {
                    if axis == x_axis::FLOPS {
                        Some(p.step)
                    } else {
                        run.final_step.get(id).copied()
                    }
                };
                run.used_models
                    .iter()
                    .filter(|id| size_of.get(*id) == Some(&p.params_non_embedding))
                    .filter_map(|id| step_of(id).map(|s| (id.clone(), s)))
                    .collect()
            })
            .collect();
        let n_sizes = pts
            .iter()
            .map(|p| p.params_non_embedding)
            .collect::<BTreeSet<_>>()
            .len();
        let chance = pts.first().map(|p| p.chance).unwrap_or(0.0);
        let data = Data {
            x: pts.iter().map(xv).collect(),
            y,
            sigma,
        };
        out.push(Series {
            key,
            axis,
            points: pts,
            data,
            chance,
            members,
            n_sizes,
            sigma_floor: floor,
        });
    }
    out
}

/// Fit both shapes and choose: lower AICc, or lower BIC when AICc is
/// undefined for either (4 points cannot carry the sigmoid's correction).
pub fn fit_curve(s: &Series) -> CurveFit {
    fit_shapes(&s.data, s.chance, ceiling_max(&s.key.metric))
}

/// The largest value a metric can take: proportions reach 1, a
/// log-probability 0; other metrics are unbounded.
pub fn ceiling_max(metric_name: &str) -> Option<f64> {
    match metric_name {
        metric::EXACT_MATCH
        | metric::EDIT_SIMILARITY
        | metric::TOKEN_ACCURACY
        | metric::EXTRACTION_FAILURE
        | metric::PARROT => Some(1.0),
        metric::COMPLETION_LOGPROB => Some(0.0),
        _ => None,
    }
}

/// [`fit_curve`] on bare data with the sigmoid floor at `chance`.
pub fn fit_shapes(data: &Data, chance: f64, ceiling_max: Option<f64>) -> CurveFit {
    let n = data.len();
    let ll = fit_log_linear(data);
    let sg = fit_sigmoid(data, chance, ceiling_max, None);
    let a = [
        ll.and_then(|f| aicc(f.wrss, n, LogLinear::N_PARAMS)),
        sg.and_then(|f| aicc(f.wrss, n, Sigmoid::N_PARAMS)),
    ];
    let b = [
        ll.map(|f| bic(f.wrss, n, LogLinear::N_PARAMS)),
        sg.map(|f| bic(f.wrss, n, Sigmoid::N_PARAMS)),
    ];
    let mut note = String::new();
    let sigmoid_preferred = match (ll, sg) {
        (None, None) => None,
        (Some(_), None) => Some(false),
        (None, Some(_)) => Some(true),
        (Some(_), Some(_)) => match (a[0], a[1]) {
            (Some(x), Some(y)) => Some(y < x),
            _ => {
                note = "AICc undefined at this point count; preferred by BIC".into();
                Some(b[1] < b[0])
            }
        },
    };
    CurveFit {
        log_linear: ll,
        sigmoid: sg,
        sigmoid_preferred,
        aicc: a,
        bic: b,
        note,
    }
}

/// Bootstrap 95 % interval of the sigmoid midpoint (log10), resampling the
/// seeds of every size and the items within each seed, each replicate
/// refitted. `None` when items are missing or most refits fail.
pub fn seed_bootstrap_interval(
    s: &Series,
    fit: &Sigmoid,
    items: &ItemIndex,
    rng: &mut ChaCha8Rng,
) -> Option<(f64, f64)> {
    let series_items = items.series_items(&s.key, &s.members)?;
    let mut mids = Vec::with_capacity(BOOTSTRAP_REPS);
    for _ in 0..BOOTSTRAP_REPS {
        let (y, sigma) = series_items.resample(rng, true);
        let sigma = sigma
            .iter()
            .zip(&s.data.sigma)
            .map(|(b, o)| {
                if b.is_finite() {
                    b.max(s.sigma_floor)
                } else {
                    *o
                }
            })
            .collect();
        let d = Data {
            x: s.data.x.clone(),
            y,
            sigma,
        };
        if let Some(f) = fit_sigmoid(&d, s.chance, ceiling_max(&s.key.metric), Some(fit)) {
            mids.push(f.midpoint);
        }
    }
    if mids.len() * 2 < BOOTSTRAP_REPS {
        return None;
    }
    Some((percentile(&mut mids, 0.025), percentile(&mut mids, 0.975)))
}

/// N*'s interval for one fitted series (log10), as `fits.csv` records it:
/// [`threshold_interval`], and with several seeds also the seed-and-item
/// bootstrap. The second value is a note for the user, empty if none.
pub fn series_threshold(
    s: &Series,
    fit: &Sigmoid,
    items: &ItemIndex,
    rng: &mut ChaCha8Rng,
) -> (Option<Interval>, String) {
    let Some(mut iv) = threshold_interval(&s.data, fit, ceiling_max(&s.key.metric)) else {
        return (None, "no N* interval: too few points".into());
    };
    let mut note = String::new();
    if several_seeds(s) {
        match seed_bootstrap_interval(s, fit, items, rng) {
            Some((lo, hi)) => iv.widen(lo, hi, Method::Bootstrap),
            None => {
                note = "no seed bootstrap (items missing from samples.csv): the seed spread enters N*'s interval through the points' standard errors only".into()
            }
        }
    }
    if iv.open_lo || iv.open_hi {
        let side = match (iv.open_lo, iv.open_hi) {
            (true, true) => "either side",
            (true, false) => "below",
            _ => "above",
        };
        let open = format!(
            "N* interval open {side}: the data do not bound it within a decade of the ladder"
        );
        note = if note.is_empty() {
            open
        } else {
            format!("{open}; {note}")
        };
    }
    (Some(iv), note)
}

/// Whether any point of the series averages several seeds.
pub fn several_seeds(s: &Series) -> bool {
    s.points.iter().any(|p| p.n_seeds > 1)
}

/// `fits.csv`'s `interval_noise` for a series.
pub fn interval_noise(s: &Series) -> &'static str {
    if several_seeds(s) {
        "items+seeds"
    } else {
        "items"
    }
}

pub(crate) fn key_text(k: &CurveKey, axis: &str) -> String {
    format!("{}/{}/{}/{}/{axis}", k.task, k.mode, k.shots, k.metric)
}

/// Analyze a loaded run.
pub fn analyze(run: &Run) -> Result<Analysis> {
    run.require_scores()?;
    let mut notes = run.notes.clone();
    let sizes = run.sizes().len();
    if sizes < MIN_SIZES {
        notes.push(format!(
            "only {sizes} model size(s): curves need at least {MIN_SIZES}; every fit is recorded as too_few_points"
        ));
    }
    let items = ItemIndex::new(&run.samples);
    let mut rows = Vec::new();
    let mut axes = vec![x_axis::PARAMS];
    // A FLOPs axis only adds information when intermediate checkpoints were scored.
    if run.checkpoint_points.len() > run.final_points.len() {
        axes.push(x_axis::FLOPS);
    }
    let mut failed = 0usize;
    for axis in axes {
        let series = series_for(run, axis);
        let mut preferred_sigmoid: BTreeMap<(CurveKey, &str), bool> = BTreeMap::new();
        let start = rows.len();
        for s in &series {
            let mut rng =
                ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED ^ stable_hash(&key_text(&s.key, axis)));
            let new = fit_rows(s, &items, &mut rng, &mut failed);
            if let Some(p) = new.iter().find(|r| r.preferred) {
                preferred_sigmoid.insert((s.key.clone(), axis), p.shape == shape::SIGMOID);
            }
            rows.extend(new);
        }
        verdicts::mirage(&mut rows[start..], &preferred_sigmoid, axis);
        if axis == x_axis::PARAMS {
            verdicts::cot_overtakes(&mut rows[start..], &series, &items);
        }
    }
    if failed > 0 {
        notes.push(format!(
            "{failed} sigmoid fit(s) failed; recorded as status=failed"
        ));
    }
    Ok(Analysis {
        fits: rows,
        claims: crate::claims::claims(run),
        notes,
    })
}

fn empty_row(s: &Series, shape_name: &str) -> FitRow {
    FitRow {
        task: s.key.task.clone(),
        mode: s.key.mode,
        shots: s.key.shots,
        metric: s.key.metric.clone(),
        x_axis: s.axis.to_string(),
        shape: shape_name.to_string(),
        intercept: None,
        slope: None,
        floor: None,
        ceiling: None,
        steepness: None,
        midpoint: None,
        aicc: None,
        bic: None,
        threshold_params: None,
        threshold_lo: None,
        threshold_hi: None,
        breakthroughness: None,
        preferred: false,
        status: "ok".into(),
        n_points: s.data.len() as u32,
        wrss: None,
        threshold_method: String::new(),
        threshold_below: None,
        threshold_above: None,
        interval_noise: interval_noise(s).into(),
        cot_overtakes: None,
        cot_overtakes_lo: None,
        cot_overtakes_hi: None,
        cot_overtakes_method: String::new(),
        cot_note: String::new(),
        mirage: String::new(),
        note: String::new(),
    }
}

fn fit_rows(
    s: &Series,
    items: &ItemIndex,
    rng: &mut ChaCha8Rng,
    failed: &mut usize,
) -> Vec<FitRow> {
    let mut ll = empty_row(s, shape::LOG_LINEAR);
    let mut sg = empty_row(s, shape::SIGMOID);
    if s.n_sizes < MIN_SIZES {
        for r in [&mut ll, &mut sg] {
            r.status = "too_few_points".into();
            r.note = format!("{} size(s); need {MIN_SIZES}", s.n_sizes);
        }
        return vec![ll, sg];
    }
    let b = Some(breakthroughness(&s.data.y));
    ll.breakthroughness = b;
    sg.breakthroughness = b;
    let f = fit_curve(s);
    match f.log_linear {
        Some(l) => {
            ll.intercept = Some(l.intercept);
            ll.slope = Some(l.slope);
            ll.wrss = Some(l.wrss);
        }
        None => {
            ll.status = "failed".into();
            ll.note = "x has no spread".into();
        }
    }
    match f.sigmoid {
        Some(g) => {
            sg.floor = Some(g.floor);
            sg.ceiling = Some(g.ceiling);
            sg.steepness = Some(g.steepness);
            sg.midpoint = Some(g.midpoint);
            sg.wrss = Some(g.wrss);
            sg.threshold_params = Some(10f64.powf(g.midpoint));
            let (x_lo, x_hi) = (s.data.x[0], s.data.x[s.data.len() - 1]);
            if g.midpoint < x_lo || g.midpoint > x_hi {
                sg.note = "threshold outside the measured range (extrapolated)".into();
            }
            let (iv, note) = series_threshold(s, &g, items, rng);
            if let Some(iv) = iv {
                let scale = |v: f64| s.scale_at(v);
                sg.threshold_lo = Some(scale(iv.lo));
                sg.threshold_hi = Some(scale(iv.hi));
                sg.threshold_method = iv.method.as_str().into();
                sg.threshold_below = iv.straddle.map(|(a, _)| scale(a));
                sg.threshold_above = iv.straddle.map(|(_, b)| scale(b));
            }
            if !note.is_empty() {
                sg.note = if sg.note.is_empty() {
                    note
                } else {
                    format!("{}; {note}", sg.note)
                };
            }
        }
        None => {
            *failed += 1;
            sg.status = "failed".into();
            sg.note = "optimizer found no finite fit".into();
        }
    }
    (ll.aicc, sg.aicc) = (f.aicc[0], f.aicc[1]);
    (ll.bic, sg.bic) = (f.bic[0], f.bic[1]);
    match f.sigmoid_preferred {
        Some(true) => sg.preferred = true,
        Some(false) => ll.preferred = true,
        None => {}
    }
    if !f.note.is_empty() {
        for r in [&mut ll, &mut sg] {
            if r.note.is_empty() {
                r.note = f.note.clone();
            }
        }
    }
    vec![ll, sg]
}

/// Load `dir`, analyze it and write `dir/fits.csv` and `dir/claims.csv`
/// whole. Returns the analysis and the path of `fits.csv`.
pub fn analyze_run(dir: &Path) -> Result<(Analysis, PathBuf)> {
    let run = Run::load(dir)?;
    let analysis = analyze(&run)?;
    let path = write_analysis(dir, &analysis)?;
    Ok((analysis, path))
}

/// Write `analysis` whole into `dir` as `fits.csv` and `claims.csv` (a run
/// folder, or an arm's folder under it). Returns the path of `fits.csv`.
pub fn write_analysis(dir: &Path, analysis: &Analysis) -> Result<PathBuf> {
    let path = dir.join(files::FITS);
    crate::write::write_csv(&path, &analysis.fits).map_err(|e| Error::io(&path, e))?;
    let claims_path = dir.join(files::CLAIMS);
    crate::write::write_csv(&claims_path, &analysis.claims)
        .map_err(|e| Error::io(&claims_path, e))?;
    Ok(path)
}

pub use crate::summary::summary;
