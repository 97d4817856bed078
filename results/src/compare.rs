//! `emerge compare`: two runs joined (polars) on task, mode, shots, metric
//! and model size at the final checkpoint; values, differences (B − A) with
//! 95 % intervals, and a paired test wherever both runs scored identical
//! items (McNemar for exact match, paired bootstrap otherwise).

use crate::error::Result;
use crate::load::{CurvePoint, Run};
use crate::stats::{mcnemar_p, paired_bootstrap, stable_hash};
use polars::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runfolder::schema::CurveKey;
use runfolder::schema::{metric, CompareRow, Mode, SampleRow};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Seed of the paired bootstrap streams (one per row, by stable hash).
pub const COMPARE_SEED: u64 = 0x0063_6f6d_7061_7265; // "compare"
pub const COMPARE_REPS: usize = 2000;

/// The joined rows, and notes on what the runs do not share.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub name_a: String,
    pub name_b: String,
    pub rows: Vec<CompareRow>,
    pub notes: Vec<String>,
}

fn frame(points: &[CurvePoint], suffix: &str) -> PolarsResult<LazyFrame> {
    let s = |name: &str| PlSmallStr::from(format!("{name}{suffix}"));
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "task".into(),
            points.iter().map(|p| p.task.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "mode".into(),
            points.iter().map(|p| p.mode.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "shots".into(),
            points.iter().map(|p| p.shots).collect::<Vec<_>>(),
        ),
        Column::new(
            "metric".into(),
            points.iter().map(|p| p.metric.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "params_non_embedding".into(),
            points
                .iter()
                .map(|p| p.params_non_embedding)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            s("value"),
            points.iter().map(|p| p.value).collect::<Vec<_>>(),
        ),
        Column::new(
            s("ci_lo"),
            points.iter().map(|p| p.ci_lo).collect::<Vec<_>>(),
        ),
        Column::new(
            s("ci_hi"),
            points.iter().map(|p| p.ci_hi).collect::<Vec<_>>(),
        ),
    ])?;
    Ok(df.lazy())
}

const KEYS: [&str; 5] = ["task", "mode", "shots", "metric", "params_non_embedding"];

/// Inner-join the final points of both runs.
fn join(a: &Run, b: &Run) -> Result<Vec<(CurveKey, u64, [f64; 6])>> {
    let keys: Vec<Expr> = KEYS.iter().map(|k| col(*k)).collect();
    let df = frame(&a.final_points, "_a")?
        .join(
            frame(&b.final_points, "_b")?,
            keys.clone(),
            keys,
            JoinArgs::new(JoinType::Inner),
        )
        .sort(KEYS, SortMultipleOptions::default())
        .collect()?;
    let task = df.column("task")?.str()?;
    let mode = df.column("mode")?.str()?;
    let shots = df.column("shots")?.u32()?;
    let met = df.column("metric")?.str()?;
    let size = df.column("params_non_embedding")?.u64()?;
    let names = [
        "value_a", "ci_lo_a", "ci_hi_a", "value_b", "ci_lo_b", "ci_hi_b",
    ];
    let vals: Vec<Float64Chunked> = names
        .iter()
        .map(|n| Ok(df.column(n)?.f64()?.clone()))
        .collect::<PolarsResult<_>>()?;
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(t), Some(m), Some(sh), Some(me), Some(sz)) = (
            task.get(i),
            mode.get(i).and_then(Mode::parse),
            shots.get(i),
            met.get(i),
            size.get(i),
        ) else {
            continue;
        };
        let mut v = [f64::NAN; 6];
        for (k, c) in vals.iter().enumerate() {
            v[k] = c.get(i).unwrap_or(f64::NAN);
        }
        out.push((
            CurveKey {
                task: t.into(),
                mode: m,
                shots: sh,
                metric: me.into(),
            },
            sz,
            v,
        ));
    }
    Ok(out)
}

/// Items of the model of each seed at a size (final step), by seed.
fn items_by_seed<'r>(
    run: &'r Run,
    size: u64,
    key: &CurveKey,
) -> BTreeMap<u64, BTreeMap<&'r str, &'r SampleRow>> {
    let mut out: BTreeMap<u64, BTreeMap<&str, &SampleRow>> = BTreeMap::new();
    let models: BTreeMap<&str, u64> = run
        .models
        .iter()
        .filter(|m| m.params_non_embedding == size && run.final_step.contains_key(&m.model_id))
        .map(|m| (m.model_id.as_str(), m.seed))
        .collect();
    for s in &run.samples {
        let Some(&seed) = models.get(s.model_id.as_str()) else {
            continue;
        };
        if run.final_step.get(&s.model_id) == Some(&s.step)
            && s.task == key.task
            && s.mode == key.mode
            && s.shots == key.shots
        {
            out.entry(seed).or_default().insert(s.item_id.as_str(), s);
        }
    }
    out
}

/// Item pairs (value in A, value in B): same seed, or the only seed of each
/// when both runs have one; same item id with identical prompt and target.
///
/// Empty unless the pairs are all the items behind both runs' values: a
/// paired interval over a subset (say seed 0 of a 3-seed run) would describe
/// another quantity than the row's difference of seed means.
fn pairs(a: &Run, b: &Run, key: &CurveKey, size: u64) -> Vec<(f64, f64)> {
    let ia = items_by_seed(a, size, key);
    let ib = items_by_seed(b, size, key);
    let seed_pairs: Vec<(u64, u64)> = if ia.keys().eq(ib.keys()) {
        ia.keys().map(|&s| (s, s)).collect()
    } else if ia.len() == 1 && ib.len() == 1 {
        vec![(*ia.keys().next().unwrap(), *ib.keys().next().unwrap())]
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (sa, sb) in seed_pairs {
        for (id, ra) in &ia[&sa] {
            let Some(rb) = ib[&sb].get(id) else { continue };
            if ra.prompt != rb.prompt || ra.target != rb.target {
                continue;
            }
            if let (Some(va), Some(vb)) =
                (ra.metric_value(&key.metric), rb.metric_value(&key.metric))
            {
                out.push((va, vb));
            }
        }
    }
    let items = |m: &BTreeMap<u64, BTreeMap<&str, &SampleRow>>| {
        m.values().map(BTreeMap::len).sum::<usize>()
    };
    if out.len() != items(&ia) || out.len() != items(&ib) {
        return Vec::new();
    }
    out
}

/// Compare run B against run A.
pub fn compare(a: &Run, b: &Run) -> Result<Comparison> {
    let mut rows = Vec::new();
    for (key, size, v) in join(a, b)? {
        let diff = v[3] - v[0];
        let p = pairs(a, b, &key, size);
        let mut row = CompareRow {
            task: key.task.clone(),
            mode: key.mode,
            shots: key.shots,
            metric: key.metric.clone(),
            params_non_embedding: size,
            value_a: v[0],
            ci_lo_a: v[1],
            ci_hi_a: v[2],
            value_b: v[3],
            ci_lo_b: v[4],
            ci_hi_b: v[5],
            diff,
            diff_lo: f64::NAN,
            diff_hi: f64::NAN,
            test: String::new(),
            p_value: None,
            n_paired: p.len() as u64,
        };
        if p.is_empty() {
            let se = |lo: f64, hi: f64| (hi - lo) / (2.0 * 1.96);
            let s = (se(v[1], v[2]).powi(2) + se(v[4], v[5]).powi(2)).sqrt();
            row.diff_lo = diff - 1.96 * s;
            row.diff_hi = diff + 1.96 * s;
        } else {
            let d: Vec<f64> = p.iter().map(|(x, y)| y - x).collect();
            let tag = format!(
                "{}/{}/{}/{}/{size}",
                key.task, key.mode, key.shots, key.metric
            );
            let mut rng = ChaCha8Rng::seed_from_u64(COMPARE_SEED ^ stable_hash(&tag));
            let (_, lo, hi, pb) = paired_bootstrap(&d, COMPARE_REPS, &mut rng);
            row.diff_lo = lo;
            row.diff_hi = hi;
            // Per-item 0/1 metrics get McNemar's test; continuous ones the bootstrap.
            let binary = [
                metric::EXACT_MATCH,
                metric::EXTRACTION_FAILURE,
                metric::PARROT,
            ];
            if binary.contains(&key.metric.as_str()) {
                let only_a = p.iter().filter(|(x, y)| *x > 0.5 && *y <= 0.5).count() as u64;
                let only_b = p.iter().filter(|(x, y)| *x <= 0.5 && *y > 0.5).count() as u64;
                row.test = "mcnemar".into();
                row.p_value = Some(mcnemar_p(only_a, only_b));
            } else {
                row.test = "paired_bootstrap".into();
                row.p_value = Some(pb);
            }
        }
        rows.push(row);
    }
    Ok(Comparison {
        name_a: a.name(),
        name_b: b.name(),
        rows,
        notes: differences(a, b),
    })
}

/// What the runs do not share, in words.
fn differences(a: &Run, b: &Run) -> Vec<String> {
    let mut notes = Vec::new();
    let (na, nb) = (a.name(), b.name());
    let mut diff_sets = |what: &str, sa: BTreeSet<String>, sb: BTreeSet<String>| {
        let only_a: Vec<_> = sa.difference(&sb).cloned().collect();
        let only_b: Vec<_> = sb.difference(&sa).cloned().collect();
        if !only_a.is_empty() {
            notes.push(format!("{what} only in {na} (A): {}", only_a.join(", ")));
        }
        if !only_b.is_empty() {
            notes.push(format!("{what} only in {nb} (B): {}", only_b.join(", ")));
        }
    };
    diff_sets("tasks", a.tasks(), b.tasks());
    let fmt_sizes = |r: &Run| {
        r.sizes()
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    };
    diff_sets("sizes", fmt_sizes(a), fmt_sizes(b));
    let combos = |r: &Run| {
        r.final_points
            .iter()
            .map(|p| format!("{}/{}/{}shot/{}", p.task, p.mode, p.shots, p.metric))
            .collect::<BTreeSet<_>>()
    };
    let (ca, cb) = (combos(a), combos(b));
    let (ta, tb) = (a.tasks(), b.tasks());
    // Combos of shared tasks only: whole missing tasks were reported above.
    let shared = |c: BTreeSet<String>| {
        c.into_iter()
            .filter(|s| {
                let t = s.split('/').next().unwrap_or("");
                ta.contains(t) && tb.contains(t)
            })
            .collect::<BTreeSet<_>>()
    };
    diff_sets("curves", shared(ca), shared(cb));
    notes
}

/// The comparison as an aligned text table.
pub fn table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A = {}, B = {}; diff = B − A", c.name_a, c.name_b);
    let _ = writeln!(
        s,
        "{:<10} {:<6} {:>5} {:<16} {:>9} {:>8} {:>8} {:>8} {:>19} {:<16} {:>8}",
        "task", "mode", "shots", "metric", "size", "A", "B", "diff", "95% interval", "test", "p"
    );
    for r in &c.rows {
        let p = match r.p_value {
            Some(p) if p < 0.001 => "<0.001".to_string(),
            Some(p) => format!("{p:.3}"),
            None => "-".into(),
        };
        let test = if r.test.is_empty() {
            "-"
        } else {
            r.test.as_str()
        };
        let _ = writeln!(
            s,
            "{:<10} {:<6} {:>5} {:<16} {:>9} {:>8.4} {:>8.4} {:>+8.4} [{:>+8.4}, {:>+8.4}] {:<16} {:>8}",
            r.task, r.mode, r.shots, r.metric, crate::human::si(r.params_non_embedding as f64), r.value_a, r.value_b,
            r.diff, r.diff_lo, r.diff_hi, test, p
        );
    }
    for n in &c.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
