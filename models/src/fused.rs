//! Fused CPU kernels as candle custom ops, each with an explicit backward.
//!
//! candle's elementwise ops allocate a tensor per step and its composite ops
//! (`layer_norm_slow`, `softmax`, `log_softmax` + `gather`, `matmul` +
//! `broadcast_add`) build long backward graphs; at the ladder's sizes that
//! overhead, not the matrix work, set the step time. Each op here is one pass
//! of a [`crate::kernels`] function:
//!
//! - [`layer_norm`]: `(x - mean) / sqrt(var + eps) * w + b` over the last dim.
//! - [`linear`]: `x Wᵀ + b`, the bias loaded into the gemm's output.
//! - [`causal_attention`]: softmax(QKᵀ·scale, causal) V, read straight from the
//!   fused `(B*T, 3d)` QKV projection and written as `(B*T, d)`, so no
//!   permute or contiguous copy is needed either way.
//! - [`cached_attention`]: the decoding variant (left padding, a KV cache);
//!   inference only.
//! - [`gelu`]: erf-GELU (candle's formula; in f32 with a vectorizable erf
//!   within 5e-7 of libm's, see `kernels::erf_f32`).
//! - [`embed`]: token + position embedding.
//! - [`cross_entropy`]: masked mean cross-entropy of logits against targets.
//!
//! All take f32 or f64 and run on the CPU; the model falls back to candle's
//! standard ops on other devices (see `model::Kernels`). Training on the CPU
//! goes further and skips candle's autograd ([`crate::cpu_train`]); these ops
//! serve inference and [`crate::Trainer::loss`].
//!
//! `tests` at the bottom compare every op, forward values and gradients,
//! against the unfused candle composition it replaces.

use std::sync::{Arc, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};
use num_traits::Zero;

pub use crate::kernels::Real;
use crate::kernels::{self as k, c, Heads};

pub(crate) fn contig<'a, T: Real>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("fused kernel needs a contiguous input"),
    }
}

fn out<T: Real>(v: Vec<T>, shape: impl Into<Shape>) -> Result<(CpuStorage, Shape)> {
    Ok((T::to_cpu_storage_owned(v), shape.into()))
}

/// Runs `$body` with `$t` bound to the element type of `$dtype`.
macro_rules! with_real {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            d => bail!("fused kernels support f32 and f64, not {d:?}"),
        }
    };
}

/// Runs `f` on the contiguous CPU data of `t` (which must be contiguous).
pub(crate) fn with_slice<T: Real, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let (s, l) = t.storage_and_layout();
    match &*s {
        candle_core::Storage::Cpu(cs) => Ok(f(contig::<T>(cs, l)?)),
        _ => bail!("fused kernel needs a CPU tensor"),
    }
}

// ---------------------------------------------------------------- LayerNorm

/// LayerNorm over the last dimension of `x` with weight `w` and bias `b`,
/// with a backward.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNorm { eps })
}

struct LayerNorm {
    eps: f64,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "emerge-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        with_real!(s1.dtype(), T => {
            let x = contig::<T>(s1, l1)?;
            let w = contig::<T>(s2, l2)?;
            let b = contig::<T>(s3, l3)?;
            let d = w.len();
            if d == 0 || !x.len().is_multiple_of(d) || b.len() != d {
                bail!("layer_norm: shapes {:?} {:?} {:?}", l1.dims(), l2.dims(), l3.dims());
            }
            let mut y = vec![T::zero(); x.len()];
            k::ln_fwd(x, w, b, self.eps, &mut y, None);
            out(y, l1.shape().clone())
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = x.elem_count();
        let d = w.elem_count();
        let packed = x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormBwd { eps: self.eps })?;
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, d)?.reshape(w.shape())?;
        let db = packed.narrow(0, n + d, d)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Backward of [`LayerNorm`]: `(x, w, dy)` → `[dx | dw | db]` flat.
struct LayerNormBwd {
    eps: f64,
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "emerge-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        with_real!(s1.dtype(), T => {
            let x = contig::<T>(s1, l1)?;
            let w = contig::<T>(s2, l2)?;
            let g = contig::<T>(s3, l3)?;
            let (n, d) = (x.len(), w.len());
            let mut res = vec![T::zero(); n + 2 * d];
            let (dx, dwb) = res.split_at_mut(n);
            let (dw, db) = dwb.split_at_mut(d);
            k::ln_bwd(x, w, g, self.eps, None, dx, dw, db);
            out(res, n + 2 * d)
        })
    }
}

// ---------------------------------------------------------------- attention

/// Causal self-attention over a fused QKV projection `qkv (B*T, 3d)` laid out
/// as `(B, T, 3, H, hd)`: returns `(B*T, d)` laid out as `(B, T, H, hd)`, the
/// layout the output projection reads. Scale `1/sqrt(hd)`, positions `0..T`.
/// The backward recomputes the probabilities instead of storing them.
pub fn causal_attention(qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
    let (rows, three_d) = qkv.dims2()?;
    if rows != b * t || !three_d.is_multiple_of(3 * h) {
        bail!(
            "causal_attention: qkv {:?} for b={b} t={t} h={h}",
            qkv.dims()
        );
    }
    let hd = three_d / (3 * h);
    qkv.contiguous()?.apply_op1(CausalAttention {
        s: Heads { b, t, h, hd },
    })
}

struct CausalAttention {
    s: Heads,
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "emerge-causal-attention"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = self.s;
        with_real!(st.dtype(), T => {
            let qkv = contig::<T>(st, l)?;
            let mut y = vec![T::zero(); s.b * s.t * s.d()];
            k::attn_fwd(s, qkv, &mut y, None);
            out(y, (s.b * s.t, s.d()))
        })
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let dqkv = qkv.apply_op2_no_bwd(&g.contiguous()?, &CausalAttentionBwd { s: self.s })?;
        Ok(Some(dqkv))
    }
}

/// Backward of [`CausalAttention`]: `(qkv, dy)` → `dqkv`.
struct CausalAttentionBwd {
    s: Heads,
}

impl CustomOp2 for CausalAttentionBwd {
    fn name(&self) -> &'static str {
        "emerge-causal-attention-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        with_real!(s1.dtype(), T => {
            let qkv = contig::<T>(s1, l1)?;
            let dy = contig::<T>(s2, l2)?;
            let mut dqkv = vec![T::zero(); qkv.len()];
            k::attn_bwd(self.s, qkv, dy, None, &mut dqkv);
            out(dqkv, l1.shape().clone())
        })
    }
}
/// Decoding attention (no backward). `qkv (B*Tq, 3d)` holds the new tokens;
/// `k_cache`, `v_cache` are `(B, cap, d)` and already hold their keys and
/// values at positions `past..past+Tq`. Query `i` of row `r` sees cached
/// positions `pad[r]..=past+i`; a query with nothing visible (left padding)
/// gets zeros, which only padding positions ever read.
pub fn cached_attention(
    qkv: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    past: usize,
    pad: &[usize],
    h: usize,
) -> Result<Tensor> {
    let (b, cap, d) = k_cache.dims3()?;
    let (rows, three_d) = qkv.dims2()?;
    if pad.len() != b || rows % b != 0 || three_d != 3 * d || d % h != 0 {
        bail!(
            "cached_attention: qkv {:?}, cache {:?}, {} pad entries",
            qkv.dims(),
            k_cache.dims(),
            pad.len()
        );
    }
    let tq = rows / b;
    if past + tq > cap {
        bail!("cached_attention: {past} + {tq} positions exceed the cache ({cap})");
    }
    let op = CachedAttention {
        s: Heads {
            b,
            t: tq,
            h,
            hd: d / h,
        },
        past,
        cap,
        pad: Arc::new(pad.to_vec()),
    };
    qkv.contiguous()?
        .apply_op3_no_bwd(&k_cache.contiguous()?, &v_cache.contiguous()?, &op)
}

struct CachedAttention {
    /// `t` is the number of new tokens.
    s: Heads,
    past: usize,
    cap: usize,
    pad: Arc<Vec<usize>>,
}

impl CustomOp3 for CachedAttention {
    fn name(&self) -> &'static str {
        "emerge-cached-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = self.s;
        let (past, cap) = (self.past, self.cap);
        with_real!(s1.dtype(), T => {
            let qkv = contig::<T>(s1, l1)?;
            let kc = contig::<T>(s2, l2)?;
            let vc = contig::<T>(s3, l3)?;
            let mut y = vec![T::zero(); s.b * s.t * s.d()];
            k::cached_attn(s, qkv, kc, vc, past, cap, &self.pad, &mut y);
            out(y, (s.b * s.t, s.d()))
        })
    }
}

// ---------------------------------------------------------------- GELU

/// erf-GELU, `0.5·x·(1 + erf(x/√2))`, with a backward. When `x` is tracked
/// (training), the forward also stores the derivative, so the backward is one
/// multiply instead of a second erf and exp per element.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu {
        deriv: x.track_op().then(|| Arc::new(OnceLock::new())),
    })
}

struct Gelu {
    deriv: Option<Arc<OnceLock<CpuStorage>>>,
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "emerge-gelu"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        with_real!(st.dtype(), T => {
            let x = contig::<T>(st, l)?;
            let mut y = vec![T::zero(); x.len()];
            match &self.deriv {
                None => k::gelu_fwd(x, &mut y, None),
                Some(cell) => {
                    let mut dy = vec![T::zero(); x.len()];
                    k::gelu_fwd(x, &mut y, Some(&mut dy));
                    let _ = cell.set(<T as candle_core::WithDType>::to_cpu_storage_owned(dy));
                }
            }
            out(y, l.shape().clone())
        })
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let cell = match &self.deriv {
            Some(cell) if cell.get().is_some() => cell.clone(),
            // Not tracked at the forward: compute the derivative now.
            _ => {
                let cell = Arc::new(OnceLock::new());
                x.contiguous()?.apply_op1_no_bwd(&Gelu {
                    deriv: Some(cell.clone()),
                })?;
                cell
            }
        };
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&GeluBwd(cell))?))
    }
}

/// `dy ∘ gelu'(x)` from the derivative stored by the forward.
struct GeluBwd(Arc<OnceLock<CpuStorage>>);

impl CustomOp1 for GeluBwd {
    fn name(&self) -> &'static str {
        "emerge-gelu-bwd"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        with_real!(st.dtype(), T => {
            let g = contig::<T>(st, l)?;
            let Some(d) = self.0.get() else { bail!("gelu: no stored derivative") };
            let d = d.as_slice::<T>()?;
            if d.len() != g.len() {
                bail!("gelu: stored derivative has {} values, gradient {}", d.len(), g.len());
            }
            let mut dx = vec![T::zero(); g.len()];
            k::mul(g, d, &mut dx);
            out(dx, l.shape().clone())
        })
    }
}

// ---------------------------------------------------------------- linear

/// `x Wᵀ (+ b)` for `x (N, in)`, `w (out, in)`, `b (out)`, with a backward
/// (`dx = dy W`, `dW = dyᵀ x`, `db = Σ rows dy`). The bias is loaded into the
/// output before the matmul accumulates into it, so no broadcast add (and no
/// strided reduction in the backward) is needed.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = Linear { transposed: false };
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}

/// `x Wt (+ b)` for a transposed weight `wt (in, out)`; no backward
/// (inference).
pub fn linear_t(x: &Tensor, wt: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (x, wt) = (x.contiguous()?, wt.contiguous()?);
    let op = Linear { transposed: true };
    match b {
        Some(b) => x.apply_op3_no_bwd(&wt, &b.contiguous()?, &op),
        None => x.apply_op2_no_bwd(&wt, &op),
    }
}

/// The linear op; `transposed` takes the weight as `(in, out)` and has no
/// backward ([`linear_t`]).
#[derive(Clone, Copy)]
struct Linear {
    transposed: bool,
}

impl Linear {
    fn name(&self, bias: bool) -> &'static str {
        match (self.transposed, bias) {
            (false, false) => "emerge-linear",
            (false, true) => "emerge-linear-bias",
            (true, false) => "emerge-linear-t",
            (true, true) => "emerge-linear-t-bias",
        }
    }

    /// The forward on CPU storages: `x`, the weight, the optional bias.
    fn cpu(
        &self,
        (s1, l1): (&CpuStorage, &Layout),
        (s2, l2): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let n = l1.dims()[0];
        let (kk, o) = match (self.transposed, l2.dims()) {
            (true, &[kk, o]) => (kk, o),
            (false, &[o, kk]) => (kk, o),
            (_, dims) => bail!("linear: weight of shape {dims:?}"),
        };
        with_real!(s1.dtype(), T => {
            let b = bias.map(|(s3, l3)| contig::<T>(s3, l3)).transpose()?;
            let (x, w) = (contig::<T>(s1, l1)?, contig::<T>(s2, l2)?);
            let y = linear_fwd(x, w, b, kk, o, self.transposed)?;
            out(y, (n, o))
        })
    }
}

/// `x Wᵀ (+ b)` for `w (o, kk)`, or with `transposed` `x Wt (+ b)` for
/// `wt (kk, o)`: one product, the weight read with other strides.
fn linear_fwd<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    kk: usize,
    o: usize,
    transposed: bool,
) -> Result<Vec<T>> {
    if kk == 0
        || !x.len().is_multiple_of(kk)
        || w.len() != o * kk
        || b.is_some_and(|b| b.len() != o)
    {
        if transposed {
            bail!("linear: {} inputs, transposed weight {kk}x{o}", x.len());
        }
        bail!("linear: {} inputs, weight {o}x{kk}", x.len());
    }
    let n = x.len() / kk;
    let mut y = match b {
        Some(b) => b.repeat(n),
        None => vec![T::zero(); n * o],
    };
    if transposed {
        k::xw(x, w, o, &mut y, b.is_some());
    } else {
        k::xwt(x, w, o, &mut y, b.is_some());
    }
    Ok(y)
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        Linear::name(self, false)
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = linear_bwd(self, x, w, g)?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        Linear::name(self, true)
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = linear_bwd(self, x, w, g)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

fn linear_bwd(op: &Linear, x: &Tensor, w: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    if op.transposed {
        bail!("linear with a transposed weight has no backward");
    }
    let (n, kk) = x.dims2()?;
    let o = w.dim(0)?;
    let packed = x.apply_op3_no_bwd(w, &g.contiguous()?, &LinearBwd)?;
    let dx = packed.narrow(0, 0, n * kk)?.reshape((n, kk))?;
    let dw = packed.narrow(0, n * kk, o * kk)?.reshape((o, kk))?;
    let db = packed.narrow(0, n * kk + o * kk, o)?;
    Ok((dx, dw, db))
}

/// Backward of [`Linear`]: `(x, w, dy)` → `[dx | dW | db]` flat.
struct LinearBwd;

impl CustomOp3 for LinearBwd {
    fn name(&self) -> &'static str {
        "emerge-linear-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, kk) = (l1.dims()[0], l1.dims()[1]);
        let o = l2.dims()[0];
        with_real!(s1.dtype(), T => {
            let x = contig::<T>(s1, l1)?;
            let w = contig::<T>(s2, l2)?;
            let g = contig::<T>(s3, l3)?;
            if g.len() != n * o || w.len() != o * kk {
                bail!("linear backward: shapes {:?} {:?} {:?}", l1.dims(), l2.dims(), l3.dims());
            }
            let mut res = vec![T::zero(); n * kk + o * kk + o];
            let (dx, rest) = res.split_at_mut(n * kk);
            let (dw, db) = rest.split_at_mut(o * kk);
            k::linear_bwd(x, w, g, o, Some((dx, false)), dw, false, Some(db));
            out(res, n * kk + o * kk + o)
        })
    }
}

// ---------------------------------------------------------------- embedding

/// `wte[tokens[r]] + wpe[positions[r]]` for every row `r`, with a backward
/// (scatter-adds in row order).
pub fn embed(wte: &Tensor, wpe: &Tensor, tokens: &[u32], positions: &[u32]) -> Result<Tensor> {
    let (v, _) = wte.dims2()?;
    let (ctx, _) = wpe.dims2()?;
    if tokens.len() != positions.len() {
        bail!(
            "embed: {} tokens, {} positions",
            tokens.len(),
            positions.len()
        );
    }
    if let Some(t) = tokens.iter().find(|&&t| t as usize >= v) {
        bail!("embed: token {t} outside the vocabulary {v}");
    }
    if let Some(p) = positions.iter().find(|&&p| p as usize >= ctx) {
        bail!("embed: position {p} outside the context {ctx}");
    }
    wte.contiguous()?.apply_op2(
        &wpe.contiguous()?,
        Embed {
            tokens: Arc::new(tokens.to_vec()),
            positions: Arc::new(positions.to_vec()),
        },
    )
}

#[derive(Clone)]
struct Embed {
    tokens: Arc<Vec<u32>>,
    positions: Arc<Vec<u32>>,
}

impl CustomOp2 for Embed {
    fn name(&self) -> &'static str {
        "emerge-embed"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = l1.dims()[1];
        let n = self.tokens.len();
        with_real!(s1.dtype(), T => {
            let mut x = vec![T::zero(); n * d];
            k::embed_fwd(contig::<T>(s1, l1)?, contig::<T>(s2, l2)?, &self.tokens, &self.positions, &mut x);
            out(x, (n, d))
        })
    }

    fn bwd(
        &self,
        wte: &Tensor,
        wpe: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (nv, d) = wte.dims2()?;
        let nc = wpe.dim(0)?;
        let packed = g.contiguous()?.apply_op1_no_bwd(&EmbedBwd {
            fwd: self.clone(),
            vocab: nv,
            context: nc,
        })?;
        let dwte = packed.narrow(0, 0, nv * d)?.reshape((nv, d))?;
        let dwpe = packed.narrow(0, nv * d, nc * d)?.reshape((nc, d))?;
        Ok((Some(dwte), Some(dwpe)))
    }
}

/// Backward of [`Embed`]: `dy` → `[dwte | dwpe]` flat.
struct EmbedBwd {
    fwd: Embed,
    vocab: usize,
    context: usize,
}

impl CustomOp1 for EmbedBwd {
    fn name(&self) -> &'static str {
        "emerge-embed-bwd"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l.dims()[1];
        let (nv, nc) = (self.vocab, self.context);
        with_real!(st.dtype(), T => {
            let g = contig::<T>(st, l)?;
            let mut res = vec![T::zero(); (nv + nc) * d];
            let (dwte, dwpe) = res.split_at_mut(nv * d);
            k::embed_bwd(g, &self.fwd.tokens, &self.fwd.positions, dwte, dwpe);
            out(res, (nv + nc) * d)
        })
    }
}

// ---------------------------------------------------------------- cross-entropy

/// Mean cross-entropy of `logits (N, V)` against `targets` (N ids), each row
/// weighted by `weights` when given (the loss is then `Σ wᵢ·ℓᵢ / Σ wᵢ`).
/// Returns a scalar with a backward into `logits`.
pub fn cross_entropy(logits: &Tensor, targets: &[u32], weights: Option<&[f64]>) -> Result<Tensor> {
    let (n, v) = logits.dims2()?;
    if targets.len() != n || weights.is_some_and(|w| w.len() != n) {
        bail!("cross_entropy: {n} rows, {} targets", targets.len());
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= v) {
        bail!("cross_entropy: target {t} outside the vocabulary {v}");
    }
    let denom = match weights {
        Some(w) => w.iter().sum::<f64>(),
        None => n as f64,
    };
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets: Arc::new(targets.to_vec()),
        weights: weights.map(|w| Arc::new(w.to_vec())),
        denom,
        g: None,
    })
}

/// The loss (`g: None`) or, as the backward, `g · ∂loss/∂logits`.
#[derive(Clone)]
struct CrossEntropy {
    targets: Arc<Vec<u32>>,
    weights: Option<Arc<Vec<f64>>>,
    denom: f64,
    g: Option<f64>,
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "emerge-cross-entropy"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let v = l.dims()[1];
        let w = self.weights.as_deref().map(Vec::as_slice);
        with_real!(st.dtype(), T => {
            let x = contig::<T>(st, l)?;
            match self.g {
                None => {
                    let loss = k::cross_entropy(x, v, &self.targets, w, self.denom, 0.0, None);
                    out(vec![c::<T>(loss)], ())
                }
                Some(g) => {
                    let mut dx = vec![T::zero(); x.len()];
                    k::cross_entropy(x, v, &self.targets, w, self.denom, g, Some(&mut dx));
                    out(dx, l.shape().clone())
                }
            }
        })
    }

    fn bwd(&self, logits: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let g = g.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let op = CrossEntropy {
            g: Some(g),
            ..self.clone()
        };
        Ok(Some(logits.apply_op1_no_bwd(&op)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Fused ops against the unfused candle compositions they replace:
    //! forward values and gradients, in f64 (tight) and f32 (loose).

    use super::*;
    use candle_core::{Device, Var, D};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn randn(shape: &[usize], seed: u64, dtype: DType) -> Var {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let t = Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        Var::from_tensor(&t).unwrap()
    }

    /// Every element as f64, in order (the model's tests use it too).
    pub(crate) fn flat(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}: shapes");
        let (a, b) = (flat(a), flat(b));
        let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
        let err = a
            .iter()
            .zip(&b)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            err / scale < tol,
            "{what}: max error {err:e} (scale {scale:e})"
        );
    }

    /// Runs `fused` and `reference` on the same vars, backpropagating
    /// `Σ out ∘ probe` through both, and compares outputs and every gradient.
    fn check(
        vars: &[Var],
        fused: impl Fn(&[Tensor]) -> Result<Tensor>,
        reference: impl Fn(&[Tensor]) -> Result<Tensor>,
        tol: f64,
        what: &str,
    ) {
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (yf, yr) = (fused(&ts).unwrap(), reference(&ts).unwrap());
        assert_close(&yf, &yr, tol, &format!("{what} forward"));
        let probe = randn(yr.dims(), 99, yr.dtype()).as_tensor().detach();
        let lf = (yf * &probe).unwrap().sum_all().unwrap();
        let lr = (yr * &probe).unwrap().sum_all().unwrap();
        let (gf, gr) = (lf.backward().unwrap(), lr.backward().unwrap());
        for (i, v) in vars.iter().enumerate() {
            let a = gf.get(v.as_tensor()).expect("fused gradient");
            let b = gr.get(v.as_tensor()).expect("reference gradient");
            assert_close(a, b, tol, &format!("{what} gradient of input {i}"));
        }
    }

    fn causal_reference(qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
        let d = qkv.dim(1)? / 3;
        let hd = d / h;
        let qkv = qkv
            .reshape((b, t, 3, h, hd))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let mask: Vec<f64> = (0..t * t)
            .map(|i| if i % t <= i / t { 0.0 } else { -1e9 })
            .collect();
        let mask = Tensor::from_vec(mask, (1, 1, t, t), &Device::Cpu)?.to_dtype(qkv.dtype())?;
        let att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?.broadcast_add(&mask)?;
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, d))
    }

    #[test]
    fn fused_ops_match_unfused_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-4)] {
            let x = randn(&[40, 24], 1, dtype);
            let w = randn(&[24], 2, dtype);
            let b = randn(&[24], 3, dtype);
            check(
                &[x.clone(), w, b],
                |t| layer_norm(&t[0], &t[1], &t[2], 1e-5),
                |t| candle_nn::ops::layer_norm_slow(&t[0], &t[1], &t[2], 1e-5),
                tol,
                "layer_norm",
            );
            // candle's gelu_erf backward rounds 1/sqrt(2π) to 0.398942 (relative
            // error 1e-6); ours uses the exact constant, so the bound is looser.
            check(
                &[x],
                |t| gelu(&t[0]),
                |t| t[0].gelu_erf(),
                tol.max(2e-6),
                "gelu",
            );
            // Tracked input: the derivative stored by the forward is used.
            let xt = randn(&[5, 7], 6, dtype);
            check(
                std::slice::from_ref(&xt),
                |t| gelu(&(&t[0] * 1.0)?),
                |t| (&t[0] * 1.0)?.gelu_erf(),
                tol.max(2e-6),
                "gelu (stored derivative)",
            );
            let (lx, lw, lb) = (
                randn(&[9, 6], 7, dtype),
                randn(&[5, 6], 8, dtype),
                randn(&[5], 9, dtype),
            );
            check(
                &[lx.clone(), lw.clone(), lb],
                |t| linear(&t[0], &t[1], Some(&t[2])),
                |t| t[0].matmul(&t[1].t()?)?.broadcast_add(&t[2]),
                tol,
                "linear",
            );
            let lwt = lw.as_tensor().t().unwrap().contiguous().unwrap();
            assert_close(
                &linear_t(&lx, &lwt, None).unwrap(),
                &lx.matmul(&lw.t().unwrap()).unwrap(),
                tol,
                "linear with a transposed weight",
            );
            check(
                &[lx, lw],
                |t| linear(&t[0], &t[1], None),
                |t| t[0].matmul(&t[1].t()?),
                tol,
                "linear without bias",
            );
            let (wte, wpe) = (randn(&[6, 4], 10, dtype), randn(&[5, 4], 11, dtype));
            let toks: Vec<u32> = vec![1, 5, 1, 0, 3, 3, 2, 1];
            let pos: Vec<u32> = vec![0, 1, 2, 3, 0, 1, 2, 4];
            check(
                &[wte, wpe],
                |t| embed(&t[0], &t[1], &toks, &pos),
                |t| {
                    let ti = Tensor::new(&toks[..], &Device::Cpu)?;
                    let pi = Tensor::new(&pos[..], &Device::Cpu)?;
                    t[0].index_select(&ti, 0)? + t[1].index_select(&pi, 0)?
                },
                tol,
                "embed",
            );
            // Partial register tiles only (head size 4), then whole ones
            // (16) with a context that is not a multiple of the tile.
            for (bb, t, h, hd) in [(3, 7, 2, 4), (2, 37, 2, 4), (2, 37, 2, 16)] {
                let qkv = randn(&[bb * t, 3 * h * hd], 4, dtype);
                check(
                    &[qkv],
                    |x| causal_attention(&x[0], bb, t, h),
                    |x| causal_reference(&x[0], bb, t, h),
                    tol,
                    &format!("causal_attention, t = {t}"),
                );
            }
            let logits = randn(&[10, 5], 5, dtype);
            let targets: Vec<u32> = (0..10).map(|i| (i * 3 % 5) as u32).collect();
            let weights: Vec<f64> = (0..10).map(|i| (i % 3) as f64).collect();
            for wt in [None, Some(&weights[..])] {
                check(
                    std::slice::from_ref(&logits),
                    |x| cross_entropy(&x[0], &targets, wt),
                    |x| {
                        let tg = Tensor::new(&targets[..], &Device::Cpu)?.reshape((1, 10))?;
                        let m = wt
                            .map(|w| Tensor::from_slice(w, (1, 10), &Device::Cpu)?.to_dtype(dtype))
                            .transpose()?;
                        crate::train::masked_cross_entropy(
                            &x[0].reshape((1, 10, 5))?,
                            &tg,
                            m.as_ref(),
                        )
                    },
                    tol,
                    "cross_entropy",
                );
            }
        }
    }

    #[test]
    fn cached_attention_matches_causal_attention() {
        // The whole sequence through the cache at once equals causal attention
        // (no padding), and one query at a time equals the prefix rows.
        let (b, t, h, hd) = (2, 6, 2, 4);
        let d = h * hd;
        let qkv = randn(&[b * t, 3 * d], 7, DType::F64).as_tensor().clone();
        let full = causal_attention(&qkv, b, t, h).unwrap();
        let q3 = qkv.reshape((b, t, 3 * d)).unwrap();
        let kc = q3.narrow(2, d, d).unwrap().contiguous().unwrap();
        let vc = q3.narrow(2, 2 * d, d).unwrap().contiguous().unwrap();
        let all = cached_attention(&qkv, &kc, &vc, 0, &[0, 0], h).unwrap();
        assert_close(&all, &full, 1e-12, "all at once");
        let last = q3.narrow(1, t - 1, 1).unwrap().reshape((b, 3 * d)).unwrap();
        let one = cached_attention(&last, &kc, &vc, t - 1, &[0, 0], h).unwrap();
        let want = full
            .reshape((b, t, d))
            .unwrap()
            .narrow(1, t - 1, 1)
            .unwrap()
            .reshape((b, d))
            .unwrap();
        assert_close(&one, &want, 1e-12, "last query");
    }
}
