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

use crate::block::{self, Block, Embeddings, Init, Params};
use crate::config::ModelConfig;
use crate::fused;

/// LayerNorm's epsilon, PyTorch's default. An f64 so that f64 runs add
/// exactly 1e-5 as PyTorch does (`1e-5f32 as f64` is 1e-5·(1 − 2.5e-8), which
/// moves the f64 loss by ~1e-13); f32 runs round either to the same f32.
pub const LN_EPS: f64 = 1e-5;
/// Additive mask value. Finite on purpose: a fully masked row (a padding query)
/// then softmaxes to a uniform row instead of NaN.
const MASK_NEG: f64 = -1e9;

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

/// The operations the forward is written in, on `(rows, features)`
/// tensors. [`FastOps`] runs the fused CPU kernels of [`crate::fused`]
/// (inference on the fast backend); [`CandleOps`] runs candle's standard
/// ops (any device, with autograd: the candle backend).
trait Ops {
    /// `wte[tokens] + wpe[positions]` for `tokens (B, T)`: `(B*T, d)`.
    fn embed(&self, w: &Embeddings<Tensor>, tokens: &Tensor, pos: &Positions) -> Result<Tensor>;
    /// LayerNorm over the last dimension.
    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// `x Wᵀ (+ b)` for `x (N, in)`, `w (out, in)`; `wt` is `Wᵀ` contiguous
    /// when the weights carry it (fast inference).
    fn linear(
        &self,
        x: &Tensor,
        w: &Tensor,
        wt: Option<&Tensor>,
        b: Option<&Tensor>,
    ) -> Result<Tensor>;
    /// erf-GELU.
    fn gelu(&self, x: &Tensor) -> Result<Tensor>;
    /// Causal self-attention over `qkv (B*T, 3d)` laid out as
    /// `(B, T, 3, H, hd)`, positions `0..T`: `(B*T, d)`.
    fn causal_attention(&self, qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor>;
    /// The new tokens' queries in `qkv (B*T, 3d)` against positions
    /// `0..past+T` of the caches `kc`, `vc` `(B, cap, d)`, which already
    /// hold the new keys and values; position `j < pad[r]` of row `r` is
    /// left padding and never seen. `(B*T, d)`.
    fn cached_attention(
        &self,
        qkv: &Tensor,
        kc: &Tensor,
        vc: &Tensor,
        past: usize,
        pad: &[usize],
        h: usize,
    ) -> Result<Tensor>;
}

/// The fused CPU kernels (f32/f64, no backward).
struct FastOps;

impl Ops for FastOps {
    fn embed(&self, w: &Embeddings<Tensor>, tokens: &Tensor, pos: &Positions) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let ids = tokens.flatten_all()?.to_vec1::<u32>()?;
        let pos = match pos {
            Positions::FromZero => (0..b * t).map(|r| (r % t) as u32).collect(),
            Positions::PerRow(p) => p.flatten_all()?.to_vec1::<u32>()?,
        };
        fused::embed(&w.wte, &w.wpe, &ids, &pos)
    }

    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        fused::layer_norm(x, w, b, LN_EPS)
    }

    fn linear(
        &self,
        x: &Tensor,
        w: &Tensor,
        wt: Option<&Tensor>,
        b: Option<&Tensor>,
    ) -> Result<Tensor> {
        match wt {
            Some(wt) => fused::linear_t(x, wt, b),
            None => fused::linear(x, w, b),
        }
    }

    fn gelu(&self, x: &Tensor) -> Result<Tensor> {
        fused::gelu(x)
    }

    fn causal_attention(&self, qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
        fused::causal_attention(qkv, b, t, h)
    }

    fn cached_attention(
        &self,
        qkv: &Tensor,
        kc: &Tensor,
        vc: &Tensor,
        past: usize,
        pad: &[usize],
        h: usize,
    ) -> Result<Tensor> {
        fused::cached_attention(qkv, kc, vc, past, pad, h)
    }
}

/// candle's standard ops. Attention adds `mask`, built once per forward
/// for all layers ([`causal_mask`]).
struct CandleOps {
    mask: Tensor,
}

impl CandleOps {
    /// `q (B, H, Tq, hd)` against `k`, `v (B, H, Tk, hd)`: `(B*Tq, d)`.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, h, t, hd) = q.dims4()?;
        let scale = 1.0 / (hd as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&self.mask)?;
        // ops::softmax, not softmax_last_dim: the latter has no backward.
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        att.matmul(v)?.transpose(1, 2)?.reshape((b * t, h * hd))
    }
}

impl Ops for CandleOps {
    fn embed(&self, w: &Embeddings<Tensor>, tokens: &Tensor, pos: &Positions) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let d = w.wte.dim(1)?;
        let tok = w.wte.index_select(&tokens.flatten_all()?, 0)?;
        let pos = match pos {
            Positions::FromZero => w
                .wpe
                .narrow(0, 0, t)?
                .unsqueeze(0)?
                .broadcast_as((b, t, d))?
                .reshape((b * t, d))?,
            Positions::PerRow(ids) => w.wpe.index_select(&ids.flatten_all()?, 0)?,
        };
        tok + pos
    }

    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        // candle_nn::ops::layer_norm_slow's ops in its order, with an f64 eps
        // (it takes an f32). Not candle_nn::ops::layer_norm: it records no
        // backward in candle 0.11.1.
        let d = x.dim(D::Minus1)? as f64;
        let x = x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / d)?)?;
        let var = (x.sqr()?.sum_keepdim(D::Minus1)? / d)?;
        x.broadcast_div(&(var + LN_EPS)?.sqrt()?)?
            .broadcast_mul(w)?
            .broadcast_add(b)
    }

    fn linear(
        &self,
        x: &Tensor,
        w: &Tensor,
        _wt: Option<&Tensor>,
        b: Option<&Tensor>,
    ) -> Result<Tensor> {
        // (N, in) x (in, out): the transposed weight is a strided view the
        // matmul kernel reads directly.
        let y = x.matmul(&w.t()?)?;
        match b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    fn gelu(&self, x: &Tensor) -> Result<Tensor> {
        // Not `gelu_erf`: its backward in candle 0.11.1 rounds 1/√(2π) to six
        // digits, so the two backends' gradients would differ by 1e-6
        // relative. `erf`'s backward is exact, and these are the fast
        // kernel's operations in its order.
        ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?
            .affine(0.5, 0.0)?
            .mul(x)
    }

    fn causal_attention(&self, qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
        let hd = qkv.dim(1)? / (3 * h);
        let qkv = qkv
            .reshape((b, t, 3, h, hd))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        self.attend(&qkv.get(0)?, &qkv.get(1)?, &qkv.get(2)?)
    }

    fn cached_attention(
        &self,
        qkv: &Tensor,
        kc: &Tensor,
        vc: &Tensor,
        past: usize,
        _pad: &[usize],
        h: usize,
    ) -> Result<Tensor> {
        // The padding is in `mask`.
        let (b, _, d) = kc.dims3()?;
        let (t, hd) = (qkv.dim(0)? / b, d / h);
        let heads =
            |x: &Tensor, len: usize| x.reshape((b, len, h, hd))?.transpose(1, 2)?.contiguous();
        let q = heads(&qkv.narrow(1, 0, d)?.contiguous()?, t)?;
        let k = heads(&kc.narrow(1, 0, past + t)?, past + t)?;
        let v = heads(&vc.narrow(1, 0, past + t)?, past + t)?;
        self.attend(&q, &k, &v)
    }
}

impl KvCache {
    /// Writes the keys and values of `qkv (B*T, 3d)` at positions
    /// `len..len+T` of layer `li`'s buffers (allocated at the first call)
    /// and returns them.
    fn write(&mut self, li: usize, qkv: &Tensor, b: usize, t: usize) -> Result<&(Tensor, Tensor)> {
        let d = qkv.dim(1)? / 3;
        let past = self.len;
        if self.layers.len() <= li {
            let zeros = || Tensor::zeros((b, self.cap, d), qkv.dtype(), qkv.device());
            self.layers.push((zeros()?, zeros()?));
        }
        let (kc, vc) = &self.layers[li];
        if kc.dim(0)? != b || past + t > self.cap {
            candle_core::bail!(
                "kv cache holds {} rows and {} positions; got {b} rows at {past}+{t}",
                kc.dim(0)?,
                self.cap
            );
        }
        let new = |i: usize| qkv.narrow(1, i * d, d)?.contiguous()?.reshape((b, t, d));
        kc.slice_set(&new(1)?, 1, past)?;
        vc.slice_set(&new(2)?, 1, past)?;
        Ok(&self.layers[li])
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
        cache.len += t;
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
            let (kc, vc) = cache.write(layer.index, &qkv, b, t)?;
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
