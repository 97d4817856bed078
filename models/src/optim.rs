//! AdamW with decoupled weight decay and global-norm clipping, whose moments
//! and step count are plain tensors so a checkpoint can hold them exactly.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var, WithDType};
use rayon::prelude::*;

use crate::cpu_train::FlatLayout;
use crate::fused::{with_slice, Real};
use crate::kernels::simd;

use crate::config::TrainConfig;
use crate::model::Param;
use crate::Result;

pub struct AdamW {
    /// First and second moments, in the order of the model's parameter list.
    pub(crate) m: Vec<Tensor>,
    pub(crate) v: Vec<Tensor>,
    /// Updates applied so far (bias correction uses it).
    t: u64,
}

impl AdamW {
    pub fn new(params: &[Param]) -> Result<Self> {
        let zeros = |p: &Param| p.var.as_tensor().zeros_like();
        Ok(Self {
            m: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
            v: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
            t: 0,
        })
    }

    pub fn t(&self) -> u64 {
        self.t
    }

    pub(crate) fn set_t(&mut self, t: u64) {
        self.t = t;
    }

    /// Starts an update from the global gradient norm: the clip factor and
    /// the two bias corrections, with the step count advanced. `None` (and
    /// nothing changed) for a non-finite norm.
    fn begin_update(&mut self, norm: f64, cfg: &TrainConfig) -> Option<(f64, f64, f64)> {
        if !norm.is_finite() {
            return None;
        }
        let clip = if cfg.grad_clip > 0.0 && norm > cfg.grad_clip {
            cfg.grad_clip / (norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let bc1 = 1.0 - cfg.beta1.powi(self.t as i32);
        let bc2 = 1.0 - cfg.beta2.powi(self.t as i32);
        Some((clip, bc1, bc2))
    }

    /// Applies one update with candle's tensor ops (any device; the candle
    /// backend) and returns the global gradient norm before clipping. A non-finite norm is returned without touching anything, so
    /// the caller can report divergence with the weights intact.
    pub fn step(
        &mut self,
        params: &mut [Param],
        grads: &GradStore,
        cfg: &TrainConfig,
        lr: f64,
    ) -> Result<f64> {
        // Detached: a gradient would otherwise keep the whole backward graph alive.
        let gs = params
            .iter()
            .map(|p| match grads.get(p.var.as_tensor()) {
                Some(g) => Ok(g.detach()),
                None => p.var.as_tensor().zeros_like(),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut sq = 0.0f64;
        for g in &gs {
            sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
        let norm = sq.sqrt();
        let Some((clip, bc1, bc2)) = self.begin_update(norm, cfg) else {
            return Ok(norm);
        };
        for (i, (p, g)) in params.iter().zip(gs).enumerate() {
            let g = (g * clip)?;
            let m = ((&self.m[i] * cfg.beta1)? + (&g * (1.0 - cfg.beta1))?)?;
            let v = ((&self.v[i] * cfg.beta2)? + (g.sqr()? * (1.0 - cfg.beta2))?)?;
            let mut w = p.var.as_tensor().detach();
            if p.decay && cfg.weight_decay > 0.0 {
                w = (w * (1.0 - lr * cfg.weight_decay))?;
            }
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + cfg.eps)?)?;
            w = (w - (update * lr)?)?;
            p.var.set(&w)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(norm)
    }

    /// [`AdamW::step`] with the gradients of all parameters concatenated in
    /// parameter order (CPU, f32/f64; the fast backend): one loop per
    /// parameter over its flat buffer, where candle's tensor ops would
    /// allocate ~10 temporaries each. Element order and scalar rounding
    /// follow the tensor version (a test compares the two).
    pub(crate) fn step_flat<T: Real>(
        &mut self,
        params: &mut [Param],
        grads: &[T],
        cfg: &TrainConfig,
        lr: f64,
    ) -> Result<f64> {
        let lay = FlatLayout::of(params);
        let total = lay.total;
        if grads.len() != total {
            return Err(candle_core::Error::Msg(format!(
                "{} gradient values for {total} parameters",
                grads.len()
            ))
            .into());
        }
        // Squares summed in f64 over fixed chunks (eight lanes each, so it
        // vectorizes), the chunk sums added in order: the same bits for the
        // same gradients whatever the threads.
        let sq: f64 = grads
            .par_chunks(CH)
            .map(|c| simd(|| sum_sq_f64(c)))
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        let norm = sq.sqrt();
        let Some((clip, bc1, bc2)) = self.begin_update(norm, cfg) else {
            return Ok(norm);
        };
        let s = |x: f64| <T as WithDType>::from_f64(x);
        let (clip, b1, b2, nb1, nb2) = (
            s(clip),
            s(cfg.beta1),
            s(cfg.beta2),
            s(1.0 - cfg.beta1),
            s(1.0 - cfg.beta2),
        );
        let (bc1, bc2, eps, lr_t) = (s(bc1), s(bc2), s(cfg.eps), s(lr));
        for (i, p) in params.iter_mut().enumerate() {
            let decay = (p.decay && cfg.weight_decay > 0.0).then(|| s(1.0 - lr * cfg.weight_decay));
            let w = p.var.as_tensor().contiguous()?;
            let (m, v) = (self.m[i].contiguous()?, self.v[i].contiguous()?);
            let n = w.elem_count();
            let g = &grads[lay.range(i)];
            // The new weights and moments go to fresh buffers that become
            // the tensors (no zeroing first, no copy after).
            let (mut wn, mut mn, mut vn) = (
                Vec::<T>::with_capacity(n),
                Vec::<T>::with_capacity(n),
                Vec::<T>::with_capacity(n),
            );
            with_slice::<T, _>(&w, |w| {
                with_slice::<T, _>(&m, |m| {
                    with_slice::<T, _>(&v, |v| {
                        // Without decay the factor is 1 (exact), so the loop
                        // has no branch and vectorizes.
                        let dc = decay.unwrap_or(T::one());
                        wn.spare_capacity_mut()[..n]
                            .par_chunks_mut(CH)
                            .zip(mn.spare_capacity_mut()[..n].par_chunks_mut(CH))
                            .zip(vn.spare_capacity_mut()[..n].par_chunks_mut(CH))
                            .enumerate()
                            .for_each(|(ci, ((wc, mc), vc))| {
                                let r = ci * CH..ci * CH + wc.len();
                                let (g, m, v, w) =
                                    (&g[r.clone()], &m[r.clone()], &v[r.clone()], &w[r]);
                                simd(
                                    #[inline(always)]
                                    || {
                                        for j in 0..wc.len() {
                                            let gj = g[j] * clip;
                                            let mj = m[j] * b1 + gj * nb1;
                                            let vj = v[j] * b2 + gj * gj * nb2;
                                            let update = (mj / bc1) / ((vj / bc2).sqrt() + eps);
                                            wc[j].write(w[j] * dc - update * lr_t);
                                            mc[j].write(mj);
                                            vc[j].write(vj);
                                        }
                                    },
                                )
                            });
                    })
                })
            })???;
            // SAFETY: the loop above wrote all n elements of each.
            unsafe {
                wn.set_len(n);
                mn.set_len(n);
                vn.set_len(n);
            }
            let (shape, dev) = (p.var.shape().clone(), p.var.device().clone());
            // A new variable instead of `Var::set`, which would copy. Nothing
            // else keeps the old one: inference and checkpoints take the
            // weights from `params` when they need them.
            p.var = Var::from_vec(wn, shape.clone(), &dev)?;
            self.m[i] = Tensor::from_vec(mn, shape.clone(), &dev)?;
            self.v[i] = Tensor::from_vec(vn, shape, &dev)?;
        }
        Ok(norm)
    }
}

/// Elements per parallel work item of the flat update.
const CH: usize = 16 * 1024;

/// `Σ x²` in f64 with eight independent accumulators.
#[inline(always)]
fn sum_sq_f64<T: Real>(x: &[T]) -> f64 {
    let f = |v: T| <T as WithDType>::to_f64(v);
    let mut acc = [0f64; 8];
    for c in x.chunks_exact(8) {
        for k in 0..8 {
            acc[k] += f(c[k]) * f(c[k]);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in &x[x.len() / 8 * 8..] {
        s += f(v) * f(v);
    }
    s
}
