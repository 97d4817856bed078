//! `claims.csv`: per model size, the number behind each claim a run can test
//! (see [`ClaimRow`] for the four claims and their intervals), computed from
//! the seed-averaged final points of a run.

use crate::load::{CurvePoint, Run};
use crate::schema::{claim, metric, ClaimRow, Mode};
use std::collections::BTreeMap;

/// The task whose names and nouns `word_ood` replaces.
const IN_DISTRIBUTION: &str = "word";
const OUT_OF_DISTRIBUTION: &str = "word_ood";

/// Final exact match (or another metric) by (task, mode, shots, size).
type Table<'a> = BTreeMap<(&'a str, Mode, u32, u64), &'a CurvePoint>;

fn table<'a>(run: &'a Run, metric_name: &str) -> Table<'a> {
    run.final_points
        .iter()
        .filter(|p| p.metric == metric_name)
        .map(|p| {
            (
                (p.task.as_str(), p.mode, p.shots, p.params_non_embedding),
                p,
            )
        })
        .collect()
}

/// `a − b` with the two 95 % half-widths added in quadrature.
fn difference(name: &str, key: (&str, Mode, u32, u64), a: &CurvePoint, b: &CurvePoint) -> ClaimRow {
    let half = |p: &CurvePoint| 0.5 * (p.ci_hi - p.ci_lo);
    let value = a.value - b.value;
    let h = half(a).hypot(half(b));
    ClaimRow {
        claim: name.to_string(),
        task: key.0.to_string(),
        mode: key.1,
        shots: key.2,
        params_non_embedding: key.3,
        value,
        ci_lo: value - h,
        ci_hi: value + h,
        n_seeds: a.n_seeds.min(b.n_seeds),
    }
}

/// Every claim row the run's scores support, in a fixed order (claim, task,
/// mode, shots, size).
pub fn claims(run: &Run) -> Vec<ClaimRow> {
    let em = table(run, metric::EXACT_MATCH);
    let mut out = Vec::new();
    for (&(task, mode, shots, size), &p) in &em {
        // cot_gain: the cot point against the direct point of the same cell.
        if mode == Mode::Cot {
            if let Some(d) = em.get(&(task, Mode::Direct, shots, size)) {
                out.push(difference(claim::COT_GAIN, (task, mode, shots, size), p, d));
            }
        }
        // ood_gap: word against word_ood, same mode, shots and size.
        if task == IN_DISTRIBUTION {
            if let Some(o) = em.get(&(OUT_OF_DISTRIBUTION, mode, shots, size)) {
                out.push(difference(claim::OOD_GAP, (task, mode, shots, size), p, o));
            }
        }
        // shot_gain: against the fewest shots scored for this task and mode.
        let fewest = em
            .keys()
            .filter(|k| k.0 == task && k.1 == mode && k.3 == size)
            .map(|k| k.2)
            .min();
        if let Some(base) = fewest.filter(|&b| b < shots) {
            let b = em[&(task, mode, base, size)];
            out.push(difference(
                claim::SHOT_GAIN,
                (task, mode, shots, size),
                p,
                b,
            ));
        }
    }
    for (&(task, mode, shots, size), &p) in &table(run, metric::PARROT) {
        out.push(ClaimRow {
            claim: claim::PARROT.to_string(),
            task: task.to_string(),
            mode,
            shots,
            params_non_embedding: size,
            value: p.value,
            ci_lo: p.ci_lo,
            ci_hi: p.ci_hi,
            n_seeds: p.n_seeds,
        });
    }
    out.sort_by(|a, b| {
        (&a.claim, &a.task, a.mode, a.shots, a.params_non_embedding).cmp(&(
            &b.claim,
            &b.task,
            b.mode,
            b.shots,
            b.params_non_embedding,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn differences_and_intervals() {
        let p = |value: f64, lo: f64, hi: f64| CurvePoint {
            task: "t".into(),
            mode: Mode::Cot,
            shots: 0,
            metric: metric::EXACT_MATCH.into(),
            params_non_embedding: 10,
            step: 1,
            flops: 1.0,
            value,
            ci_lo: lo,
            ci_hi: hi,
            seed_sd: 0.0,
            n_seeds: 2,
            n: 100,
            chance: 0.0,
        };
        let r = difference(
            claim::COT_GAIN,
            ("t", Mode::Cot, 0, 10),
            &p(0.9, 0.8, 1.0),
            &p(0.2, 0.17, 0.23),
        );
        assert!((r.value - 0.7).abs() < 1e-12);
        let h = (0.1f64.powi(2) + 0.03f64.powi(2)).sqrt();
        assert!((r.ci_lo - (0.7 - h)).abs() < 1e-12 && (r.ci_hi - (0.7 + h)).abs() < 1e-12);
        assert_eq!(r.n_seeds, 2);
    }

    #[test]
    fn a_synthetic_run_yields_cot_and_shot_gains_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let spec = synth::SynthSpec::example();
        synth::write_run(dir.path(), &spec).unwrap();
        let run = Run::load(dir.path()).unwrap();
        let rows = claims(&run);
        let sizes = spec.sizes.len();
        let cells: usize = spec.tasks.iter().map(|t| t.shots.len()).sum();
        let count = |c: &str| rows.iter().filter(|r| r.claim == c).count();
        assert_eq!(count(claim::COT_GAIN), cells * sizes, "{rows:?}");
        // `sort` is scored at 0 and 2 shots: one gain per mode and size.
        assert_eq!(count(claim::SHOT_GAIN), 2 * sizes, "{rows:?}");
        assert_eq!(count(claim::OOD_GAP) + count(claim::PARROT), 0);
        for g in rows.iter().filter(|r| r.claim == claim::COT_GAIN) {
            let em = |mode: Mode| {
                run.final_points
                    .iter()
                    .find(|p| {
                        p.metric == metric::EXACT_MATCH
                            && p.mode == mode
                            && p.task == g.task
                            && p.shots == g.shots
                            && p.params_non_embedding == g.params_non_embedding
                    })
                    .unwrap()
                    .value
            };
            assert!((g.value - (em(Mode::Cot) - em(Mode::Direct))).abs() < 1e-12);
            assert!(g.ci_lo < g.value && g.value < g.ci_hi);
        }
    }
}
