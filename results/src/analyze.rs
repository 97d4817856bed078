//! `emerge analyze`: every curve of a run fitted with both shapes, compared by
//! AICc/BIC, with N* and its 95 % interval, breakthroughness, the scale
//! where chain of thought overtakes direct answers, and the mirage verdict.
//!
//! Determinism: curves are visited in BTreeMap order and every bootstrap draws
//! from its own ChaCha8 stream seeded by [`BOOTSTRAP_SEED`] and a stable hash
//! of the curve's key, so one run folder always gives a byte-identical
//! `fits.csv`.

use crate::bootstrap::ItemIndex;
use crate::curve::{
    interval_noise, key_text, several_seeds, Series, BOOTSTRAP_REPS, BOOTSTRAP_SEED,
};
use crate::error::{Error, Result};
use crate::fit::{aicc, bic, fit_log_linear, fit_sigmoid, Data, LogLinear, Sigmoid};
use crate::load::{CurvePoint, Run, SeedPoint};
use crate::stats::{breakthroughness, stable_hash};
use crate::threshold::{self, Fitted, Verdict};
use crate::verdicts;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runfolder::schema::CurveKey;
use runfolder::schema::{files, metric, shape, x_axis, FitRow};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Fewer distinct model sizes than this: no fit ("too few points").
pub const MIN_SIZES: usize = 4;
/// The fitted rows and notes for the user.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub fits: Vec<FitRow>,
    /// `claims.csv`'s rows (see [`crate::claims`]).
    pub claims: Vec<runfolder::schema::ClaimRow>,
    pub notes: Vec<String>,
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

/// Whether a metric's curves get a level, N* and a verdict: the
/// proportions that rise with skill (exact match, edit similarity, token
/// accuracy). A log-probability has no level to cross, and extraction
/// failures and parrot rates fall with skill.
pub fn has_level(metric_name: &str) -> bool {
    matches!(
        metric_name,
        metric::EXACT_MATCH | metric::EDIT_SIMILARITY | metric::TOKEN_ACCURACY
    )
}

/// [`BOOTSTRAP_REPS`] replicates of a series' values and standard errors
/// (floored like the series'), resampling the seeds of every point (with
/// several) and the items of every seed; empty when `samples.csv` lacks the
/// items.
pub fn replicates(s: &Series, items: &ItemIndex, rng: &mut ChaCha8Rng) -> Vec<Data> {
    let Some(si) = items.series_items(&s.key, &s.members) else {
        return Vec::new();
    };
    let seeds = several_seeds(s);
    (0..BOOTSTRAP_REPS)
        .map(|_| {
            let (y, sigma) = si.resample(rng, seeds);
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
            Data {
                x: s.data.x.clone(),
                y,
                sigma,
            }
        })
        .collect()
}

/// One seed's own curve as fit data (x = log10 size), each point's standard
/// error from its interval, floored like the seed mean's.
fn seed_data(points: &[SeedPoint], floor: f64) -> Data {
    Data {
        x: points.iter().map(|p| (p.0 as f64).log10()).collect(),
        y: points.iter().map(|p| p.1).collect(),
        sigma: points
            .iter()
            .map(|p| {
                let s = (p.3 - p.2) / (2.0 * 1.96);
                if s.is_finite() {
                    s.max(floor)
                } else {
                    floor
                }
            })
            .collect(),
    }
}

/// What [`fit_rows`] needs besides the series: the items to resample, the
/// level as a fraction of the way from chance to 1, and each seed's own
/// curve (parameter axis only).
struct Context<'a> {
    items: &'a ItemIndex<'a>,
    level_fraction: f64,
    seeds: Option<&'a BTreeMap<u64, Vec<SeedPoint>>>,
}

/// N* of curve `d` at `level` and its interval from the bootstrap
/// replicates `reps` of its values (see [`crate::threshold`]): read off the
/// preferred shape of `f`, which every replicate refits (the sigmoid from
/// `f`'s, the log-linear curve in closed form) to read its own N* the same
/// way. `Err` with the crossing when the curve is not located.
pub fn n_star(
    d: &Data,
    chance: f64,
    level: f64,
    f: &CurveFit,
    ceiling_max: Option<f64>,
    reps: &[Data],
) -> std::result::Result<(threshold::Estimate, threshold::Interval), threshold::Crossing> {
    let preferred = match f.sigmoid_preferred {
        Some(true) => f.sigmoid.map(Fitted::Sigmoid),
        Some(false) => f.log_linear.map(Fitted::LogLinear),
        None => None,
    };
    let e = threshold::estimate(d, level, preferred)?;
    let refit = |r: &Data| match preferred {
        Some(Fitted::Sigmoid(g)) => {
            fit_sigmoid(r, chance, ceiling_max, Some(&g)).map(Fitted::Sigmoid)
        }
        Some(Fitted::LogLinear(_)) => fit_log_linear(r).map(Fitted::LogLinear),
        None => None,
    };
    let xs: Vec<f64> = reps
        .iter()
        .map(|r| threshold::replicate_x(threshold::estimate(r, level, refit(r))))
        .collect();
    // The upper plateau a size on the slope must stay clear of.
    let top = match (f.sigmoid_preferred, f.sigmoid) {
        (Some(true), Some(g)) => g.ceiling,
        _ => d.y.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    };
    Ok((e, threshold::interval(d, &e, chance, top, &xs)))
}

/// N*, its interval and the verdict onto both rows of one fitted curve.
fn level_columns(
    s: &Series,
    f: &CurveFit,
    ctx: &Context,
    rng: &mut ChaCha8Rng,
    rows: [&mut FitRow; 2],
) {
    let level = threshold::level(s.chance, ctx.level_fraction);
    let sigmoid_preferred = f.sigmoid_preferred == Some(true);
    let [ll, sg] = rows;
    ll.level = Some(level);
    sg.level = Some(level);
    let mut notes = Vec::new();
    // Replicates are drawn only for a located curve, so a flat one costs nothing.
    let located = matches!(
        threshold::crossing(&s.data.y, level),
        threshold::Crossing::Up { .. }
    );
    let reps = if located {
        replicates(s, ctx.items, rng)
    } else {
        Vec::new()
    };
    match n_star(
        &s.data,
        s.chance,
        level,
        f,
        ceiling_max(&s.key.metric),
        &reps,
    ) {
        Ok((e, iv)) => {
            if reps.is_empty() {
                notes.push("no items in samples.csv: N*'s interval is the gap between the two sizes around it".to_string());
            }
            for (side, open) in [("below", iv.lo.is_none()), ("above", iv.hi.is_none())] {
                if open {
                    notes.push(format!("N* interval open {side}: over 2.5 % of bootstrap replicates are not located on that side of the ladder"));
                }
            }
            for r in [&mut *ll, &mut *sg] {
                r.threshold_params = Some(s.scale_at(e.x));
                r.threshold_lo = iv.lo.map(|v| s.scale_at(v));
                r.threshold_hi = iv.hi.map(|v| s.scale_at(v));
                r.threshold_method = e.method.into();
                r.interval_method = iv.method.into();
                r.threshold_below = Some(s.scale_at(s.data.x[e.below]));
                r.threshold_above = Some(s.scale_at(s.data.x[e.below + 1]));
            }
        }
        Err(c) => {
            notes.push(format!("not located: {}", c.why()));
            for r in [&mut *ll, &mut *sg] {
                r.threshold_method = "not_located".into();
            }
        }
    }
    if s.axis == x_axis::PARAMS {
        let mean = threshold::verdict(&s.data.y, s.chance, level, sigmoid_preferred);
        let per_seed: Vec<Verdict> = ctx
            .seeds
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|pts| pts.len() >= MIN_SIZES)
            .map(|pts| {
                let d = seed_data(pts, s.sigma_floor);
                let g = fit_shapes(&d, s.chance, ceiling_max(&s.key.metric));
                threshold::verdict(&d.y, s.chance, level, g.sigmoid_preferred == Some(true))
            })
            .collect();
        let (v, agree) = threshold::combine(mean, &per_seed);
        if mean == Verdict::Emergent && v != Verdict::Emergent {
            notes.push(format!(
                "emergent in the seed mean but in fewer than two thirds of the seeds ({} of {})",
                per_seed.iter().filter(|&&v| v == Verdict::Emergent).count(),
                per_seed.len()
            ));
        }
        for r in [&mut *ll, &mut *sg] {
            r.verdict = v.as_str().into();
            r.verdict_seeds = format!("{agree} of {}", per_seed.len());
        }
    }
    for r in [ll, sg] {
        for n in &notes {
            push_note(r, n);
        }
    }
}

fn push_note(r: &mut FitRow, note: &str) {
    if r.note.is_empty() {
        r.note = note.to_string();
    } else {
        r.note = format!("{}; {note}", r.note);
    }
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
    let seed_curves = run.seed_curves();
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
            let ctx = Context {
                items: &items,
                level_fraction: run.threshold_level,
                seeds: (axis == x_axis::PARAMS)
                    .then(|| seed_curves.get(&s.key))
                    .flatten(),
            };
            let new = fit_rows(s, &ctx, &mut rng, &mut failed);
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
        n_points: s.data.len() as u32,
        interval_noise: interval_noise(s).into(),
        ..FitRow::empty(
            (&s.key.task, s.key.mode, s.key.shots, &s.key.metric),
            s.axis,
            shape_name,
        )
    }
}

fn fit_rows(s: &Series, ctx: &Context, rng: &mut ChaCha8Rng, failed: &mut usize) -> Vec<FitRow> {
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
    if has_level(&s.key.metric) {
        level_columns(s, &f, ctx, rng, [&mut ll, &mut sg]);
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
    runfolder::write::write_csv(&path, &analysis.fits).map_err(|e| Error::io(&path, e))?;
    let claims_path = dir.join(files::CLAIMS);
    runfolder::write::write_csv(&claims_path, &analysis.claims)
        .map_err(|e| Error::io(&claims_path, e))?;
    Ok(path)
}

pub use crate::summary::summary;
