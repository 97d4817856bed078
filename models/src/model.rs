//! The GPT: parameters, seeded initialization and the forward pass.
//!
//! One forward function serves training (tracked `Var`s) and inference
//! (detached copies of the same storage), so the two can never drift apart.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::ModelConfig;

pub const LN_EPS: f32 = 1e-5;
/// Additive mask value. Finite on purpose: a fully masked row (a padding query)
/// then softmaxes to a uniform row instead of NaN.
const MASK_NEG: f64 = -1e9;

/// How a parameter is initialized, and whether AdamW decays it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
    Normal(f64),
    Zeros,
    Ones,
}

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
}

/// Tensors of one block, in forward order.
pub(crate) struct BlockWeights {
    ln1_w: Tensor,
    ln1_b: Tensor,
    qkv_w: Tensor,
    qkv_b: Tensor,
    proj_w: Tensor,
    proj_b: Tensor,
    ln2_w: Tensor,
    ln2_b: Tensor,
    fc_w: Tensor,
    fc_b: Tensor,
    mlp_proj_w: Tensor,
    mlp_proj_b: Tensor,
}

/// The weights as tensors: tracked (training) or detached (inference).
pub(crate) struct Weights {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<BlockWeights>,
    lnf_w: Tensor,
    lnf_b: Tensor,
}

/// Per-layer keys and values of the tokens seen so far, `(B, H, T_seen, hd)`.
#[derive(Default)]
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    pub(crate) fn len(&self) -> usize {
        self.layers
            .first()
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }
}

fn param_specs(c: &ModelConfig) -> Vec<(String, Vec<usize>, Init, bool)> {
    let (d, f) = (c.d_model, c.d_ff);
    let std = 0.02;
    // GPT-2: residual projections scaled so the residual stream's variance does
    // not grow with depth.
    let resid_std = std / (2.0 * c.n_layer as f64).sqrt();
    let mut specs = vec![
        (
            "wte.weight".to_string(),
            vec![c.vocab, d],
            Init::Normal(std),
            false,
        ),
        (
            "wpe.weight".to_string(),
            vec![c.context, d],
            Init::Normal(std),
            false,
        ),
    ];
    for i in 0..c.n_layer {
        let p = |s: &str| format!("blocks.{i}.{s}");
        specs.extend([
            (p("ln_1.weight"), vec![d], Init::Ones, false),
            (p("ln_1.bias"), vec![d], Init::Zeros, false),
            (
                p("attn.qkv.weight"),
                vec![3 * d, d],
                Init::Normal(std),
                true,
            ),
            (p("attn.qkv.bias"), vec![3 * d], Init::Zeros, false),
            (
                p("attn.proj.weight"),
                vec![d, d],
                Init::Normal(resid_std),
                true,
            ),
            (p("attn.proj.bias"), vec![d], Init::Zeros, false),
            (p("ln_2.weight"), vec![d], Init::Ones, false),
            (p("ln_2.bias"), vec![d], Init::Zeros, false),
            (p("mlp.fc.weight"), vec![f, d], Init::Normal(std), true),
            (p("mlp.fc.bias"), vec![f], Init::Zeros, false),
            (
                p("mlp.proj.weight"),
                vec![d, f],
                Init::Normal(resid_std),
                true,
            ),
            (p("mlp.proj.bias"), vec![d], Init::Zeros, false),
        ]);
    }
    specs.push(("ln_f.weight".into(), vec![d], Init::Ones, false));
    specs.push(("ln_f.bias".into(), vec![d], Init::Zeros, false));
    specs
}

impl Gpt {
    /// A freshly initialized model. Weights come from a ChaCha RNG seeded with
    /// `seed` on the host, so the same seed gives the same weights on any device.
    pub fn new(
        config: ModelConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> crate::Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::new();
        for (name, shape, init, decay) in param_specs(&config) {
            let n: usize = shape.iter().product();
            let host: Vec<f64> = match init {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::Normal(std) => {
                    let dist = Normal::new(0.0, std).expect("std is positive");
                    (0..n).map(|_| dist.sample(&mut rng)).collect()
                }
            };
            // Draw in f64 and round once, so f32 and f64 models share their init.
            let t = Tensor::from_vec(host, shape, &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(device)?;
            params.push(Param {
                name,
                var: Var::from_tensor(&t)?,
                decay,
            });
        }
        Ok(Self {
            config,
            params,
            dtype,
            device: device.clone(),
        })
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
        let mut it = self.params.iter().map(|p| {
            let t = p.var.as_tensor();
            if detached {
                t.detach()
            } else {
                t.clone()
            }
        });
        let mut next = || it.next().expect("parameter list matches param_specs");
        let wte = next();
        let wpe = next();
        let blocks = (0..self.config.n_layer)
            .map(|_| BlockWeights {
                ln1_w: next(),
                ln1_b: next(),
                qkv_w: next(),
                qkv_b: next(),
                proj_w: next(),
                proj_b: next(),
                ln2_w: next(),
                ln2_b: next(),
                fc_w: next(),
                fc_b: next(),
                mlp_proj_w: next(),
                mlp_proj_b: next(),
            })
            .collect();
        let lnf_w = next();
        let lnf_b = next();
        Weights {
            wte,
            wpe,
            blocks,
            lnf_w,
            lnf_b,
        }
    }

    /// Training forward over `(B, T)` token ids from position 0 with a causal
    /// mask: logits `(B, T, vocab)`.
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let w = self.weights(false);
        let t = tokens.dim(1)?;
        let mask = causal_mask(t, 0, None, self.dtype, &self.device)?;
        forward(&self.config, &w, tokens, Positions::FromZero, &mask, None)
    }
}

pub(crate) enum Positions<'a> {
    /// Positions `0..T` in every row.
    FromZero,
    /// Per-row `(B, T)` position ids (left-padded batches).
    PerRow(&'a Tensor),
}

/// Additive attention mask of shape `(B or 1, 1, T_q, past + T_q)`: query `i`
/// (absolute index `past + i`) sees key `j` iff `j <= past + i` and `j` is not
/// left padding of its row (`j >= pad[b]`).
pub(crate) fn causal_mask(
    t_q: usize,
    past: usize,
    pad: Option<&[usize]>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let t_k = past + t_q;
    let rows: Vec<usize> = pad.map_or(vec![0], |p| p.to_vec());
    let mut data = Vec::with_capacity(rows.len() * t_q * t_k);
    for &p in &rows {
        for i in 0..t_q {
            for j in 0..t_k {
                let visible = j <= past + i && j >= p;
                data.push(if visible { 0.0 } else { MASK_NEG });
            }
        }
    }
    Tensor::from_vec(data, (rows.len(), 1, t_q, t_k), device)?.to_dtype(dtype)
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    // (N, in) x (in, out): the transposed weight is a strided view the matmul
    // kernel reads directly.
    x.matmul(&w.t()?)?.broadcast_add(b)
}

fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    // Not candle_nn::ops::layer_norm: it records no backward in candle 0.11.1.
    candle_nn::ops::layer_norm_slow(x, w, b, LN_EPS)
}

/// The shared forward. `tokens` is `(B, T)`; `mask` is from [`causal_mask`];
/// with a cache, keys/values of earlier tokens are read from it and this
/// call's are appended. Returns logits `(B, T, vocab)`.
pub(crate) fn forward(
    c: &ModelConfig,
    w: &Weights,
    tokens: &Tensor,
    positions: Positions,
    mask: &Tensor,
    mut cache: Option<&mut KvCache>,
) -> Result<Tensor> {
    let (b, t) = tokens.dims2()?;
    let (d, h, hd) = (c.d_model, c.n_head, c.head_dim());
    let tok = w.wte.index_select(&tokens.flatten_all()?, 0)?;
    let pos = match positions {
        Positions::FromZero => w
            .wpe
            .narrow(0, 0, t)?
            .unsqueeze(0)?
            .broadcast_as((b, t, d))?
            .reshape((b * t, d))?,
        Positions::PerRow(ids) => w.wpe.index_select(&ids.flatten_all()?, 0)?,
    };
    // The residual stream as (B*T, d): every linear is then one 2-D matmul.
    let mut x = (tok + pos)?;
    let scale = 1.0 / (hd as f64).sqrt();
    for (li, bw) in w.blocks.iter().enumerate() {
        let hn = layer_norm(&x, &bw.ln1_w, &bw.ln1_b)?;
        let qkv = linear(&hn, &bw.qkv_w, &bw.qkv_b)?
            .reshape((b, t, 3, h, hd))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let q = qkv.get(0)?;
        let (mut k, mut v) = (qkv.get(1)?, qkv.get(2)?);
        if let Some(cache) = cache.as_deref_mut() {
            if let Some((pk, pv)) = cache.layers.get(li) {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            if cache.layers.len() > li {
                cache.layers[li] = (k.clone(), v.clone());
            } else {
                cache.layers.push((k.clone(), v.clone()));
            }
        }
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        // ops::softmax, not softmax_last_dim: the latter has no backward.
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, d))?;
        x = (x + linear(&y, &bw.proj_w, &bw.proj_b)?)?;
        let hn = layer_norm(&x, &bw.ln2_w, &bw.ln2_b)?;
        let m = linear(&hn, &bw.fc_w, &bw.fc_b)?.gelu_erf()?;
        x = (x + linear(&m, &bw.mlp_proj_w, &bw.mlp_proj_b)?)?;
    }
    let x = layer_norm(&x, &w.lnf_w, &w.lnf_b)?;
    // Tied head: logits against the token embedding.
    x.matmul(&w.wte.t()?)?.reshape((b, t, c.vocab))
}
