#![allow(dead_code)]

use models::{Batch, DType, Gpt, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A batch of random tokens, the same for the same `seed`.
pub fn random_batch(
    cfg: &ModelConfig,
    batch: usize,
    seq_len: usize,
    seed: u64,
    masked: bool,
) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = batch * seq_len;
    let inputs = (0..n).map(|_| rng.gen_range(0..cfg.vocab as u32)).collect();
    let targets = (0..n).map(|_| rng.gen_range(0..cfg.vocab as u32)).collect();
    let mask = masked.then(|| (0..n).map(|i| if i % 3 == 0 { 0.0 } else { 1.0 }).collect());
    Batch {
        batch,
        seq_len,
        inputs,
        targets,
        mask,
    }
}

/// Replaces every parameter with larger random values, so that attention and
/// logits are far from uniform (a freshly initialized model hides bugs behind
/// near-zero activations).
pub fn randomize(model: &Gpt, seed: u64, std: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in &model.params {
        let t = p.var.as_tensor();
        let base = if p.name.contains("ln") && p.name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        let data: Vec<f64> = (0..t.elem_count())
            .map(|_| base + std * (rng.gen::<f64>() * 2.0 - 1.0) * 1.7)
            .collect();
        let new = candle_core::Tensor::from_vec(data, t.dims(), t.device())
            .unwrap()
            .to_dtype(t.dtype())
            .unwrap();
        p.var.set(&new).unwrap();
    }
}

pub fn flat_f64(t: &candle_core::Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}
