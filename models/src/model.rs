//! The GPT: parameters, seeded initialization and the forward pass.
//!
//! One forward function serves inference on both backends (detached copies
//! of the weights) and training on the candle backend (tracked `Var`s). The
//! fast backend trains with `cpu_train`'s own forward and backward, which
//! tests compare with this one.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::ModelConfig;
use crate::fused;

pub const LN_EPS: f32 = 1e-5;
/// Additive mask value. Finite on purpose: a fully masked row (a padding query)
/// then softmaxes to a uniform row instead of NaN.
const MASK_NEG: f64 = -1e9;

/// How a parameter is initialized.
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
    kernels: Kernels,
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
    /// Contiguous `(in, out)` copies of the four matrices, for inference on
    /// the CPU: the gemm then reads them in place instead of repacking the
    /// weight at every decoding step.
    t: Option<[Tensor; 4]>,
}

/// The weights as tensors: tracked (training) or detached (inference).
pub(crate) struct Weights {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<BlockWeights>,
    lnf_w: Tensor,
    lnf_b: Tensor,
    /// `wteᵀ` `(d, vocab)`, contiguous (see `BlockWeights::t`).
    wte_t: Option<Tensor>,
}

impl Weights {
    /// Adds the transposed copies fused inference uses. They are a snapshot:
    /// make a new `Inference` after the weights change.
    pub(crate) fn with_transposed(mut self) -> Result<Self> {
        let tr = |w: &Tensor| w.t()?.contiguous();
        for b in &mut self.blocks {
            b.t = Some([
                tr(&b.qkv_w)?,
                tr(&b.proj_w)?,
                tr(&b.fc_w)?,
                tr(&b.mlp_proj_w)?,
            ]);
        }
        self.wte_t = Some(tr(&self.wte)?);
        Ok(self)
    }
}

/// Per-layer keys and values of the tokens seen so far: preallocated
/// `(B, cap, d)` buffers (columns `h*hd..(h+1)*hd` are head `h`) that each
/// forward writes its new positions into, so decoding never copies the cache.
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    cap: usize,
}

impl KvCache {
    /// An empty cache for up to `cap` positions; buffers are allocated by the
    /// first forward (which knows the batch size, dtype and device).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            layers: Vec::new(),
            len: 0,
            cap,
        }
    }

    /// Positions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The backend a model computes with (`--kernels fast|candle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The CPU kernels of [`crate::kernels`]: the fused ops of
    /// [`crate::fused`] for inference, and for training the hand-written
    /// forward and backward of `cpu_train` (no autograd). CPU, f32/f64 only.
    Fast,
    /// candle's standard ops and autograd, and AdamW on tensors: any device
    /// (what CUDA runs), and the reference the fast backend is tested
    /// against.
    Candle,
}

impl Kernels {
    /// Fast where it can run (the CPU, f32/f64), candle elsewhere.
    pub fn default_for(device: &Device, dtype: DType) -> Self {
        if Self::Fast.supports(device, dtype) {
            Kernels::Fast
        } else {
            Kernels::Candle
        }
    }

    /// Whether this backend runs on `device` with `dtype`.
    pub fn supports(self, device: &Device, dtype: DType) -> bool {
        match self {
            Kernels::Fast => device.is_cpu() && matches!(dtype, DType::F32 | DType::F64),
            Kernels::Candle => true,
        }
    }

    /// The name `--kernels` takes and manifests record.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Fast => "fast",
            Kernels::Candle => "candle",
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kernels {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fast" => Ok(Kernels::Fast),
            "candle" => Ok(Kernels::Candle),
            _ => Err(format!("unknown kernels {s:?}; expected fast or candle")),
        }
    }
}

/// How attention sees earlier positions.
pub(crate) enum Attention<'a> {
    /// Positions `0..T` of every row, causal, nothing cached (training, scoring).
    Causal,
    /// New positions `past..past+T` (`past` = `cache.len()`), written into the
    /// cache and attending to it; position `j < pad[r]` of row `r` is left
    /// padding and never seen.
    Cached {
        cache: &'a mut KvCache,
        pad: &'a [usize],
    },
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
                t: None,
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
            wte_t: None,
        }
    }

    /// Training forward over `(B, T)` token ids from position 0 with a causal
    /// mask: logits `(B, T, vocab)`.
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        self.forward_with(tokens, self.kernels())
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

/// `x Wᵀ + b`; `wt`, when given, is `Wᵀ` contiguous (inference only).
fn linear(x: &Tensor, w: &Tensor, wt: Option<&Tensor>, b: &Tensor, k: Kernels) -> Result<Tensor> {
    match k {
        Kernels::Fast => match wt {
            Some(wt) => fused::linear_t(x, wt, Some(b)),
            None => fused::linear(x, w, Some(b)),
        },
        // (N, in) x (in, out): the transposed weight is a strided view the
        // matmul kernel reads directly.
        Kernels::Candle => x.matmul(&w.t()?)?.broadcast_add(b),
    }
}

fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, k: Kernels) -> Result<Tensor> {
    match k {
        Kernels::Fast => fused::layer_norm(x, w, b, LN_EPS as f64),
        // Not candle_nn::ops::layer_norm: it records no backward in candle 0.11.1.
        Kernels::Candle => candle_nn::ops::layer_norm_slow(x, w, b, LN_EPS),
    }
}

fn gelu(x: &Tensor, k: Kernels) -> Result<Tensor> {
    match k {
        Kernels::Fast => fused::gelu(x),
        // Not `gelu_erf`: its backward in candle 0.11.1 rounds 1/√(2π) to six
        // digits, so the two backends' gradients would differ by 1e-6
        // relative. `erf`'s backward is exact, and these are the fast
        // kernel's operations in its order.
        Kernels::Candle => ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?
            .affine(0.5, 0.0)?
            .mul(x),
    }
}

/// Unfused attention: `q (B, H, Tq, hd)` against `k`, `v (B, H, Tk, hd)`
/// with an additive mask; returns `(B*Tq, d)`.
fn attention_candle(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (b, h, t, hd) = q.dims4()?;
    let scale = 1.0 / (hd as f64).sqrt();
    let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
    // ops::softmax, not softmax_last_dim: the latter has no backward.
    let att = candle_nn::ops::softmax(&att, D::Minus1)?;
    att.matmul(v)?.transpose(1, 2)?.reshape((b * t, h * hd))
}

/// The shared forward. `tokens` is `(B, T)`; with [`Attention::Cached`],
/// keys/values of earlier tokens are read from the cache and this call's are
/// written into it. Returns logits `(B, T, vocab)`.
pub(crate) fn forward(
    c: &ModelConfig,
    w: &Weights,
    tokens: &Tensor,
    positions: Positions,
    mut attn: Attention,
    k: Kernels,
) -> Result<Tensor> {
    let (b, t) = tokens.dims2()?;
    let (d, h, hd) = (c.d_model, c.n_head, c.head_dim());
    let (dtype, device) = (w.wte.dtype(), w.wte.device().clone());
    let x = match k {
        Kernels::Fast => {
            let ids = tokens.flatten_all()?.to_vec1::<u32>()?;
            let pos = match positions {
                Positions::FromZero => (0..b * t).map(|r| (r % t) as u32).collect(),
                Positions::PerRow(p) => p.flatten_all()?.to_vec1::<u32>()?,
            };
            fused::embed(&w.wte, &w.wpe, &ids, &pos)?
        }
        Kernels::Candle => {
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
            (tok + pos)?
        }
    };
    // The unfused path's additive mask, built once for all layers.
    let mask = match (&attn, k) {
        (_, Kernels::Fast) => None,
        (Attention::Causal, Kernels::Candle) => Some(causal_mask(t, 0, None, dtype, &device)?),
        (Attention::Cached { cache, pad }, Kernels::Candle) => {
            Some(causal_mask(t, cache.len(), Some(pad), dtype, &device)?)
        }
    };
    // The residual stream as (B*T, d): every linear is then one 2-D matmul.
    let mut x = x;
    for (li, bw) in w.blocks.iter().enumerate() {
        let hn = layer_norm(&x, &bw.ln1_w, &bw.ln1_b, k)?;
        // (B*T, 3d) laid out as (B, T, 3, H, hd).
        let wt = |i: usize| bw.t.as_ref().map(|t| &t[i]);
        let qkv = linear(&hn, &bw.qkv_w, wt(0), &bw.qkv_b, k)?;
        let y = match &mut attn {
            Attention::Causal => match (k, &mask) {
                (Kernels::Fast, _) => fused::causal_attention(&qkv, b, t, h)?,
                (Kernels::Candle, Some(mask)) => {
                    let qkv = qkv
                        .reshape((b, t, 3, h, hd))?
                        .permute((2, 0, 3, 1, 4))?
                        .contiguous()?;
                    attention_candle(&qkv.get(0)?, &qkv.get(1)?, &qkv.get(2)?, mask)?
                }
                (Kernels::Candle, None) => unreachable!("the unfused path builds a mask"),
            },
            Attention::Cached { cache, pad } => {
                let past = cache.len;
                if cache.layers.len() <= li {
                    let zeros = || Tensor::zeros((b, cache.cap, d), dtype, &device);
                    cache.layers.push((zeros()?, zeros()?));
                }
                let (kc, vc) = &cache.layers[li];
                if kc.dim(0)? != b || past + t > cache.cap {
                    candle_core::bail!(
                        "kv cache holds {} rows and {} positions; got {b} rows at {past}+{t}",
                        kc.dim(0)?,
                        cache.cap
                    );
                }
                let new = |i: usize| qkv.narrow(1, i * d, d)?.contiguous()?.reshape((b, t, d));
                kc.slice_set(&new(1)?, 1, past)?;
                vc.slice_set(&new(2)?, 1, past)?;
                match (k, &mask) {
                    (Kernels::Fast, _) => fused::cached_attention(&qkv, kc, vc, past, pad, h)?,
                    (Kernels::Candle, Some(mask)) => {
                        let heads = |x: &Tensor, len: usize| {
                            x.reshape((b, len, h, hd))?.transpose(1, 2)?.contiguous()
                        };
                        let q = heads(&new(0)?, t)?;
                        let kk = heads(&kc.narrow(1, 0, past + t)?, past + t)?;
                        let vv = heads(&vc.narrow(1, 0, past + t)?, past + t)?;
                        attention_candle(&q, &kk, &vv, mask)?
                    }
                    (Kernels::Candle, None) => unreachable!("the unfused path builds a mask"),
                }
            }
        };
        x = (x + linear(&y, &bw.proj_w, wt(1), &bw.proj_b, k)?)?;
        let hn = layer_norm(&x, &bw.ln2_w, &bw.ln2_b, k)?;
        let m = gelu(&linear(&hn, &bw.fc_w, wt(2), &bw.fc_b, k)?, k)?;
        x = (x + linear(&m, &bw.mlp_proj_w, wt(3), &bw.mlp_proj_b, k)?)?;
    }
    if let Attention::Cached { cache, .. } = attn {
        cache.len += t;
    }
    let x = layer_norm(&x, &w.lnf_w, &w.lnf_b, k)?;
    // Tied head: logits against the token embedding.
    let logits = match k {
        Kernels::Fast => match &w.wte_t {
            Some(wt) => fused::linear_t(&x, wt, None)?,
            None => fused::linear(&x, &w.wte, None)?,
        },
        Kernels::Candle => x.matmul(&w.wte.t()?)?,
    };
    logits.reshape((b, t, c.vocab))
}

#[cfg(test)]
mod tests {
    //! The fused CPU path against candle's standard ops, through the whole
    //! model: loss, every parameter's gradient, and greedy decoding with the
    //! KV cache and left padding.

    use super::*;
    use crate::fused::tests::flat;
    use crate::{GenerateOptions, ModelConfig};

    #[test]
    fn fused_model_matches_unfused_loss_gradients_and_decoding() {
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
        let targets: Vec<u32> = (0..b)
            .flat_map(|r| ids[r * (t + 1) + 1..][..t].to_vec())
            .collect();
        let weights: Vec<f64> = (0..b * t).map(|i| (i % 4 != 0) as u8 as f64).collect();
        let tokens = Tensor::from_slice(&inputs, (b, t), &Device::Cpu).unwrap();

        let fused_logits = gpt.forward_with(&tokens, Kernels::Fast).unwrap();
        let fused_loss = crate::fused::cross_entropy(
            &fused_logits.reshape((b * t, cfg.vocab)).unwrap(),
            &targets,
            Some(&weights),
        )
        .unwrap();
        let ref_logits = gpt.forward_with(&tokens, Kernels::Candle).unwrap();
        let mask = Tensor::from_slice(&weights, (b, t), &Device::Cpu).unwrap();
        let tg = Tensor::from_slice(&targets, (b, t), &Device::Cpu).unwrap();
        let ref_loss = crate::train::masked_cross_entropy(&ref_logits, &tg, Some(&mask)).unwrap();
        let (lf, lr) = (
            fused_loss.to_scalar::<f64>().unwrap(),
            ref_loss.to_scalar::<f64>().unwrap(),
        );
        assert!((lf - lr).abs() < 1e-12 * lr.abs(), "loss {lf} vs {lr}");

        let (gf, gr) = (fused_loss.backward().unwrap(), ref_loss.backward().unwrap());
        for p in &gpt.params {
            let a = flat(gf.get(p.var.as_tensor()).expect("fused gradient"));
            let r = flat(gr.get(p.var.as_tensor()).expect("reference gradient"));
            let scale = r.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
            let err = a
                .iter()
                .zip(&r)
                .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            // GELU: candle's backward uses a 6-digit constant (see fused.rs).
            assert!(err / scale < 1e-5, "{}: gradient error {err:e}", p.name);
        }

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
