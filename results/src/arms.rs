//! Ablation arms: one run folder whose jobs differ only in their training
//! mixture (`[[arms]]` in the sweep config), compared arm against arm.
//!
//! An arm's models carry it in their id (`L2-D64-H4-s0@word+code`, the
//! part after `runfolder::ids::SEPARATOR`), so `models.csv`, `scores.csv` and every other
//! file keep their columns. Each arm is loaded as a run of its own
//! ([`Run::load_arm`]) and analyzed exactly like an ordinary run, into
//! `arms/<arm>/fits.csv` and `claims.csv`. Then, per evaluated task and mode
//! (exact match, the parameter axis), `arms.csv` gives each arm's N* and its
//! shift from the first arm (the baseline) in decades, and
//! `arms_paired.csv` a paired test at every size on the identical items.
//!
//! The shift's interval combines the two arms' N* intervals as if they were
//! independent: each side's half-width is the root sum of squares of the
//! two facing half-widths, in log10. The arms are scored on the same items,
//! whose noise therefore moves both curves the same way and partly cancels
//! in the difference, so this errs wide (conservative). Each N* interval
//! already covers its arm's seed and item noise. When either N* is only bracketed (the jump falls between two
//! sizes) the shift is only a bound: the interval arithmetic of the two
//! brackets, with no point value. When either is not located at all (the
//! curve never crosses its level, or N*'s interval is open or runs past the
//! ladder) there is no shift, and the note says why. N* is the fixed-level
//! threshold of [`crate::threshold`], as in every `fits.csv`.
//!
//! A displacement control (an arm whose mixture trains on filler in place of
//! a task, [`ArmSpec::control`]) is a second reference: every row also gives
//! the arm's shift from the control by the same rule, and `arms_paired.csv`
//! tests every other arm against it too. Every paired p-value carries Holm's
//! adjustment over all the run's paired tests (`p_holm`). Arms that share a
//! mixture and differ in learning rate are checked for a verdict that
//! changes with the learning rate (`verdict_changes`, and a note).

use crate::analyze::{analyze, write_analysis, Analysis};
use crate::compare::compare;
use crate::error::{Error, Result};
use crate::human::si;
use crate::load::Run;
use runfolder::ids::arm_dir;
use runfolder::schema::CurveKey;
use runfolder::schema::{metric, shape, x_axis, ArmPairRow, ArmRow, CsvRow, FitRow};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// Where one arm's N* is, in log10 of non-embedding parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// A fitted midpoint with its 95 % interval.
    Point { x: f64, lo: f64, hi: f64 },
    /// Only known to lie between two sizes.
    Bracket { lo: f64, hi: f64 },
    /// No threshold to measure from, and why.
    Not(String),
}

/// The sigmoid fit of one curve on the parameter axis, where N* is read.
fn sigmoid_fit<'a>(fits: &'a [FitRow], key: &CurveKey) -> Option<&'a FitRow> {
    fits.iter().find(|r| {
        r.task == key.task
            && r.mode == key.mode
            && r.shots == key.shots
            && r.metric == key.metric
            && r.x_axis == x_axis::PARAMS
            && r.shape == shape::SIGMOID
    })
}

/// Read an arm's N* for one curve from its fits (exact match, parameter
/// axis): the fixed-level N* ([`crate::threshold`]), located when the curve
/// crosses its level and both ends of the interval are closed and within
/// the ladder `(smallest, largest)`.
pub fn locate(fits: &[FitRow], key: &CurveKey, ladder: (f64, f64)) -> Located {
    let Some(sg) = sigmoid_fit(fits, key) else {
        return Located::Not("no fit".into());
    };
    match sg.threshold_method.as_str() {
        "" => return Located::Not(format!("no N* ({})", sg.status.replace('_', " "))),
        "not_located" => {
            let why = sg
                .note
                .split("; ")
                .find_map(|n| n.strip_prefix("not located: "))
                .unwrap_or("does not cross its level");
            return Located::Not(format!("not located: {why}"));
        }
        _ => {}
    }
    let (Some(n), Some(lo), Some(hi)) = (sg.threshold_params, sg.threshold_lo, sg.threshold_hi)
    else {
        return Located::Not(
            "N* interval open: not located on one side in over 2.5 % of replicates".into(),
        );
    };
    // A relative slack: sizes pass through f64 and back.
    let inside = |v: f64| v >= ladder.0 * (1.0 - 1e-9) && v <= ladder.1 * (1.0 + 1e-9);
    if !inside(n) || !inside(lo) || !inside(hi) {
        return Located::Not(format!(
            "N* interval [{lo:.3e}, {hi:.3e}] runs past the ladder"
        ));
    }
    if sg.interval_method == "bracket" {
        Located::Bracket {
            lo: lo.log10(),
            hi: hi.log10(),
        }
    } else {
        Located::Point {
            x: n.log10(),
            lo: lo.log10(),
            hi: hi.log10(),
        }
    }
}

/// The shift of `arm`'s N* from `base`'s, in decades: `(kind, shift, lo,
/// hi)` as [`ArmRow`] stores them (see the module docs for the rule).
pub fn shift(
    arm: &Located,
    base: &Located,
) -> (&'static str, Option<f64>, Option<f64>, Option<f64>) {
    use Located::*;
    let bounds = |l: &Located| match *l {
        Point { lo, hi, .. } | Bracket { lo, hi } => Some((lo, hi)),
        Not(_) => None,
    };
    match (arm, base) {
        (
            Point {
                x: a,
                lo: al,
                hi: ah,
            },
            Point {
                x: b,
                lo: bl,
                hi: bh,
            },
        ) => {
            let s = a - b;
            let lo = s - ((a - al).powi(2) + (bh - b).powi(2)).sqrt();
            let hi = s + ((ah - a).powi(2) + (b - bl).powi(2)).sqrt();
            ("interval", Some(s), Some(lo), Some(hi))
        }
        _ => match (bounds(arm), bounds(base)) {
            (Some((al, ah)), Some((bl, bh))) => ("bound", None, Some(al - bh), Some(ah - bl)),
            _ => ("not_located", None, None, None),
        },
    }
}

/// What the analysis needs to know of one arm from the run's config.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSpec {
    pub name: String,
    /// The learning rate the arm trains at, when known.
    pub lr: Option<f64>,
    /// The arm's training mixture in a stable text form: arms with equal
    /// text differ only in their learning rate.
    pub mixture: String,
    /// A displacement control: its mixture trains on filler in place of a
    /// task, so its shift shows what displacing that data alone does.
    pub control: bool,
}

impl ArmSpec {
    /// An arm known by name only (no learning rate, a mixture of its own,
    /// not a control).
    pub fn named(name: &str) -> ArmSpec {
        ArmSpec {
            name: name.to_string(),
            lr: None,
            mixture: name.to_string(),
            control: false,
        }
    }
}

/// Every arm's own analysis and the comparison of arms.
#[derive(Debug, Clone)]
pub struct ArmsAnalysis {
    /// (arm, its run, its analysis), in the config's order: the first is the baseline.
    pub arms: Vec<(String, Run, Analysis)>,
    pub rows: Vec<ArmRow>,
    pub paired: Vec<ArmPairRow>,
    /// Curves whose verdict changes with the learning rate, in words.
    pub notes: Vec<String>,
}

/// Analyze each arm of the run folder `dir` on its own, then compare the
/// arms. `specs` lists the arms in the config's order (the baseline first).
pub fn analyze_arms(dir: &Path, specs: &[ArmSpec]) -> Result<ArmsAnalysis> {
    if specs.len() < 2 {
        return Err(Error::invalid(format!(
            "{}: an ablation needs two arms or more, got {}",
            dir.display(),
            specs.len()
        )));
    }
    let mut arms = Vec::new();
    for spec in specs {
        let run = Run::load_arm(dir, &spec.name)?;
        let analysis = analyze(&run)?;
        arms.push((spec.name.clone(), run, analysis));
    }
    let (rows, paired, notes) = compare_arms(&arms, specs)?;
    Ok(ArmsAnalysis {
        arms,
        rows,
        paired,
        notes,
    })
}

/// The learning rate in a row and a note: `0.002`, `2e-4`.
fn fmt_lr(lr: Option<f64>) -> String {
    match lr {
        Some(v) if (1e-3..1e3).contains(&v.abs()) => format!("{v}"),
        Some(v) => format!("{v:e}"),
        None => "?".into(),
    }
}

/// `arms.csv` and `arms_paired.csv` rows from analyzed arms (the first is
/// the baseline; `specs` in the same order), and a note per curve whose
/// verdict changes with the learning rate.
pub fn compare_arms(
    arms: &[(String, Run, Analysis)],
    specs: &[ArmSpec],
) -> Result<(Vec<ArmRow>, Vec<ArmPairRow>, Vec<String>)> {
    let (base_name, base_run, base_an) = &arms[0];
    let control = specs
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, s)| s.control)
        .map(|(i, _)| i);
    // Curves: exact match of every (task, mode, shots) any arm scored.
    let keys: BTreeSet<CurveKey> = arms
        .iter()
        .flat_map(|(_, run, _)| run.final_points.iter())
        .filter(|p| p.metric == metric::EXACT_MATCH)
        .map(|p| p.key())
        .collect();
    let ladder = |run: &Run| {
        let sizes = run.sizes();
        (
            sizes.first().copied().unwrap_or(0) as f64,
            sizes.last().copied().unwrap_or(0) as f64,
        )
    };
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for key in &keys {
        let base = locate(&base_an.fits, key, ladder(base_run));
        let ctrl = control.map(|c| (&arms[c].0, locate(&arms[c].2.fits, key, ladder(&arms[c].1))));
        let first = rows.len();
        for (i, (name, run, an)) in arms.iter().enumerate() {
            let here = locate(&an.fits, key, ladder(run));
            let sg = sigmoid_fit(&an.fits, key);
            let mut row = ArmRow {
                task: key.task.clone(),
                mode: key.mode,
                shots: key.shots,
                arm: name.clone(),
                baseline: base_name.clone(),
                n_star: None,
                n_star_lo: None,
                n_star_hi: None,
                n_star_method: String::new(),
                shift: None,
                shift_lo: None,
                shift_hi: None,
                shift_kind: String::new(),
                control: String::new(),
                control_shift: None,
                control_shift_lo: None,
                control_shift_hi: None,
                control_shift_kind: String::new(),
                lr: specs.get(i).and_then(|s| s.lr),
                verdict: sg.map(|r| r.verdict.clone()).unwrap_or_default(),
                verdict_changes: false,
                note: String::new(),
            };
            if let (false, Some(sg)) = (matches!(here, Located::Not(_)), sg) {
                row.n_star = sg.threshold_params;
                row.n_star_lo = sg.threshold_lo;
                row.n_star_hi = sg.threshold_hi;
                row.n_star_method = sg.interval_method.clone();
            }
            let mut why = Vec::new();
            if let Located::Not(w) = &here {
                why.push(format!("{name}: {w}"));
            }
            // The shift from a reference (the baseline, then the control).
            let from = |reference: &str, at: &Located, why: &mut Vec<String>| {
                let (kind, s, lo, hi) = shift(&here, at);
                if let Located::Not(w) = at {
                    let w = format!("{reference}: {w}");
                    if !why.contains(&w) {
                        why.push(w);
                    }
                }
                if kind == "bound" {
                    why.push(format!(
                        "N* only bracketed: the shift from {reference} lies between the bounds"
                    ));
                }
                (kind.to_string(), s, lo, hi)
            };
            if i == 0 {
                row.shift_kind = "baseline".into();
            } else {
                (row.shift_kind, row.shift, row.shift_lo, row.shift_hi) =
                    from(base_name, &base, &mut why);
            }
            if let (Some(c), Some((cname, cat))) = (control, &ctrl) {
                row.control = cname.to_string();
                if i == c {
                    row.control_shift_kind = "control".into();
                } else {
                    (
                        row.control_shift_kind,
                        row.control_shift,
                        row.control_shift_lo,
                        row.control_shift_hi,
                    ) = from(cname, cat, &mut why);
                }
            }
            row.note = why.join("; ");
            rows.push(row);
        }
        notes.extend(verdict_changes(&mut rows[first..], specs));
    }
    let mut paired = Vec::new();
    let mut pairs: Vec<(usize, usize)> = (1..arms.len()).map(|i| (0, i)).collect();
    if let Some(c) = control {
        pairs.extend((1..arms.len()).filter(|&i| i != c).map(|i| (c, i)));
    }
    for (r, i) in pairs {
        let ((ref_name, ref_run, _), (name, run, _)) = (&arms[r], &arms[i]);
        for c in compare(ref_run, run)?.rows {
            if c.metric != metric::EXACT_MATCH {
                continue;
            }
            paired.push(ArmPairRow {
                task: c.task,
                mode: c.mode,
                shots: c.shots,
                arm: name.clone(),
                baseline: ref_name.clone(),
                params_non_embedding: c.params_non_embedding,
                value_baseline: c.value_a,
                value_arm: c.value_b,
                diff: c.diff,
                diff_lo: c.diff_lo,
                diff_hi: c.diff_hi,
                n_paired: c.n_paired,
                p_value: c.p_value,
                p_holm: None,
            });
        }
    }
    let ps: Vec<Option<f64>> = paired.iter().map(|p| p.p_value).collect();
    for (row, adj) in paired.iter_mut().zip(crate::stats::holm(&ps)) {
        row.p_holm = adj;
    }
    Ok((rows, paired, notes))
}

/// Flag one curve's rows (one per arm, in `specs`' order) where arms that
/// share a mixture but not a learning rate give different verdicts, and
/// say so in words.
fn verdict_changes(rows: &mut [ArmRow], specs: &[ArmSpec]) -> Vec<String> {
    let mut notes = Vec::new();
    let mixtures: BTreeSet<&str> = specs.iter().map(|s| s.mixture.as_str()).collect();
    for m in mixtures {
        let group: Vec<usize> = (0..rows.len().min(specs.len()))
            .filter(|&i| specs[i].mixture == m)
            .collect();
        let rates: BTreeSet<u64> = group
            .iter()
            .filter_map(|&i| specs[i].lr.map(f64::to_bits))
            .collect();
        let verdicts: BTreeSet<&str> = group.iter().map(|&i| rows[i].verdict.as_str()).collect();
        if rates.len() < 2 || verdicts.len() < 2 {
            continue;
        }
        let said: Vec<String> = group
            .iter()
            .map(|&i| {
                let v = rows[i].verdict.as_str();
                format!(
                    "{} (lr {}) {}",
                    rows[i].arm,
                    fmt_lr(rows[i].lr),
                    if v.is_empty() { "no verdict" } else { v }
                )
            })
            .collect();
        let text = format!(
            "the verdict changes with the learning rate: {}",
            said.join(", ")
        );
        let r = &rows[group[0]];
        notes.push(format!("{} {} {}-shot: {text}", r.task, r.mode, r.shots));
        for &i in &group {
            rows[i].verdict_changes = true;
            rows[i].note = if rows[i].note.is_empty() {
                text.clone()
            } else {
                format!("{}; {text}", rows[i].note)
            };
        }
    }
    notes
}

/// [`analyze_arms`], then write `arms/<arm>/fits.csv` and `claims.csv` for
/// every arm, and `arms.csv` and `arms_paired.csv` at the top of `dir`.
pub fn analyze_arms_run(dir: &Path, specs: &[ArmSpec]) -> Result<ArmsAnalysis> {
    let a = analyze_arms(dir, specs)?;
    for (name, _, an) in &a.arms {
        let out = arm_dir(dir, name);
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        write_analysis(&out, an)?;
    }
    let rows = dir.join(ArmRow::FILE);
    runfolder::write::write_csv(&rows, &a.rows).map_err(|e| Error::io(&rows, e))?;
    let paired = dir.join(ArmPairRow::FILE);
    runfolder::write::write_csv(&paired, &a.paired).map_err(|e| Error::io(&paired, e))?;
    Ok(a)
}

/// One arm's N* in words: `54.2k [38.1k, 74.1k]`, `between 25k and 56.6k`,
/// or `not located`.
pub fn describe_n_star(r: &ArmRow) -> String {
    match (r.n_star, r.n_star_lo, r.n_star_hi) {
        (Some(_), Some(lo), Some(hi)) if r.n_star_method == "bracket" => {
            format!("between {} and {}", si(lo), si(hi))
        }
        (Some(n), Some(lo), Some(hi)) => format!("{} [{}, {}]", si(n), si(lo), si(hi)),
        _ => "not located".into(),
    }
}

/// The shift in words: `+0.12 [-0.05, +0.30] decade`, `within [-0.4, +0.2]
/// decade (bracketed)`, `not located`, or `baseline`.
pub fn describe_shift(r: &ArmRow) -> String {
    match (r.shift_kind.as_str(), r.shift, r.shift_lo, r.shift_hi) {
        ("interval", Some(s), Some(lo), Some(hi)) => {
            format!("{s:+.2} [{lo:+.2}, {hi:+.2}] decade")
        }
        ("bound", _, Some(lo), Some(hi)) => {
            format!("within [{lo:+.2}, {hi:+.2}] decade (bracketed)")
        }
        ("baseline", ..) => "baseline".into(),
        _ => "not located".into(),
    }
}

/// A shift from the control in words, as [`describe_shift`] says it.
pub fn describe_control_shift(r: &ArmRow) -> String {
    describe_shift(&ArmRow {
        shift_kind: r.control_shift_kind.clone(),
        shift: r.control_shift,
        shift_lo: r.control_shift_lo,
        shift_hi: r.control_shift_hi,
        ..r.clone()
    })
}

/// The arms comparison as text for the terminal: N* and shift per curve
/// (and from the control, with one), the curves whose verdict changes with
/// the learning rate, then the paired tests that find a difference
/// (p < 0.05), counted before and after Holm's adjustment.
pub fn summary(a: &ArmsAnalysis) -> String {
    let mut s = String::new();
    let control = a
        .rows
        .iter()
        .find(|r| !r.control.is_empty())
        .map(|r| r.control.clone());
    let _ = writeln!(
        s,
        "arms: N* of exact match per arm, shift from `{}`{} in decades (95% interval; \
         combined from the two N* intervals, conservative)",
        a.arms[0].0,
        control
            .as_ref()
            .map(|c| format!(" and from the control `{c}`"))
            .unwrap_or_default()
    );
    for r in &a.rows {
        let vs_control = match r.control_shift_kind.as_str() {
            "" => String::new(),
            "control" => "  (the control)".into(),
            _ => format!("  vs control {}", describe_control_shift(r)),
        };
        let _ = writeln!(
            s,
            "  {:<9} {:<6} {:<16} N* {:<28} shift {}{vs_control}{}",
            r.task,
            r.mode,
            r.arm,
            describe_n_star(r),
            describe_shift(r),
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.note)
            }
        );
    }
    for n in &a.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let hits: Vec<&ArmPairRow> = a
        .paired
        .iter()
        .filter(|p| p.p_value.is_some_and(|p| p < 0.05))
        .collect();
    let adjusted = a
        .paired
        .iter()
        .filter(|p| p.p_holm.is_some_and(|p| p < 0.05))
        .count();
    let _ = writeln!(
        s,
        "paired McNemar tests on identical items: {} of {} (arm, reference, task, mode, size) with p < 0.05, \
         {adjusted} after Holm's adjustment over all {}{}",
        hits.len(),
        a.paired.len(),
        a.paired.len(),
        if hits.is_empty() { "" } else { ":" }
    );
    for p in hits {
        let _ = writeln!(
            s,
            "  {:<9} {:<6} {:<16} vs {:<16} at {:>8}: {:.2} vs {:.2} ({:+.2} [{:+.2}, {:+.2}]), p = {:.2e}, Holm {:.2e}",
            p.task,
            p.mode,
            p.arm,
            p.baseline,
            si(p.params_non_embedding as f64),
            p.value_arm,
            p.value_baseline,
            p.diff,
            p.diff_lo,
            p.diff_hi,
            p.p_value.unwrap_or(f64::NAN),
            p.p_holm.unwrap_or(f64::NAN)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_is_an_interval_a_bound_or_nothing() {
        let p = |x: f64, lo: f64, hi: f64| Located::Point { x, lo, hi };
        let (k, s, lo, hi) = shift(&p(4.0, 3.9, 4.2), &p(4.5, 4.4, 4.6));
        assert_eq!(k, "interval");
        assert!((s.unwrap() + 0.5).abs() < 1e-12);
        // Lower side: arm's lower half-width 0.1 with the baseline's upper 0.1.
        assert!((lo.unwrap() - (-0.5 - 0.02f64.sqrt())).abs() < 1e-12);
        assert!((hi.unwrap() - (-0.5 + 0.05f64.sqrt())).abs() < 1e-12);
        let b = Located::Bracket { lo: 4.0, hi: 4.5 };
        assert_eq!(
            shift(&b, &p(4.5, 4.4, 4.6)),
            ("bound", None, Some(4.0 - 4.6), Some(4.5 - 4.4))
        );
        assert_eq!(
            shift(&p(4.0, 3.9, 4.2), &Located::Not("x".into())),
            ("not_located", None, None, None)
        );
    }
}
