//! The GPT: parameters, seeded initialization and the forward pass, written
//! like nanoGPT's `model.py` (`gpt`, `block`, `self_attention`) over the
//! operations of [`crate::ops`].
//!
//! One forward function serves inference on both backends (detached copies
//! of the weights) and training on the candle backend (tracked `Var`s). The
//! fast backend trains with `cpu_train`'s own forward and backward, which
//! tests compare with this one.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::block::{self, Block, Init, Params};
use crate::config::ModelConfig;
use crate::kv_cache::Attention;
use crate::ops::{causal_mask, CandleOps, FastOps, Kernels, Ops, Positions};

/// One named trainable tensor.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub var: Var,
    /// Weight decay applies to matrices of linear layers only
    /// (not biases, norms or embeddings).
    pub decay: bool,
}

/// The parameter list in a fixed order, with names that match the safetensors
/// checkpoint (`blocks.0.attn.qkv.weight`, ...).
#[derive(Debug, Clone)]
pub struct Gpt {
    pub config: ModelConfig,
    pub params: Vec<Param>,
    dtype: DType,
    device: Device,
    kernels: Kernels,
}

/// The weights as tensors: tracked (training) or detached (inference).
pub(crate) struct Weights {
    p: Params<Tensor>,
    /// Contiguous `(in, out)` copies of each block's matrices (`None` for
    /// its vectors), for inference on the CPU: the gemm then reads them in
    /// place instead of repacking the weight at every decoding step.
    t: Option<Vec<Block<Option<Tensor>>>>,
    /// `wteᵀ` `(d, vocab)`, contiguous, for the tied head (as `t`).
    wte_t: Option<Tensor>,
}

impl Weights {
    /// Adds the transposed copies fused inference uses. They are a snapshot:
    /// make a new `Inference` after the weights change.
    pub(crate) fn with_transposed(mut self) -> Result<Self> {
        let tr = |w: &Tensor| w.t()?.contiguous();
        let mut t = Vec::with_capacity(self.p.blocks.len());
        for b in &self.p.blocks {
            let mut failed = None;
            let bt = b.as_ref().map(|def, w| {
                let m = (def.shape.len() == 2).then(|| tr(w)).transpose();
                m.unwrap_or_else(|e| {
                    failed = Some(e);
                    None
                })
            });
            if let Some(e) = failed {
                return Err(e);
            }
            t.push(bt);
        }
        self.t = Some(t);
        self.wte_t = Some(tr(&self.p.emb.wte)?);
        Ok(self)
    }
}

impl Gpt {
    /// A freshly initialized model on the default backend for `device`
    /// ([`Kernels::default_for`]). Weights come from a ChaCha RNG seeded with
    /// `seed` on the host, so the same seed gives the same weights on any
    /// device.
    pub fn new(
        config: ModelConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> crate::Result<Self> {
        config.validate()?;
        let std = 0.02;
        let resid_std = std / (2.0 * config.n_layer as f64).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::new();
        for (name, def) in block::definitions(config.n_layer) {
            let shape = def.dims(&config);
            let n: usize = shape.iter().product();
            let mut normal = |std: f64| -> Vec<f64> {
                let dist = Normal::new(0.0, std).expect("std is positive");
                (0..n).map(|_| dist.sample(&mut rng)).collect()
            };
            let host: Vec<f64> = match def.init {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::Normal => normal(std),
                Init::NormalResidual => normal(resid_std),
            };
            // Draw in f64 and round once, so f32 and f64 models share their init.
            let t = Tensor::from_vec(host, shape, &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(device)?;
            params.push(Param {
                name,
                var: Var::from_tensor(&t)?,
                decay: def.decay,
            });
        }
        Ok(Self {
            config,
            params,
            dtype,
            device: device.clone(),
            kernels: Kernels::default_for(device, dtype),
        })
    }

    /// Switches the backend; an error where it cannot run (fast off the
    /// CPU, or in another dtype than f32/f64).
    pub fn set_kernels(&mut self, kernels: Kernels) -> crate::Result<()> {
        if !kernels.supports(&self.device, self.dtype) {
            return Err(crate::Error::Device(format!(
                "--kernels {kernels} runs on the CPU in f32 or f64, not on {} in {:?}",
                crate::device_name(&self.device),
                self.dtype
            )));
        }
        self.kernels = kernels;
        Ok(())
    }

    /// The backend this model computes with.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Total element count of the variables actually created.
    pub fn element_count(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    pub(crate) fn weights(&self, detached: bool) -> Weights {
        let tensors = self.params.iter().map(|p| {
            let t = p.var.as_tensor();
            if detached {
                t.detach()
            } else {
                t.clone()
            }
        });
        Weights {
            p: Params::from_values(self.config.n_layer, tensors)
                .expect("the parameter list follows the block description"),
            t: None,
            wte_t: None,
        }
    }

    /// Forward over `(B, T)` token ids from position 0 with a causal mask:
    /// logits `(B, T, vocab)`, as a graph that `backward` differentiates
    /// (candle's ops whatever the backend: the fast backend's ops have no
    /// backward, and it trains without a graph).
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        self.forward_with(tokens, Kernels::Candle)
    }

    pub(crate) fn forward_with(&self, tokens: &Tensor, k: Kernels) -> Result<Tensor> {
        let w = self.weights(false);
        forward(
            &self.config,
            &w,
            tokens,
            Positions::FromZero,
            Attention::Causal,
            k,
        )
    }
}

/// The shared forward. `tokens` is `(B, T)`; with [`Attention::Cached`],
/// keys/values of earlier tokens are read from the cache and this call's are
/// written into it. Returns logits `(B, T, vocab)`.
pub(crate) fn forward(
    c: &ModelConfig,
    w: &Weights,
    tokens: &Tensor,
    positions: Positions,
    attn: Attention,
    k: Kernels,
) -> Result<Tensor> {
    match k {
        Kernels::Fast => gpt(&FastOps, c, w, tokens, &positions, attn),
        Kernels::Candle => {
            let t = tokens.dim(1)?;
            let (dtype, device) = (w.p.emb.wte.dtype(), w.p.emb.wte.device());
            let mask = match &attn {
                Attention::Causal => causal_mask(t, 0, None, dtype, device)?,
                Attention::Cached { cache, pad } => {
                    causal_mask(t, cache.len(), Some(pad), dtype, device)?
                }
            };
            gpt(&CandleOps { mask }, c, w, tokens, &positions, attn)
        }
    }
}

/// nanoGPT's `GPT.forward` over `ops`: embeddings, the blocks, the final
/// LayerNorm and the tied head.
fn gpt<O: Ops>(
    ops: &O,
    c: &ModelConfig,
    w: &Weights,
    tokens: &Tensor,
    positions: &Positions,
    mut attn: Attention,
) -> Result<Tensor> {
    let (b, t) = tokens.dims2()?;
    // The residual stream as (B*T, d): every linear is then one 2-D matmul.
    let mut x = ops.embed(&w.p.emb, tokens, positions)?;
    for (index, bw) in w.p.blocks.iter().enumerate() {
        let layer = Layer {
            w: bw,
            wt: w.t.as_ref().map(|t| &t[index]),
            index,
        };
        x = block(ops, c, &layer, x, (b, t), &mut attn)?;
    }
    if let Attention::Cached { cache, .. } = attn {
        cache.advance(t);
    }
    let x = ops.layer_norm(&x, &w.p.ln_f.ln_f_w, &w.p.ln_f.ln_f_b)?;
    // Tied head: logits against the token embedding.
    let logits = ops.linear(&x, &w.p.emb.wte, w.wte_t.as_ref(), None)?;
    logits.reshape((b, t, c.vocab))
}

/// One block's weights as the forward reads them.
struct Layer<'a> {
    w: &'a Block<Tensor>,
    /// The transposed matrices, when the weights carry them.
    wt: Option<&'a Block<Option<Tensor>>>,
    /// The block's index: its slot in the KV cache.
    index: usize,
}

/// nanoGPT's `Block.forward`: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`;
/// `x` is `(B*T, d)` for `bt = (B, T)`.
fn block<O: Ops>(
    ops: &O,
    c: &ModelConfig,
    layer: &Layer,
    x: Tensor,
    bt: (usize, usize),
    attn: &mut Attention,
) -> Result<Tensor> {
    let (w, wt) = (layer.w, layer.wt);
    let h = ops.layer_norm(&x, &w.ln_1_w, &w.ln_1_b)?;
    let x = (x + self_attention(ops, c, layer, &h, bt, attn)?)?;
    let h = ops.layer_norm(&x, &w.ln_2_w, &w.ln_2_b)?;
    let fc_t = wt.and_then(|t| t.fc_w.as_ref());
    let m = ops.gelu(&ops.linear(&h, &w.fc_w, fc_t, Some(&w.fc_b))?)?;
    let proj_t = wt.and_then(|t| t.mlp_proj_w.as_ref());
    x + ops.linear(&m, &w.mlp_proj_w, proj_t, Some(&w.mlp_proj_b))?
}

/// nanoGPT's `CausalSelfAttention.forward` on the normalized stream `h`:
/// the fused QKV projection, attention over this call's positions (and the
/// cache's), the output projection.
fn self_attention<O: Ops>(
    ops: &O,
    c: &ModelConfig,
    layer: &Layer,
    h: &Tensor,
    (b, t): (usize, usize),
    attn: &mut Attention,
) -> Result<Tensor> {
    let (w, wt) = (layer.w, layer.wt);
    // (B*T, 3d) laid out as (B, T, 3, H, hd).
    let qkv_t = wt.and_then(|t| t.qkv_w.as_ref());
    let qkv = ops.linear(h, &w.qkv_w, qkv_t, Some(&w.qkv_b))?;
    let y = match attn {
        Attention::Causal => ops.causal_attention(&qkv, b, t, c.n_head)?,
        Attention::Cached { cache, pad } => {
            let past = cache.len();
            let (kc, vc) = cache.write(layer.index, &qkv, (b, t, c.n_head))?;
            ops.cached_attention(&qkv, kc, vc, past, pad, c.n_head)?
        }
    };
    let proj_t = wt.and_then(|t| t.proj_w.as_ref());
    ops.linear(&y, &w.proj_w, proj_t, Some(&w.proj_b))
}

#[cfg(test)]
mod tests {
    //! The fast backend's ops against candle's, through the whole model:
    //! logits, and greedy decoding with the KV cache and left padding. (The
    //! training step's loss and gradients: `cpu_train` and `train` tests.)

    use super::*;
    use crate::fused::tests::flat;
    use crate::{GenerateOptions, ModelConfig};

    #[test]
    fn fast_ops_match_candle_logits_and_decoding() {
        let cfg = ModelConfig {
            vocab: 11,
            context: 9,
            n_layer: 2,
            d_model: 12,
            n_head: 3,
            d_ff: 20,
        };
        let gpt = Gpt::new(cfg, 5, DType::F64, &Device::Cpu).unwrap();
        let (b, t) = (3, 9);
        let ids: Vec<u32> = (0..b * (t + 1)).map(|i| (i * 7 % 11) as u32).collect();
        let inputs: Vec<u32> = (0..b)
            .flat_map(|r| ids[r * (t + 1)..][..t].to_vec())
            .collect();
        let tokens = Tensor::from_slice(&inputs, (b, t), &Device::Cpu).unwrap();

        let fast = flat(&gpt.forward_with(&tokens, Kernels::Fast).unwrap());
        let reference = flat(&gpt.forward_with(&tokens, Kernels::Candle).unwrap());
        let scale = reference.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
        let err = fast
            .iter()
            .zip(&reference)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(err / scale < 1e-12, "logits differ by {err:e}");

        let prompts = vec![vec![1, 2, 3], vec![4], vec![5, 6, 7, 8, 9]];
        let mut inf = gpt.inference();
        for no_cache in [false, true] {
            let opts = GenerateOptions {
                max_new_tokens: 5,
                stop_tokens: vec![],
                no_cache,
            };
            inf.kernels = Kernels::Fast;
            let fused = inf.generate(&prompts, &opts).unwrap();
            inf.kernels = Kernels::Candle;
            let reference = inf.generate(&prompts, &opts).unwrap();
            assert_eq!(fused, reference, "no_cache={no_cache}");
        }
    }
}
