//! The two verdicts computed across curves: whether a transition under exact
//! match survives under the continuous metrics (the mirage check, Schaeffer
//! et al. 2023), and the scale at which chain of thought overtakes direct
//! answers (Wei et al. 2022).

use crate::bootstrap::ItemIndex;
use crate::curve::{key_text, several_seeds, Series, BOOTSTRAP_REPS, BOOTSTRAP_SEED};
use crate::stats::{crossing, percentile, stable_hash, Crossing};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runfolder::schema::CurveKey;
use runfolder::schema::{metric, x_axis, FitRow, Mode};
use std::collections::BTreeMap;

/// Fill `mirage` on exact-match rows: does the transition survive under the
/// continuous metrics measured on the same items?
pub(crate) fn mirage(rows: &mut [FitRow], pref: &BTreeMap<(CurveKey, &str), bool>, axis: &str) {
    for r in rows.iter_mut().filter(|r| r.metric == metric::EXACT_MATCH) {
        let (task, mode, shots) = (r.task.clone(), r.mode, r.shots);
        let key = |m: &str| {
            (
                CurveKey {
                    task: task.clone(),
                    mode,
                    shots,
                    metric: m.to_string(),
                },
                axis,
            )
        };
        let Some(&em) = pref.get(&key(metric::EXACT_MATCH)) else {
            continue;
        };
        if !em {
            r.mirage = "no_transition".into();
            continue;
        }
        let cont: Vec<bool> = metric::CONTINUOUS
            .iter()
            .filter_map(|m| pref.get(&key(m)).copied())
            .collect();
        r.mirage = match (cont.len(), cont.iter().filter(|&&b| b).count()) {
            (0, _) => String::new(),
            (n, k) if k == n => "survives".into(),
            (_, 0) => "mirage".into(),
            _ => "mixed".into(),
        };
    }
}

/// Fill `cot_overtakes*` on the `cot` rows of the params axis.
pub(crate) fn cot_overtakes(rows: &mut [FitRow], series: &[Series], items: &ItemIndex) {
    let by_key: BTreeMap<&CurveKey, &Series> = series.iter().map(|s| (&s.key, s)).collect();
    for cot in series.iter().filter(|s| s.key.mode == Mode::Cot) {
        let dkey = CurveKey {
            mode: Mode::Direct,
            ..cot.key.clone()
        };
        let Some(direct) = by_key.get(&dkey) else {
            continue;
        };
        let common: Vec<(usize, usize)> = cot
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                direct
                    .points
                    .iter()
                    .position(|q| q.params_non_embedding == p.params_non_embedding)
                    .map(|j| (i, j))
            })
            .collect();
        if common.len() < 2 {
            continue;
        }
        let x: Vec<f64> = common.iter().map(|&(i, _)| cot.data.x[i]).collect();
        // "Ahead" means ahead beyond the 95 % band of the difference: two
        // curves both at 0 % are tied, and a tie is not overtaking.
        let diff = |yc: &[f64], sc: &[f64], yd: &[f64], sd: &[f64]| -> Vec<f64> {
            common
                .iter()
                .map(|&(i, j)| yc[i] - yd[j] - 1.96 * (sc[i].powi(2) + sd[j].powi(2)).sqrt())
                .collect()
        };
        let obs = crossing(
            &x,
            &diff(
                &cot.data.y,
                &cot.data.sigma,
                &direct.data.y,
                &direct.data.sigma,
            ),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(
            BOOTSTRAP_SEED
                ^ stable_hash(&format!("overtake/{}", key_text(&cot.key, x_axis::PARAMS))),
        );
        // Replicates with no crossing count as +inf (beyond the ladder) and
        // "ahead throughout" as the smallest size, so the interval stays honest.
        let mut reps = Vec::new();
        let pair = items
            .series_items(&cot.key, &cot.members)
            .zip(items.series_items(&dkey, &direct.members));
        let seeds = several_seeds(cot) || several_seeds(direct);
        for _ in 0..BOOTSTRAP_REPS {
            let Some((ic, id)) = &pair else { break };
            let ((yc, sc), (yd, sd)) = (ic.resample(&mut rng, seeds), id.resample(&mut rng, seeds));
            let floor =
                |v: Vec<f64>, f: f64| -> Vec<f64> { v.into_iter().map(|s| s.max(f)).collect() };
            let (sc, sd) = (floor(sc, cot.sigma_floor), floor(sd, direct.sigma_floor));
            reps.push(match crossing(&x, &diff(&yc, &sc, &yd, &sd)) {
                Crossing::At { x, .. } => x,
                Crossing::AheadThroughout => x[0],
                Crossing::Never => f64::INFINITY,
            });
        }
        // The crossing is interpolated inside the gap between two sizes, so
        // no resampling can say where in that gap it lies: the interval
        // always spans it (a crossing placed at a size where both modes
        // score 0 is as far from "known" as one in the middle).
        let interval = match obs {
            Crossing::At { below, .. } => {
                let (a, b) = (x[below], x[below + 1]);
                let (mut lo, mut hi, mut method) = (a, b, "bracket");
                if !reps.is_empty() {
                    let (blo, bhi) = (percentile(&mut reps, 0.025), percentile(&mut reps, 0.975));
                    if blo < lo || bhi > hi {
                        (lo, hi, method) = (lo.min(blo), hi.max(bhi), "bootstrap");
                    }
                }
                Some((lo, hi, method))
            }
            _ => None,
        };
        for r in rows.iter_mut().filter(|r| {
            r.mode == Mode::Cot
                && r.task == cot.key.task
                && r.shots == cot.key.shots
                && r.metric == cot.key.metric
        }) {
            match obs {
                Crossing::At { x, .. } => {
                    r.cot_overtakes = Some(10f64.powf(x));
                    r.cot_note = "overtakes".into();
                }
                Crossing::AheadThroughout => r.cot_note = "ahead_throughout".into(),
                Crossing::Never => r.cot_note = "never_in_range".into(),
            }
            if let Some((lo, hi, method)) = interval {
                r.cot_overtakes_lo = lo.is_finite().then(|| cot.scale_at(lo));
                r.cot_overtakes_hi = hi.is_finite().then(|| cot.scale_at(hi));
                r.cot_overtakes_method = method.into();
            }
        }
    }
}
