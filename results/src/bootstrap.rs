//! Item-level resampling: `samples.csv` holds one row per evaluated item, so
//! a bootstrap replicate of a curve redraws each model's items (and, with
//! several seeds, the seeds themselves) with replacement and recomputes the
//! seed-averaged means.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use runfolder::schema::CurveKey;
use runfolder::schema::{Mode, SampleRow};
use std::collections::BTreeMap;

/// A model contributing to a curve point, at a checkpoint step.
pub type Member = (String, u64);

type GroupKey = (String, u64, String, Mode, u32);

/// Items grouped by (model, step, task, mode, shots), in file order.
pub struct ItemIndex<'a> {
    groups: BTreeMap<GroupKey, Vec<&'a SampleRow>>,
}

impl<'a> ItemIndex<'a> {
    pub fn new(samples: &'a [SampleRow]) -> Self {
        let mut groups: BTreeMap<GroupKey, Vec<&SampleRow>> = BTreeMap::new();
        for s in samples {
            groups
                .entry((s.model_id.clone(), s.step, s.task.clone(), s.mode, s.shots))
                .or_default()
                .push(s);
        }
        ItemIndex { groups }
    }

    /// The item rows of one model at one step in the setting of `key`
    /// (its metric aside), in file order.
    pub fn rows(&self, key: &CurveKey, member: &Member) -> Option<&[&'a SampleRow]> {
        self.groups
            .get(&(
                member.0.clone(),
                member.1,
                key.task.clone(),
                key.mode,
                key.shots,
            ))
            .map(Vec::as_slice)
    }

    /// The per-item values of `key.metric` for one model at one step.
    pub fn values(&self, key: &CurveKey, member: &Member) -> Option<Vec<f64>> {
        let g = self.groups.get(&(
            member.0.clone(),
            member.1,
            key.task.clone(),
            key.mode,
            key.shots,
        ))?;
        g.iter().map(|s| s.metric_value(&key.metric)).collect()
    }

    /// Item values of every member of every point of a curve, looked up once
    /// so replicates only draw indices. `None` if any point has no items.
    pub fn series_items(&self, key: &CurveKey, members: &[Vec<Member>]) -> Option<SeriesItems> {
        let points: Option<Vec<Vec<Vec<f64>>>> = members
            .iter()
            .map(|ms| {
                let v: Vec<Vec<f64>> = ms
                    .iter()
                    .filter_map(|m| self.values(key, m))
                    .filter(|v| !v.is_empty())
                    .collect();
                (!v.is_empty()).then_some(v)
            })
            .collect();
        points.map(|points| SeriesItems { points })
    }
}

/// Per point, per member (seed), the item values of one metric.
#[derive(Debug, Clone)]
pub struct SeriesItems {
    pub points: Vec<Vec<Vec<f64>>>,
}

impl SeriesItems {
    /// One bootstrap replicate: with `seeds`, each point's members (seeds)
    /// are first drawn with replacement, so the replicate also carries how
    /// much a size's score moves between seeds; then each member's items are
    /// resampled with replacement, its mean taken, and the means averaged.
    /// Returns the values and their standard errors, recomputed the way the
    /// sweep computes them (Wilson for 0/1 items, normal otherwise, combined
    /// with the spread across seeds as [`crate::CurvePoint::sigma`] does):
    /// the original fit's weights depend on its noisy data, so replicates
    /// must re-derive theirs or the interval comes out too narrow.
    pub fn resample(&self, rng: &mut ChaCha8Rng, seeds: bool) -> (Vec<f64>, Vec<f64>) {
        let mut ys = Vec::with_capacity(self.points.len());
        let mut sigmas = Vec::with_capacity(self.points.len());
        for ms in &self.points {
            let drawn: Vec<&Vec<f64>> = if seeds {
                (0..ms.len())
                    .map(|_| &ms[rng.gen_range(0..ms.len())])
                    .collect()
            } else {
                ms.iter().collect()
            };
            let mut means = Vec::with_capacity(ms.len());
            let mut halves = Vec::with_capacity(ms.len());
            for v in drawn {
                let n = v.len();
                let draw: Vec<f64> = (0..n).map(|_| v[rng.gen_range(0..n)]).collect();
                let (m, se) = mean_se(&draw);
                means.push(m);
                halves.push(se);
            }
            let k = means.len() as f64;
            let y = means.iter().sum::<f64>() / k;
            let item = halves.iter().sum::<f64>() / k;
            let spread = if means.len() > 1 {
                (means.iter().map(|m| (m - y).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
            } else {
                0.0
            };
            ys.push(y);
            sigmas.push(((item * item + spread * spread) / k).sqrt());
        }
        (ys, sigmas)
    }
}

/// Mean and standard error of item values: Wilson-interval based for 0/1
/// items (never zero), sd/sqrt(n) otherwise.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.iter().all(|&x| x == 0.0 || x == 1.0) {
        let k = v.iter().filter(|&&x| x == 1.0).count() as u64;
        let (lo, hi) = crate::stats::wilson(k, v.len() as u64);
        return (m, (hi - lo) / (2.0 * 1.96));
    }
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    (m, sd / n.sqrt())
}
