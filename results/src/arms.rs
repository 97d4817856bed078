//! Ablation arms: one run folder whose jobs differ only in their training
//! mixture (`[[arms]]` in the sweep config), compared arm against arm.
//!
//! An arm's models carry it in their id (`L2-D64-H4-s0@word+code`, the
//! part after [`SEPARATOR`]), so `models.csv`, `scores.csv` and every other
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

use crate::analyze::{analyze, write_analysis, Analysis};
use crate::compare::compare;
use crate::error::{Error, Result};
use crate::load::{CurveKey, Run};
use crate::schema::{metric, shape, x_axis, CsvRow, FitRow, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Between a model's plain id and its arm's name.
pub const SEPARATOR: char = '@';
/// The folder under a run folder that holds one analysis per arm.
pub const DIR: &str = "arms";
pub const PAIRED_FILE: &str = "arms_paired.csv";

/// The arm of a model id, if it has one.
pub fn arm_of(model_id: &str) -> Option<&str> {
    model_id.split_once(SEPARATOR).map(|(_, arm)| arm)
}

/// `run/arms/<arm>`: where that arm's fits, claims and plots go.
pub fn arm_dir(run: &Path, arm: &str) -> PathBuf {
    run.join(DIR).join(arm)
}

/// `arms.csv`: one row per evaluated task × mode × shots × arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub arm: String,
    /// The first arm of the config, which every shift is measured from.
    pub baseline: String,
    /// This arm's N* (exact match, non-embedding parameters) and its 95 %
    /// interval, as in its own `arms/<arm>/fits.csv`; empty when not located.
    pub n_star: Option<f64>,
    pub n_star_lo: Option<f64>,
    pub n_star_hi: Option<f64>,
    /// `bracket` or `bootstrap` (see `FitRow::interval_method`).
    pub n_star_method: String,
    /// log10(N*_arm) − log10(N*_baseline) in decades: negative means this
    /// arm's transition comes at a smaller size. Empty unless both N* are
    /// located with a bootstrap interval (not a bracket).
    pub shift: Option<f64>,
    /// 95 % interval of the shift in decades, or, when `shift_kind` is
    /// `bound`, the bounds the two brackets allow.
    pub shift_lo: Option<f64>,
    pub shift_hi: Option<f64>,
    /// `interval`, `bound`, `not_located` or `baseline`.
    pub shift_kind: String,
    /// Why a value is missing.
    pub note: String,
}

impl CsvRow for ArmRow {
    const FILE: &'static str = "arms.csv";
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "arm",
        "baseline",
        "n_star",
        "n_star_lo",
        "n_star_hi",
        "n_star_method",
        "shift",
        "shift_lo",
        "shift_hi",
        "shift_kind",
        "note",
    ];
}

/// `arms_paired.csv`: each non-baseline arm against the baseline at one
/// size, on the identical evaluation items (final checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmPairRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub arm: String,
    pub baseline: String,
    pub params_non_embedding: u64,
    /// Exact match of the baseline and of the arm.
    pub value_baseline: f64,
    pub value_arm: f64,
    /// value_arm − value_baseline with its paired-bootstrap 95 % interval.
    pub diff: f64,
    pub diff_lo: f64,
    pub diff_hi: f64,
    /// Items scored by both with the same id, prompt and target.
    pub n_paired: u64,
    /// Two-sided exact McNemar test on the discordant items; empty when the
    /// items do not pair up.
    pub p_value: Option<f64>,
}

impl CsvRow for ArmPairRow {
    const FILE: &'static str = PAIRED_FILE;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "arm",
        "baseline",
        "params_non_embedding",
        "value_baseline",
        "value_arm",
        "diff",
        "diff_lo",
        "diff_hi",
        "n_paired",
        "p_value",
    ];
}

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

/// Every arm's own analysis and the comparison of arms.
#[derive(Debug, Clone)]
pub struct ArmsAnalysis {
    /// (arm, its run, its analysis), in the config's order: the first is the baseline.
    pub arms: Vec<(String, Run, Analysis)>,
    pub rows: Vec<ArmRow>,
    pub paired: Vec<ArmPairRow>,
}

/// Analyze each arm of the run folder `dir` on its own, then compare the
/// arms. `names` lists the arms in the config's order (the baseline first).
pub fn analyze_arms(dir: &Path, names: &[String]) -> Result<ArmsAnalysis> {
    if names.len() < 2 {
        return Err(Error::Invalid(format!(
            "{}: an ablation needs two arms or more, got {}",
            dir.display(),
            names.len()
        )));
    }
    let mut arms = Vec::new();
    for name in names {
        let run = Run::load_arm(dir, name)?;
        let analysis = analyze(&run)?;
        arms.push((name.clone(), run, analysis));
    }
    let (rows, paired) = compare_arms(&arms)?;
    Ok(ArmsAnalysis { arms, rows, paired })
}

/// `arms.csv` and `arms_paired.csv` rows from analyzed arms (the first is
/// the baseline).
pub fn compare_arms(arms: &[(String, Run, Analysis)]) -> Result<(Vec<ArmRow>, Vec<ArmPairRow>)> {
    let (base_name, base_run, base_an) = &arms[0];
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
    for key in &keys {
        let base = locate(&base_an.fits, key, ladder(base_run));
        for (name, run, an) in arms {
            let here = locate(&an.fits, key, ladder(run));
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
                note: String::new(),
            };
            if !matches!(here, Located::Not(_)) {
                if let Some(sg) = sigmoid_fit(&an.fits, key) {
                    row.n_star = sg.threshold_params;
                    row.n_star_lo = sg.threshold_lo;
                    row.n_star_hi = sg.threshold_hi;
                    row.n_star_method = sg.interval_method.clone();
                }
            }
            let mut why = Vec::new();
            if let Located::Not(w) = &here {
                why.push(format!("{name}: {w}"));
            }
            if name == base_name {
                row.shift_kind = "baseline".into();
            } else {
                let (kind, s, lo, hi) = shift(&here, &base);
                (row.shift, row.shift_lo, row.shift_hi) = (s, lo, hi);
                row.shift_kind = kind.into();
                if let Located::Not(w) = &base {
                    why.push(format!("{base_name}: {w}"));
                }
                if kind == "bound" {
                    why.push("N* only bracketed: the shift lies between the bounds".into());
                }
            }
            row.note = why.join("; ");
            rows.push(row);
        }
    }
    let mut paired = Vec::new();
    for (name, run, _) in &arms[1..] {
        for c in compare(base_run, run)?.rows {
            if c.metric != metric::EXACT_MATCH {
                continue;
            }
            paired.push(ArmPairRow {
                task: c.task,
                mode: c.mode,
                shots: c.shots,
                arm: name.clone(),
                baseline: base_name.clone(),
                params_non_embedding: c.params_non_embedding,
                value_baseline: c.value_a,
                value_arm: c.value_b,
                diff: c.diff,
                diff_lo: c.diff_lo,
                diff_hi: c.diff_hi,
                n_paired: c.n_paired,
                p_value: c.p_value,
            });
        }
    }
    Ok((rows, paired))
}

/// [`analyze_arms`], then write `arms/<arm>/fits.csv` and `claims.csv` for
/// every arm, and `arms.csv` and `arms_paired.csv` at the top of `dir`.
pub fn analyze_arms_run(dir: &Path, names: &[String]) -> Result<ArmsAnalysis> {
    let a = analyze_arms(dir, names)?;
    for (name, _, an) in &a.arms {
        let out = arm_dir(dir, name);
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        write_analysis(&out, an)?;
    }
    let rows = dir.join(ArmRow::FILE);
    crate::write::write_csv(&rows, &a.rows).map_err(|e| Error::io(&rows, e))?;
    let paired = dir.join(ArmPairRow::FILE);
    crate::write::write_csv(&paired, &a.paired).map_err(|e| Error::io(&paired, e))?;
    Ok(a)
}

fn si(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.3}M", v / 1e6),
        a if a >= 1e3 => format!("{:.3}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
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

/// The arms comparison as text for the terminal: N* and shift per curve,
/// then the sizes where a paired test finds a difference (p < 0.05).
pub fn summary(a: &ArmsAnalysis) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "arms: N* of exact match per arm, shift from `{}` in decades (95% interval; \
         combined from the two N* intervals, conservative)",
        a.arms[0].0
    );
    for r in &a.rows {
        let _ = writeln!(
            s,
            "  {:<9} {:<6} {:<16} N* {:<28} shift {}{}",
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
    let hits: Vec<&ArmPairRow> = a
        .paired
        .iter()
        .filter(|p| p.p_value.is_some_and(|p| p < 0.05))
        .collect();
    let _ = writeln!(
        s,
        "paired McNemar tests on identical items: {} of {} (arm, task, mode, size) with p < 0.05{}",
        hits.len(),
        a.paired.len(),
        if hits.is_empty() { "" } else { ":" }
    );
    for p in hits {
        let _ = writeln!(
            s,
            "  {:<9} {:<6} {:<16} at {:>8}: {:.2} vs {:.2} ({:+.2} [{:+.2}, {:+.2}]), p = {:.2e}",
            p.task,
            p.mode,
            p.arm,
            si(p.params_non_embedding as f64),
            p.value_arm,
            p.value_baseline,
            p.diff,
            p.diff_lo,
            p.diff_hi,
            p.p_value.unwrap_or(f64::NAN)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_ids_round_trip() {
        assert_eq!(arm_of("L2-D64-H4-s0@word+code"), Some("word+code"));
        assert_eq!(arm_of("L2-D64-H4-s0"), None);
    }

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
