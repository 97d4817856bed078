//! The jobs of a sweep: the ladder resolved to concrete shapes, crossed with
//! the arms (if any) and the seeds, each with its step budget and scored
//! checkpoints.

use super::config::{Checkpoints, Geometric, Shape, SweepConfig};
use models::ModelConfig;

/// One model to train: a (shape, arm, seed) triple.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Position in the sweep's job list (what `--shard I/N` selects on).
    pub index: usize,
    /// `L2-D64-H4-s0`, or `L2-D64-H4-s0@word+code` for an arm: also the
    /// folder name under `jobs/`.
    pub model_id: String,
    pub seed: u64,
    /// Index into `arms` of the arm whose mixture this job trains on; `None`
    /// in a sweep without arms (`train.mixture`).
    pub arm: Option<usize>,
    pub model: ModelConfig,
    pub total_steps: u64,
    /// Steps whose weights are scored (log-spaced, then the last), ascending.
    pub eval_steps: Vec<u64>,
}

impl Job {
    pub fn tokens(&self, batch: usize) -> u64 {
        self.total_steps * (batch * self.model.context) as u64
    }
    /// Training FLOPs of the whole job ([`models::ModelConfig::training_flops`]).
    pub fn flops(&self, batch: usize) -> f64 {
        self.model.training_flops(self.tokens(batch))
    }
}

pub fn model_id(s: &Shape, seed: u64) -> String {
    runfolder::ids::model_id(s.n_layer, s.d_model, s.n_head, seed)
}

/// The id of an arm's model (`runfolder::ids`' grammar).
pub fn arm_model_id(s: &Shape, seed: u64, arm: &str) -> String {
    runfolder::ids::arm_model_id(&model_id(s, seed), arm)
}

/// The ladder's shapes, smallest first.
pub fn shapes(cfg: &SweepConfig) -> Vec<Shape> {
    let mut out = match &cfg.model.geometric {
        Some(g) => geometric(g, cfg.model.vocab, cfg.model.context),
        None => cfg.model.ladder.clone(),
    };
    let n = |s: &Shape| config_of(cfg, s).params_non_embedding();
    out.sort_by_key(|s| (n(s), s.n_layer, s.d_model, s.n_head));
    out
}

pub fn config_of(cfg: &SweepConfig, s: &Shape) -> ModelConfig {
    ModelConfig::new(
        cfg.model.vocab,
        cfg.model.context,
        s.n_layer,
        s.d_model,
        s.n_head,
    )
}

/// Shapes at log-even targets between the bounds, depth growing with width
/// (`d_model ≈ aspect · n_layer`, widths multiples of `head_dim`). Each target
/// takes the closest shape not already taken, so the ladder has `sizes`
/// distinct rungs even where shapes are coarse.
pub fn geometric(g: &Geometric, vocab: usize, context: usize) -> Vec<Shape> {
    let mut out: Vec<Shape> = Vec::new();
    for i in 0..g.sizes {
        let frac = if g.sizes == 1 {
            0.0
        } else {
            i as f64 / (g.sizes - 1) as f64
        };
        let target = (g.min_params.ln() + frac * (g.max_params.ln() - g.min_params.ln())).exp();
        let mut cands = candidates(target, g, vocab, context);
        cands.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, s)) = cands.into_iter().find(|(_, s)| !out.contains(s)) {
            out.push(s);
        }
    }
    out
}

/// Shapes near the aspect ratio, each with its distance from `target`: the
/// log-ratio of parameter counts plus a small penalty for leaving the aspect.
fn candidates(target: f64, g: &Geometric, vocab: usize, ctx: usize) -> Vec<(f64, Shape)> {
    let mut out = Vec::new();
    for heads in 1..=128usize {
        let d = heads * g.head_dim;
        let ideal = d as f64 / g.aspect as f64;
        let lo = ((ideal / 2.0).floor() as usize).max(1);
        let hi = ((ideal * 2.0).ceil() as usize).max(1);
        for n_layer in lo..=hi {
            let n = ModelConfig::new(vocab, ctx, n_layer, d, heads).params_non_embedding() as f64;
            let off_aspect = ((d as f64 / n_layer as f64) / g.aspect as f64).ln().abs();
            let score = (n.ln() - target.ln()).abs() + 0.25 * off_aspect;
            out.push((
                score,
                Shape {
                    n_layer,
                    d_model: d,
                    n_head: heads,
                },
            ));
        }
    }
    out
}

/// Steps for a model with `n` non-embedding parameters.
pub fn total_steps(cfg: &SweepConfig, non_embedding: usize) -> u64 {
    let per_step = (cfg.train.batch * cfg.model.context) as f64;
    let tokens = match (cfg.train.tokens, cfg.train.tokens_per_param) {
        (Some(t), _) => t as f64,
        (None, Some(r)) => r * non_embedding as f64,
        (None, None) => 0.0,
    };
    ((tokens / per_step).ceil() as u64).max(1)
}

/// Scored steps: `total / 2^k` for k = n..1 ([`Checkpoints::Halvings`]),
/// or `total · from^((count − 1 − k)/(count − 1))` for k = 0..count − 1
/// ([`Checkpoints::LogSpaced`]), each rounded down to a multiple of
/// `log_every` (so the loss window is whole there), then `total`; a step
/// that rounds to 0 or repeats another drops out.
pub fn eval_steps(total: u64, checkpoints: Checkpoints, log_every: u64) -> Vec<u64> {
    let fractions: Vec<f64> = match checkpoints {
        Checkpoints::Halvings(n) => (1..=n).rev().map(|k| 0.5f64.powi(k as i32)).collect(),
        Checkpoints::LogSpaced { count, from } => (0..count.saturating_sub(1))
            .map(|k| from.powf((count - 1 - k) as f64 / (count - 1) as f64))
            .collect(),
    };
    let mut out: Vec<u64> = fractions
        .into_iter()
        .map(|f| ((total as f64 * f).floor() as u64) / log_every * log_every)
        .filter(|&s| s > 0 && s < total)
        .collect();
    out.push(total);
    out.dedup();
    out
}

/// Every job: the ladder's shapes smallest first, then the refined ones in
/// the order `--refine` added them (so a refinement never renumbers the jobs
/// that `--shard` already split), each crossed with the arms in their order
/// (so the arms of one size finish together) and then the seeds. Every arm
/// has the same shapes, steps and scored steps: only the data differ.
pub fn jobs(cfg: &SweepConfig) -> Vec<Job> {
    let mut out = Vec::new();
    let refined = cfg.model.refined.iter().copied();
    let arms: Vec<Option<usize>> = if cfg.arms.is_empty() {
        vec![None]
    } else {
        (0..cfg.arms.len()).map(Some).collect()
    };
    for s in shapes(cfg).into_iter().chain(refined) {
        let model = config_of(cfg, &s);
        let total = total_steps(cfg, model.params_non_embedding());
        for &arm in &arms {
            for &seed in &cfg.run.seeds {
                out.push(Job {
                    index: out.len(),
                    model_id: match arm {
                        Some(a) => arm_model_id(&s, seed, &cfg.arms[a].name),
                        None => model_id(&s, seed),
                    },
                    seed,
                    arm,
                    model,
                    total_steps: total,
                    eval_steps: eval_steps(total, cfg.eval.checkpoints, cfg.train.log_every),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_steps_are_log_spaced_and_end_at_total() {
        let h = Checkpoints::Halvings;
        assert_eq!(eval_steps(1000, h(3), 10), vec![120, 250, 500, 1000]);
        assert_eq!(eval_steps(1000, h(0), 10), vec![1000]);
        // Too short for the early ones: they drop out rather than repeat.
        assert_eq!(eval_steps(20, h(5), 10), vec![10, 20]);
    }

    #[test]
    fn a_log_spaced_schedule_runs_from_its_fraction_to_the_end() {
        let l = |count, from| Checkpoints::LogSpaced { count, from };
        // 8 points from 1 % to 100 %: a factor of 100^(1/7) ≈ 1.93 apart.
        let s = eval_steps(10_000, l(8, 0.01), 10);
        assert_eq!(s, vec![100, 190, 370, 710, 1380, 2680, 5170, 10_000]);
        let ratios: Vec<f64> = s.windows(2).map(|w| w[1] as f64 / w[0] as f64).collect();
        assert!(ratios.iter().all(|r| (r - 1.93).abs() < 0.07), "{ratios:?}");
        assert_eq!(eval_steps(10_000, l(1, 0.01), 10), vec![10_000]);
        // Short training: early points that round to 0 or repeat drop out.
        assert_eq!(eval_steps(40, l(8, 0.01), 10), vec![10, 20, 40]);
    }

    #[test]
    fn geometric_ladder_spans_the_bounds_in_order() {
        let g = Geometric {
            min_params: 1e4,
            max_params: 1e6,
            sizes: 6,
            aspect: 32,
            head_dim: 16,
        };
        let shapes = geometric(&g, 98, 64);
        assert_eq!(shapes.len(), 6, "{shapes:?}");
        let n: Vec<f64> = shapes
            .iter()
            .map(|s| {
                ModelConfig::new(98, 64, s.n_layer, s.d_model, s.n_head).params_non_embedding()
                    as f64
            })
            .collect();
        assert!(n.windows(2).all(|w| w[0] < w[1]), "{n:?}");
        assert!(n[0] > 3e3 && n[0] < 3e4, "{n:?}");
        assert!(n[5] > 3e5 && n[5] < 3e6, "{n:?}");
        for s in &shapes {
            assert_eq!(s.d_model % s.n_head, 0);
        }
    }
}
