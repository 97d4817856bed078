//! Gradients reach every parameter, and match finite differences in f64, on
//! both backends: the gradients each one's training step uses. (Guards the
//! hand-written backward, and candle 0.11.1 ops that silently record no
//! backward.)

mod common;

use models::{DType, Device, Kernels, ModelConfig, TrainConfig, Trainer};

const BACKENDS: [Kernels; 2] = [Kernels::Fast, Kernels::Candle];

fn tiny() -> ModelConfig {
    ModelConfig {
        vocab: 7,
        context: 6,
        n_layer: 2,
        d_model: 8,
        n_head: 2,
        d_ff: 12,
    }
}

#[test]
fn every_parameter_gets_a_nonzero_gradient() {
    let cfg = tiny();
    for k in BACKENDS {
        let mut t = Trainer::new(cfg, TrainConfig::default(), &Device::Cpu, 1)
            .unwrap()
            .with_kernels(k)
            .unwrap();
        let batch = common::random_batch(&cfg, 3, cfg.context, 2, false);
        let (_, grads) = t.loss_and_gradients(&batch).unwrap();
        for (p, g) in t.model.params.iter().zip(&grads) {
            let norm: f64 = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!(norm > 0.0, "{k}: {} has an all-zero gradient", p.name);
        }
    }
}

#[test]
fn finite_difference_gradient_check_f64() {
    for k in BACKENDS {
        finite_differences(k);
    }
}

fn finite_differences(k: Kernels) {
    let cfg = tiny();
    let mut t = Trainer::with_dtype(cfg, TrainConfig::default(), &Device::Cpu, 3, DType::F64)
        .unwrap()
        .with_kernels(k)
        .unwrap();
    common::randomize(&t.model, 4, 0.4);
    // A masked loss, so the mask path is checked too.
    let batch = common::random_batch(&cfg, 2, cfg.context, 5, true);
    let loss = |t: &mut Trainer| -> f64 { t.loss_and_gradients(&batch).unwrap().0 };
    let (_, grads) = t.loss_and_gradients(&batch).unwrap();
    let h = 1e-5;
    let params = t.model.params.clone();
    for (p, analytic) in params.iter().zip(grads) {
        let orig = common::flat_f64(p.var.as_tensor());
        let mut numeric = Vec::with_capacity(orig.len());
        for i in 0..orig.len() {
            let mut probe = |delta: f64| {
                let mut w = orig.clone();
                w[i] += delta;
                let w = candle_core::Tensor::from_vec(w, p.var.dims(), &Device::Cpu).unwrap();
                p.var.set(&w).unwrap();
                loss(&mut t)
            };
            let (up, down) = (probe(h), probe(-h));
            numeric.push((up - down) / (2.0 * h));
        }
        let w = candle_core::Tensor::from_vec(orig, p.var.dims(), &Device::Cpu).unwrap();
        p.var.set(&w).unwrap();
        let diff: f64 = analytic
            .iter()
            .zip(&numeric)
            .map(|(a, n)| (a - n).powi(2))
            .sum::<f64>()
            .sqrt();
        let scale = analytic
            .iter()
            .map(|a| a * a)
            .sum::<f64>()
            .sqrt()
            .max(numeric.iter().map(|n| n * n).sum::<f64>().sqrt());
        assert!(scale > 0.0, "{k}: {}: zero gradient", p.name);
        let rel = diff / scale;
        assert!(rel < 1e-4, "{k}: {}: relative error {rel:e}", p.name);
    }
}

/// The fast f32 kernels against candle's on widths and head sizes off the
/// multiples of 32 and 16 (masked matmul tiles, narrow attention tiles):
/// the same loss and gradients up to f32 rounding.
#[test]
fn fast_f32_gradients_match_candle_off_the_32_grid() {
    for (d_model, n_head, context) in [(48, 4, 20), (40, 8, 13), (24, 2, 33)] {
        let cfg = ModelConfig {
            vocab: 13,
            context,
            n_layer: 2,
            d_model,
            n_head,
            d_ff: 4 * d_model,
        };
        let batch = common::random_batch(&cfg, 3, cfg.context, 6, true);
        let run = |k: Kernels| {
            let mut t = Trainer::new(cfg, TrainConfig::default(), &Device::Cpu, 9)
                .unwrap()
                .with_kernels(k)
                .unwrap();
            t.loss_and_gradients(&batch).unwrap()
        };
        let (fast_loss, fast) = run(Kernels::Fast);
        let (candle_loss, candle) = run(Kernels::Candle);
        let what = format!("d {d_model}, {n_head} heads, context {context}");
        assert!(
            (fast_loss - candle_loss).abs() < 1e-5 * candle_loss.abs(),
            "{what}: loss {fast_loss} vs {candle_loss}"
        );
        for (i, (f, c)) in fast.iter().zip(&candle).enumerate() {
            let diff = f
                .iter()
                .zip(c)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = c.iter().map(|b| b * b).sum::<f64>().sqrt();
            assert!(
                scale > 0.0 && diff < 1e-4 * scale,
                "{what}: parameter {i}: {diff:e} of {scale:e}"
            );
        }
    }
}
