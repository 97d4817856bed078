//! The two backends the forward runs on ([`Kernels`]), as the operations
//! it is written in ([`Ops`]): [`FastOps`], the fused CPU kernels, and
//! [`CandleOps`], candle's standard ops with autograd; with the positions
//! and the attention mask they take.

use candle_core::{DType, Device, Result, Tensor, D};

use crate::block::Embeddings;
use crate::config::LN_EPS;
use crate::fused;

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

pub(crate) enum Positions<'a> {
    /// Positions `0..T` in every row.
    FromZero,
    /// Per-row `(B, T)` position ids (left-padded batches).
    PerRow(&'a Tensor),
}

/// Additive mask value. Finite on purpose: a fully masked row (a padding query)
/// then softmaxes to a uniform row instead of NaN.
const MASK_NEG: f64 = -1e9;

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
pub(crate) trait Ops {
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
    /// `0..past+T` of the caches `kc`, `vc` `(B, H, cap, hd)`, which already
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
pub(crate) struct FastOps;

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
pub(crate) struct CandleOps {
    pub(crate) mask: Tensor,
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
        let (b, _, _, hd) = kc.dims4()?;
        let (t, d) = (qkv.dim(0)? / b, h * hd);
        let q = qkv
            .narrow(1, 0, d)?
            .reshape((b, t, h, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = kc.narrow(2, 0, past + t)?.contiguous()?;
        let v = vc.narrow(2, 0, past + t)?.contiguous()?;
        self.attend(&q, &k, &v)
    }
}
