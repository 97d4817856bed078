//! AdamW with decoupled weight decay and global-norm clipping, whose moments
//! and step count are plain tensors so a checkpoint can hold them exactly.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};

use crate::model::Param;
use crate::train::TrainConfig;
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

    /// Applies one update and returns the global gradient norm before
    /// clipping. A non-finite norm is returned without touching anything, so
    /// the caller can report divergence with the weights intact.
    pub fn step(
        &mut self,
        params: &[Param],
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
        if !norm.is_finite() {
            return Ok(norm);
        }
        let clip = if cfg.grad_clip > 0.0 && norm > cfg.grad_clip {
            cfg.grad_clip / (norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let bc1 = 1.0 - cfg.beta1.powi(self.t as i32);
        let bc2 = 1.0 - cfg.beta2.powi(self.t as i32);
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
}
