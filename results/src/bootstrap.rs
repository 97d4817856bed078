//! Item-level resampling: `samples.csv` holds one row per evaluated item, so
//! a bootstrap replicate of a curve redraws each model's items with
//! replacement and recomputes the seed-averaged means.

use crate::load::CurveKey;
use crate::schema::{Mode, SampleRow};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
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
    /// One bootstrap replicate: each member's items resampled with
    /// replacement, its mean taken, and the means averaged over members.
    pub fn resample(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        self.points
            .iter()
            .map(|ms| {
                let total: f64 = ms
                    .iter()
                    .map(|v| {
                        let n = v.len();
                        (0..n).map(|_| v[rng.gen_range(0..n)]).sum::<f64>() / n as f64
                    })
                    .sum();
                total / ms.len() as f64
            })
            .collect()
    }
}
