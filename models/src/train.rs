//! The trainer: masked cross-entropy, AdamW with a warmup + cosine schedule,
//! global-norm clipping, divergence detection and checkpoints.

use crate::batch::Batch;
use crate::config::{ModelConfig, TrainConfig};
use crate::cpu_train;
use crate::model::Gpt;
use crate::ops::Kernels;
use crate::optim::AdamW;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Completed steps after this one.
    pub step: u64,
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub lr: f64,
    /// Tokens trained on so far, this step included.
    pub tokens: u64,
}

/// Masked mean cross-entropy of `logits (B, T, V)` against `targets (B, T)`.
pub fn masked_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    mask: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    let logp = candle_nn::ops::log_softmax(&logits.reshape((b * t, v))?, 1)?;
    let picked = logp
        .gather(&targets.reshape((b * t, 1))?, 1)?
        .reshape(b * t)?;
    match mask {
        None => picked.mean_all()?.neg(),
        Some(m) => {
            let m = m.reshape(b * t)?;
            (picked * &m)?.sum_all()?.neg()?
                / m.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?
        }
    }
}

/// Drives training of one model: `step`, `save`, `load`.
pub struct Trainer {
    pub model: Gpt,
    pub train: TrainConfig,
    opt: AdamW,
    step: u64,
    tokens: u64,
    /// The CPU step's activation and scratch buffers, reused across steps.
    buffers: cpu_train::StepBuffers,
}

impl Trainer {
    pub fn new(model: ModelConfig, train: TrainConfig, device: &Device, seed: u64) -> Result<Self> {
        Self::with_dtype(model, train, device, seed, DType::F32)
    }

    pub fn with_dtype(
        model: ModelConfig,
        train: TrainConfig,
        device: &Device,
        seed: u64,
        dtype: DType,
    ) -> Result<Self> {
        let model = Gpt::new(model, seed, dtype, device)?;
        let opt = AdamW::new(&model.params)?;
        Ok(Self {
            model,
            train,
            opt,
            step: 0,
            tokens: 0,
            buffers: Default::default(),
        })
    }

    /// The same trainer on another backend (see [`Gpt::set_kernels`]).
    pub fn with_kernels(mut self, kernels: Kernels) -> Result<Self> {
        self.model.set_kernels(kernels)?;
        Ok(self)
    }

    /// Completed optimizer steps.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    pub fn tokens_seen(&self) -> u64 {
        self.tokens
    }

    /// Loss of `batch` under the current weights, computed with candle's ops
    /// whatever the backend, as a graph that `backward` differentiates: the
    /// candle backend's training loss, and the reference for the fast one.
    pub fn loss(&self, batch: &Batch) -> Result<Tensor> {
        batch.check()?;
        let dev = self.model.device();
        let shape = (batch.batch, batch.seq_len);
        let inputs = Tensor::from_slice(&batch.inputs, shape, dev)?;
        let logits = self.model.forward_with(&inputs, Kernels::Candle)?;
        let targets = Tensor::from_slice(&batch.targets, shape, dev)?;
        let mask = match &batch.mask {
            Some(m) => Some(Tensor::from_slice(m, shape, dev)?.to_dtype(self.model.dtype())?),
            None => None,
        };
        Ok(masked_cross_entropy(&logits, &targets, mask.as_ref())?)
    }

    /// The loss of `batch` and every parameter's gradient (in
    /// `model.params` order, as f64), computed the way [`Self::step`]
    /// computes them on this trainer's backend. For tests and checks.
    pub fn loss_and_gradients(&mut self, batch: &Batch) -> Result<(f64, Vec<Vec<f64>>)> {
        batch.check()?;
        engine(self.model.kernels()).loss_and_gradients(self, batch)
    }

    /// One optimizer step. A non-finite loss or gradient is
    /// [`Error::Diverged`] and leaves the weights untouched.
    pub fn step(&mut self, batch: &Batch) -> Result<StepStats> {
        crate::device::in_pool(|| self.step_inner(batch))
    }

    fn step_inner(&mut self, batch: &Batch) -> Result<StepStats> {
        batch.check()?;
        let step = self.step + 1;
        let lr = self.train.lr_at(self.step);
        let (loss, grad_norm) = engine(self.model.kernels()).step(self, batch, lr, step)?;
        if !grad_norm.is_finite() {
            return Err(Error::Diverged { step });
        }
        self.step = step;
        self.tokens += batch.tokens();
        Ok(StepStats {
            step,
            loss,
            grad_norm,
            lr,
            tokens: self.tokens,
        })
    }

    pub(crate) fn opt(&self) -> &AdamW {
        &self.opt
    }

    pub(crate) fn restore(&mut self, step: u64, tokens: u64, opt_t: u64) {
        self.step = step;
        self.tokens = tokens;
        self.opt.set_t(opt_t);
    }

    pub(crate) fn opt_mut(&mut self) -> &mut AdamW {
        &mut self.opt
    }
}

/// How a backend computes a training step's loss and gradients and applies
/// AdamW: the one place the two backends differ in training.
trait StepEngine {
    /// The loss of `batch` and every parameter's gradient, f64, in
    /// `model.params` order.
    fn loss_and_gradients(&self, t: &mut Trainer, batch: &Batch) -> Result<(f64, Vec<Vec<f64>>)>;

    /// Loss, gradients and the AdamW update at `lr`: `(loss, gradient
    /// norm)`, or [`Error::Diverged`] at `step` before any weight moves when
    /// the loss is not finite.
    fn step(&self, t: &mut Trainer, batch: &Batch, lr: f64, step: u64) -> Result<(f64, f64)>;
}

/// candle's autograd on [`Trainer::loss`], and AdamW on tensors.
struct CandleStep;

/// The hand-written forward and backward of `cpu_train` into one flat
/// gradient buffer, and AdamW's flat loop.
struct FastStep;

fn engine(k: Kernels) -> &'static dyn StepEngine {
    match k {
        Kernels::Candle => &CandleStep,
        Kernels::Fast => &FastStep,
    }
}

impl StepEngine for CandleStep {
    fn loss_and_gradients(&self, t: &mut Trainer, batch: &Batch) -> Result<(f64, Vec<Vec<f64>>)> {
        let loss_t = t.loss(batch)?;
        let loss = loss_t.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = loss_t.backward()?;
        let gs = t
            .model
            .params
            .iter()
            .map(|p| {
                let g = match grads.get(p.var.as_tensor()) {
                    Some(g) => g.clone(),
                    None => p.var.as_tensor().zeros_like()?,
                };
                Ok(g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
            })
            .collect::<Result<_>>()?;
        Ok((loss, gs))
    }

    fn step(&self, t: &mut Trainer, batch: &Batch, lr: f64, step: u64) -> Result<(f64, f64)> {
        let loss_t = t.loss(batch)?;
        let loss = loss_t.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if !loss.is_finite() {
            return Err(Error::Diverged { step });
        }
        let grads = loss_t.backward()?;
        let norm = t.opt.step(&mut t.model.params, &grads, &t.train, lr)?;
        Ok((loss, norm))
    }
}

impl StepEngine for FastStep {
    fn loss_and_gradients(&self, t: &mut Trainer, batch: &Batch) -> Result<(f64, Vec<Vec<f64>>)> {
        let (model, buffers) = (&t.model, &mut t.buffers);
        let (loss, flat): (f64, Vec<f64>) = crate::device::in_pool(|| match model.dtype() {
            DType::F32 => cpu_train::loss_and_grads::<f32>(model, batch, buffers)
                .map(|(l, g)| (l, g.iter().map(|&x| x as f64).collect())),
            _ => cpu_train::loss_and_grads::<f64>(model, batch, buffers),
        })?;
        let lay = cpu_train::FlatLayout::of(&model.params);
        let gs = (0..model.params.len())
            .map(|i| flat[lay.range(i)].to_vec())
            .collect();
        Ok((loss, gs))
    }

    fn step(&self, t: &mut Trainer, batch: &Batch, lr: f64, step: u64) -> Result<(f64, f64)> {
        fn typed<T: cpu_train::Buffered>(
            t: &mut Trainer,
            batch: &Batch,
            lr: f64,
            step: u64,
        ) -> Result<(f64, f64)> {
            let (loss, grads) = cpu_train::loss_and_grads::<T>(&t.model, batch, &mut t.buffers)?;
            if !loss.is_finite() {
                return Err(Error::Diverged { step });
            }
            let norm = t.opt.step_flat(&mut t.model.params, &grads, &t.train, lr)?;
            Ok((loss, norm))
        }
        match t.model.dtype() {
            DType::F32 => typed::<f32>(t, batch, lr, step),
            _ => typed::<f64>(t, batch, lr, step),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The two backends against each other through whole training steps:
    //! loss, gradients, AdamW (flat on the fast backend, tensors on candle's).

    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig {
            vocab: 11,
            context: 12,
            n_layer: 2,
            d_model: 16,
            n_head: 2,
            d_ff: 24,
        }
    }

    /// Batch `i` of a fixed sequence of batches (4 sequences, some masked).
    fn batch(i: usize) -> Batch {
        let seqs: Vec<Vec<u32>> = (0..4)
            .map(|r| {
                (0..13)
                    .map(|j| ((j * 3 + r * 5 + i * 7) % 11) as u32)
                    .collect()
            })
            .collect();
        let masks: Vec<Vec<f32>> = (0..4)
            .map(|r| (0..12).map(|j| ((j + r) % 4 != 0) as u8 as f32).collect())
            .collect();
        Batch::from_sequences(&seqs, Some(&masks)).unwrap()
    }

    fn pair(dtype: DType, train: TrainConfig) -> (Trainer, Trainer) {
        let make = |k| {
            Trainer::with_dtype(tiny(), train.clone(), &Device::Cpu, 3, dtype)
                .unwrap()
                .with_kernels(k)
                .unwrap()
        };
        (make(Kernels::Fast), make(Kernels::Candle))
    }

    fn values(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// Largest absolute difference between the two trainers' weights, and
    /// between their first and second moments.
    fn max_diffs(a: &Trainer, b: &Trainer) -> [f64; 3] {
        let diff = |x: &Tensor, y: &Tensor| {
            values(x)
                .iter()
                .zip(values(y))
                .fold(0f64, |m, (p, q)| m.max((p - q).abs()))
        };
        let mut out = [0f64; 3];
        for (i, (p, q)) in a.model.params.iter().zip(&b.model.params).enumerate() {
            out[0] = out[0].max(diff(p.var.as_tensor(), q.var.as_tensor()));
            out[1] = out[1].max(diff(&a.opt().m[i], &b.opt().m[i]));
            out[2] = out[2].max(diff(&a.opt().v[i], &b.opt().v[i]));
        }
        out
    }

    #[test]
    fn one_step_gives_the_same_weights_and_moments_on_both_backends() {
        // Weight decay and clipping both active (the norm is above 0.1).
        let train = TrainConfig {
            warmup_steps: 0,
            grad_clip: 0.1,
            ..TrainConfig::default()
        };
        let (mut fast, mut candle) = pair(DType::F64, train);
        let (sf, sc) = (
            fast.step(&batch(0)).unwrap(),
            candle.step(&batch(0)).unwrap(),
        );
        assert!(
            (sf.loss - sc.loss).abs() <= 1e-12 * sc.loss,
            "{sf:?} vs {sc:?}"
        );
        assert!((sf.grad_norm - sc.grad_norm).abs() <= 1e-12 * sc.grad_norm);
        assert!(sc.grad_norm > 0.1, "clipping is exercised");
        let [w, m, v] = max_diffs(&fast, &candle);
        assert!(
            w <= 1e-10 && m <= 1e-10 && v <= 1e-10,
            "weights {w:e}, m {m:e}, v {v:e}"
        );
        // The step changed the weights by far more than the tolerance.
        let fresh = pair(DType::F64, TrainConfig::default()).0;
        assert!(max_diffs(&fast, &fresh)[0] > 1e-4);
    }

    #[test]
    fn two_hundred_f32_steps_agree_on_both_backends() {
        let train = TrainConfig {
            lr: 3e-3,
            warmup_steps: 20,
            total_steps: 200,
            ..TrainConfig::default()
        };
        let (mut fast, mut candle) = pair(DType::F32, train);
        let (mut first, mut last) = (0.0, (0.0, 0.0));
        for i in 0..200 {
            let (lf, lc) = (
                fast.step(&batch(i % 16)).unwrap().loss,
                candle.step(&batch(i % 16)).unwrap().loss,
            );
            if i == 0 {
                first = lc;
            }
            assert!(
                (lf - lc).abs() <= 2e-3 * lc.max(0.1),
                "step {i}: loss {lf} vs {lc}"
            );
            last = (lf, lc);
        }
        // Both learned (the batches repeat), and ended in the same place.
        assert!(last.1 < 0.5 * first, "loss {first} -> {}", last.1);
        let [w, _, _] = max_diffs(&fast, &candle);
        assert!(w < 1e-3, "weights differ by {w:e} after 200 steps");
    }
}
