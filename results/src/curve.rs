//! One curve of a run, as the analysis holds it ([`Series`]: task, mode,
//! shots and metric against one axis, with the models behind each point),
//! and what every step of the analysis shares about it: how it is named in
//! notes, whether its points average seeds, and the bootstrap's constants.

use crate::bootstrap::Member;
use crate::fit::Data;
use crate::load::CurvePoint;
use runfolder::schema::x_axis;
use runfolder::schema::CurveKey;

/// Bootstrap replicates for N* (several seeds) and the cot crossing.
pub const BOOTSTRAP_REPS: usize = 200;
/// Base seed of every bootstrap stream (recorded here so results are reproducible).
pub const BOOTSTRAP_SEED: u64 = 0x656d_6572_6765; // "emerge"

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
