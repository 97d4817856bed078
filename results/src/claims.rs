//! `claims.csv`: per model size, the number behind each claim a run can test
//! (see [`ClaimRow`] for the four claims and their intervals), computed from
//! the seed-averaged final points of a run.

use crate::load::{CurvePoint, Run};
use runfolder::schema::{claim, metric, ClaimRow, Mode};
use std::collections::BTreeMap;

/// The task whose names and nouns `word_ood` replaces. The parrot claim is
/// read from any task that scores a `parrot` rate (`word_twin`).
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

/// A point's 95 % interval as (value − low, high − value): its item
/// interval, with several seeds combined with the spread between them as
/// [`CurvePoint::sigma`] does, and clipped to [0, 1] (proportions only).
fn arms(p: &CurvePoint) -> (f64, f64) {
    let k = p.n_seeds.max(1) as f64;
    let seed = 1.96 * p.seed_sd;
    let widen = |item: f64| {
        if p.n_seeds > 1 {
            ((item * item + seed * seed) / k).sqrt()
        } else {
            item
        }
    };
    let lo = widen(p.value - p.ci_lo).min(p.value).max(0.0);
    let hi = widen(p.ci_hi - p.value).min(1.0 - p.value).max(0.0);
    (lo, hi)
}

/// `a − b` with Newcombe's interval for a difference of proportions: the
/// lower arm combines a's lower and b's upper arms in quadrature, and the
/// upper arm the other two. Each arm is at most the distance to 0 or 1, so
/// the interval stays within [−1, 1].
fn difference(name: &str, key: (&str, Mode, u32, u64), a: &CurvePoint, b: &CurvePoint) -> ClaimRow {
    let ((al, au), (bl, bu)) = (arms(a), arms(b));
    let value = a.value - b.value;
    ClaimRow {
        claim: name.to_string(),
        task: key.0.to_string(),
        mode: key.1,
        shots: key.2,
        params_non_embedding: key.3,
        value,
        ci_lo: value - al.hypot(bu),
        ci_hi: value + au.hypot(bl),
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
        let (lo, hi) = arms(p);
        out.push(ClaimRow {
            claim: claim::PARROT.to_string(),
            task: task.to_string(),
            mode,
            shots,
            params_non_embedding: size,
            value: p.value,
            ci_lo: p.value - lo,
            ci_hi: p.value + hi,
            n_seeds: p.n_seeds,
        });
    }
    out.extend(loss_at_level(run));
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

/// `loss_at_level` rows: for each size, the held-out loss on the task at
/// which its exact match crosses the level over training. The loss is
/// −`completion_logprob` (nats per token of the gold completion of the
/// test items, the mode's completion: the loss that bears on what is
/// scored, with none of the prompt's unpredictable digits); the crossing is
/// the last upward one in step order ([`crate::threshold::crossing`]),
/// interpolated linearly in exact match between the two scored checkpoints
/// around it, whose losses are the interval. A size that is already above
/// the level at its first scored checkpoint, or never reaches it, has no row.
/// If points of different sizes cross at one loss, the ability tracks the
/// loss, not the size; the spread of a curve's rows over sizes says how far
/// from that it is.
fn loss_at_level(run: &Run) -> Vec<ClaimRow> {
    type Cell<'a> = (&'a str, Mode, u32, u64);
    /// Exact match and log-probability at one step.
    type Slot<'a> = (Option<&'a CurvePoint>, Option<&'a CurvePoint>);
    let mut by: BTreeMap<Cell, BTreeMap<u64, Slot>> = BTreeMap::new();
    for p in &run.checkpoint_points {
        let slot = by
            .entry((p.task.as_str(), p.mode, p.shots, p.params_non_embedding))
            .or_default()
            .entry(p.step)
            .or_default();
        match p.metric.as_str() {
            metric::EXACT_MATCH => slot.0 = Some(p),
            metric::COMPLETION_LOGPROB => slot.1 = Some(p),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for ((task, mode, shots, size), steps) in by {
        let pts: Vec<(&CurvePoint, &CurvePoint)> = steps
            .values()
            .filter_map(|&(e, l)| e.zip(l))
            .filter(|(_, l)| l.value.is_finite())
            .collect();
        if pts.len() < 2 {
            continue;
        }
        let level = crate::threshold::level(pts[0].0.chance, run.threshold_level);
        let em: Vec<f64> = pts.iter().map(|p| p.0.value).collect();
        let crate::threshold::Crossing::Up { below } = crate::threshold::crossing(&em, level)
        else {
            continue;
        };
        let (a, b) = (pts[below], pts[below + 1]);
        let (la, lb) = (-a.1.value, -b.1.value);
        let t = (level - a.0.value) / (b.0.value - a.0.value);
        out.push(ClaimRow {
            claim: claim::LOSS_AT_LEVEL.to_string(),
            task: task.to_string(),
            mode,
            shots,
            params_non_embedding: size,
            value: la + t * (lb - la),
            ci_lo: la.min(lb),
            ci_hi: la.max(lb),
            n_seeds: a.0.n_seeds.min(b.0.n_seeds),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    /// An exact-match point of `n_seeds` seeds with item interval [lo, hi]
    /// and standard deviation `sd` across seeds.
    fn point(value: f64, lo: f64, hi: f64, sd: f64, n_seeds: u32) -> CurvePoint {
        CurvePoint {
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
            seed_sd: sd,
            n_seeds,
            n: 200 * n_seeds as u64,
            chance: 0.0,
        }
    }

    #[test]
    fn differences_and_intervals() {
        let p = |value: f64, lo: f64, hi: f64| point(value, lo, hi, 0.0, 2);
        let r = difference(
            claim::COT_GAIN,
            ("t", Mode::Cot, 0, 10),
            &p(0.9, 0.8, 1.0),
            &p(0.2, 0.17, 0.23),
        );
        assert!((r.value - 0.7).abs() < 1e-12);
        // Lower arm: a's 0.1 below with b's 0.03 above (zero seed spread:
        // the item arms shrink by sqrt(2) over two seeds); upper arm: a's 0.1
        // above (clipped at 1 − 0.9) with b's 0.03 below.
        let k = 2f64.sqrt();
        let lo = 0.7 - (0.1 / k).hypot(0.03 / k);
        let hi = 0.7 + (0.1 / k).hypot(0.03 / k);
        assert!(
            (r.ci_lo - lo).abs() < 1e-12 && (r.ci_hi - hi).abs() < 1e-12,
            "{r:?}"
        );
        assert_eq!(r.n_seeds, 2);
    }

    #[test]
    fn claim_intervals_stay_within_the_possible_range() {
        // The "+0.99 [+0.97, +1.01]": a near-perfect cot against a
        // direct at zero, with wide seed spread; and the mirror image.
        let p = |value: f64, lo: f64, hi: f64, sd: f64| point(value, lo, hi, sd, 3);
        let key = ("t", Mode::Cot, 0, 10);
        for (a, b) in [
            (p(0.99, 0.96, 1.0, 0.2), p(0.0, 0.0, 0.02, 0.0)),
            (p(0.0, 0.0, 0.02, 0.3), p(1.0, 0.98, 1.0, 0.4)),
            (p(0.5, 0.43, 0.57, 0.45), p(0.5, 0.43, 0.57, 0.45)),
        ] {
            let r = difference(claim::COT_GAIN, key, &a, &b);
            assert!(
                -1.0 <= r.ci_lo && r.ci_lo <= r.value && r.value <= r.ci_hi && r.ci_hi <= 1.0,
                "{r:?}"
            );
        }
        // Seed spread widens the interval: same items, more disagreement.
        let narrow = difference(
            claim::COT_GAIN,
            key,
            &p(0.6, 0.53, 0.67, 0.0),
            &p(0.2, 0.15, 0.26, 0.0),
        );
        let wide = difference(
            claim::COT_GAIN,
            key,
            &p(0.6, 0.53, 0.67, 0.25),
            &p(0.2, 0.15, 0.26, 0.0),
        );
        assert!(
            wide.ci_hi - wide.ci_lo > narrow.ci_hi - narrow.ci_lo + 0.1,
            "{narrow:?} {wide:?}"
        );
    }

    /// In the synthetic runs an earlier checkpoint is a smaller model (its
    /// scores and its loss follow one effective size), so exact match is
    /// one function of the loss for every size: each size that crosses the
    /// level over training crosses it at about one loss.
    #[test]
    fn an_ability_that_tracks_loss_crosses_the_level_at_one_loss_for_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = synth::SynthSpec::example();
        spec.tasks.truncate(1);
        spec.items = 400;
        // Eleven scored points from 1 % of training to its end.
        spec.steps = (0..=10)
            .map(|k| (10_000.0 * 0.01f64.powf(1.0 - k as f64 / 10.0)).round() as u64)
            .collect();
        synth::write_run(dir.path(), &spec).unwrap();
        let run = Run::load(dir.path()).unwrap();
        let rows: Vec<ClaimRow> = claims(&run)
            .into_iter()
            .filter(|r| r.claim == claim::LOSS_AT_LEVEL && r.mode == Mode::Cot)
            .collect();
        // add/cot rises at 10^5.2: the sizes from 10^5 up cross it over
        // training (10^4.5 never gets there, 10^6.5 starts above it).
        assert!(rows.len() >= 3, "{rows:?}");
        for r in &rows {
            assert!(r.ci_lo <= r.value && r.value <= r.ci_hi, "{r:?}");
            assert!(r.value > 0.0, "a loss: {r:?}");
        }
        let (lo, hi) = rows.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
            (lo.min(r.value), hi.max(r.value))
        });
        let widest = rows.iter().map(|r| r.ci_hi - r.ci_lo).fold(0.0, f64::max);
        assert!(
            hi - lo <= widest,
            "spread {lo}..{hi} over the widest bracket {widest}: {rows:?}"
        );
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
