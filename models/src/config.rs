//! The model's shape (its validation, and the exact parameter and FLOP counts)
//! and the training's settings: the two configs every other module reads.

use serde::{Deserialize, Serialize};

/// LayerNorm's epsilon, PyTorch's default. An f64 so that f64 runs add
/// exactly 1e-5 as PyTorch does (`1e-5f32 as f64` is 1e-5·(1 − 2.5e-8), which
/// moves the f64 loss by ~1e-13); f32 runs round either to the same f32.
pub const LN_EPS: f64 = 1e-5;
/// Shape of one GPT in the family. `d_ff` is usually `4 * d_model`
/// (see [`ModelConfig::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub vocab: usize,
    pub context: usize,
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub d_ff: usize,
}

/// An invalid [`ModelConfig`]: names the field and the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model config: {field} = {value}: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub value: usize,
    pub reason: String,
}

impl ModelConfig {
    /// A config with the GPT-2 default `d_ff = 4 * d_model`.
    pub fn new(
        vocab: usize,
        context: usize,
        n_layer: usize,
        d_model: usize,
        n_head: usize,
    ) -> Self {
        Self {
            vocab,
            context,
            n_layer,
            d_model,
            n_head,
            d_ff: 4 * d_model,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("vocab", self.vocab),
            ("context", self.context),
            ("n_layer", self.n_layer),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("d_ff", self.d_ff),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(ConfigError {
                    field,
                    value,
                    reason: "must be positive".into(),
                });
            }
        }
        if !self.d_model.is_multiple_of(self.n_head) {
            return Err(ConfigError {
                field: "n_head",
                value: self.n_head,
                reason: format!("must divide d_model = {}", self.d_model),
            });
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_head
    }

    /// Training FLOPs per token (forward + backward), the convention of
    /// `scripts/peers/RESULTS.md`:
    ///
    /// `6 * (N + vocab * d_model) + 12 * n_layer * context * d_model`
    ///
    /// `6 * N_matmul` counts every weight once in a multiply-add forward (2) and
    /// twice backward (4); `N_matmul` is the non-embedding count plus the tied
    /// output head, which is a real matmul. The attention term is `QK^T` and
    /// `AV` at full context (not causally halved): `2 * 2 * T * d` per layer
    /// forward, times 3 for forward plus backward.
    pub fn flops_per_token(&self) -> u64 {
        let n_matmul = (self.params_non_embedding() + self.vocab * self.d_model) as u64;
        let attn = (self.n_layer * self.context * self.d_model) as u64;
        6 * n_matmul + 12 * attn
    }

    /// Training compute in the scaling-law convention, `6·N·D` with `N`
    /// non-embedding parameters and `D = tokens` (what `models.csv`'s
    /// `flops` column and the plots' compute axis use).
    pub fn training_flops(&self, tokens: u64) -> f64 {
        6.0 * self.params_non_embedding() as f64 * tokens as f64
    }
}

/// Optimizer and schedule settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Peak learning rate, reached at the end of warmup.
    pub lr: f64,
    /// The cosine decays from `lr` to `lr * min_lr_ratio` at `total_steps`.
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clip; `0` disables clipping.
    pub grad_clip: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            min_lr_ratio: 0.1,
            warmup_steps: 100,
            total_steps: 1000,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            grad_clip: 1.0,
        }
    }
}

impl TrainConfig {
    /// Learning rate for the update that makes `step` (0-based) complete steps
    /// into `step + 1`: linear warmup, then cosine to the floor.
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let floor = self.lr * self.min_lr_ratio;
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        floor + 0.5 * (self.lr - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_peer_table() {
        // scripts/peers/RESULTS.md, V = 32, T = 64.
        let cases = [
            ((1, 32, 2), 15_840, 12_768),
            ((2, 64, 2), 106_240, 100_096),
            ((4, 128, 4), 805_632, 793_344),
            ((8, 384, 8), 14_233_344, 14_196_480),
        ];
        for ((l, d, h), total, non_emb) in cases {
            let c = ModelConfig::new(32, 64, l, d, h);
            assert_eq!(c.params(), total, "{l},{d},{h}");
            assert_eq!(c.params_non_embedding(), non_emb, "{l},{d},{h}");
        }
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let mut c = ModelConfig::new(32, 64, 2, 64, 3);
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "n_head");
        assert!(e.to_string().contains("n_head = 3"), "{e}");
        c.n_head = 4;
        c.validate().unwrap();
        c.context = 0;
        assert_eq!(c.validate().unwrap_err().field, "context");
        c.context = 8;
        c.d_ff = 0;
        assert_eq!(c.validate().unwrap_err().field, "d_ff");
    }

    #[test]
    fn flops_formula() {
        let c = ModelConfig::new(32, 64, 1, 32, 2);
        assert_eq!(c.flops_per_token(), 6 * (12_768 + 32 * 32) + 12 * 64 * 32);
    }
}
