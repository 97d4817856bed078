//! The fast backend's training step: loss and gradients on the CPU without
//! candle's autograd.
//!
//! candle's backward allocates a zero tensor and does a full add for every
//! gradient of every node, on top of the graph bookkeeping; at the ladder's
//! sizes that was a large share of a step even with fused ops. Here the
//! forward keeps the activations the backward needs in plain buffers, and the
//! backward is written out by hand (the llm.c way) on the same
//! [`crate::kernels`] the fused ops use, one function per layer. The weights
//! and gradients are [`Params`] views named by [`crate::block`]'s lists.
//! `tests` check the loss and every gradient against the candle backend
//! (and the finite-difference tests check both).

use candle_core::Result;

use crate::batch::Batch;
use crate::block::{Block, Params, BLOCK};
use crate::config::LN_EPS;
use crate::fused::contig;
use crate::kernels::{self as k, Heads, Real};
use crate::model::{Gpt, Param};
use rayon::prelude::*;

/// Activations of one block kept for the backward.
#[derive(Default)]
struct BlockActs<T> {
    /// Block input (residual stream).
    x_in: Vec<T>,
    ln1: Vec<T>,
    /// Each row's LayerNorm mean and 1/std, kept for the backward.
    ln1_stats: Vec<T>,
    qkv: Vec<T>,
    /// Softmax probabilities `(B, H, T, T)`.
    probs: Vec<T>,
    att: Vec<T>,
    /// Residual stream after attention.
    x_mid: Vec<T>,
    ln2: Vec<T>,
    ln2_stats: Vec<T>,
    /// GELU output and derivative at the MLP's hidden layer.
    act: Vec<T>,
    act_deriv: Vec<T>,
}

/// Offsets of each parameter (in `Gpt::params` order) in the flat buffers.
pub(crate) struct FlatLayout {
    pub(crate) offsets: Vec<usize>,
    pub(crate) sizes: Vec<usize>,
    pub(crate) total: usize,
}

impl FlatLayout {
    pub(crate) fn of(params: &[Param]) -> Self {
        let sizes: Vec<usize> = params.iter().map(|p| p.var.elem_count()).collect();
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut total = 0;
        for &s in &sizes {
            offsets.push(total);
            total += s;
        }
        Self {
            offsets,
            sizes,
            total,
        }
    }

    pub(crate) fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i] + self.sizes[i]
    }

    /// `g` split into one mutable view per parameter.
    fn split<'a, T>(&self, n_layer: usize, mut g: &'a mut [T]) -> Params<&'a mut [T]> {
        let parts = self.sizes.iter().map(|&s| {
            let (mine, rest) = std::mem::take(&mut g).split_at_mut(s);
            g = rest;
            mine
        });
        let parts: Vec<&mut [T]> = parts.collect();
        Params::from_values(n_layer, parts).expect("a size per parameter")
    }
}

/// The shapes of one slice of the batch.
#[derive(Clone, Copy)]
struct Dims {
    /// Sequences and positions per sequence.
    b: usize,
    t: usize,
    d: usize,
    h: usize,
    ff: usize,
    vocab: usize,
}

impl Dims {
    /// Rows of the residual stream.
    fn n(&self) -> usize {
        self.b * self.t
    }

    fn heads(&self) -> Heads {
        Heads {
            b: self.b,
            t: self.t,
            h: self.h,
            hd: self.d / self.h,
        }
    }
}

/// Loss of `batch` and the gradient of every parameter, flat in
/// [`FlatLayout`] order.
///
/// The batch is split into one slice of whole sequences per rayon thread; the
/// slices run forward and backward at the same time (each kernel's own
/// splitting then stays inside its thread), and their losses and gradients
/// are added in slice order. Whole-batch ops were too small to split well at
/// the ladder's sizes; a slice per thread has no synchronization until the
/// sum. The result depends on the thread count only through that order of
/// additions (float rounding), so the same thread count gives the same bits.
pub(crate) fn loss_and_grads<T: Buffered>(
    gpt: &Gpt,
    batch: &Batch,
    bufs: &mut StepBuffers,
) -> Result<(f64, Vec<T>)> {
    let cfg = &gpt.config;
    let (b, t) = (batch.batch, batch.seq_len);
    let v = cfg.vocab;
    if t > cfg.context {
        candle_core::bail!("sequence length {t} exceeds the context {}", cfg.context);
    }
    if let Some(&bad) = batch
        .inputs
        .iter()
        .chain(&batch.targets)
        .find(|&&x| x as usize >= v)
    {
        candle_core::bail!("token {bad} outside the vocabulary {v}");
    }
    let lay = FlatLayout::of(&gpt.params);
    // The weights are read in place: one read guard per parameter.
    let guards: Vec<_> = gpt
        .params
        .iter()
        .map(|p| p.var.as_tensor().storage_and_layout())
        .collect();
    let slices: Vec<&[T]> = guards
        .iter()
        .map(|(s, l)| match &**s {
            candle_core::Storage::Cpu(cs) => contig::<T>(cs, l),
            _ => candle_core::bail!("CPU training needs CPU tensors"),
        })
        .collect::<Result<_>>()?;
    let w = Params::from_values(cfg.n_layer, slices)
        .ok_or_else(|| candle_core::Error::Msg("parameter list does not match the model".into()))?;
    let weights: Option<Vec<f64>> = batch
        .mask
        .as_ref()
        .map(|m| m.iter().map(|&x| x as f64).collect());
    let denom = weights.as_ref().map_or((b * t) as f64, |w| w.iter().sum());
    let parts = rayon::current_num_threads().clamp(1, b);
    let bounds: Vec<(usize, usize)> = (0..parts)
        .map(|p| (p * b / parts, (p + 1) * b / parts))
        .collect();
    let TypedBuffers { transposed, slices } = T::pick(bufs);
    transpose_weights(cfg, &w.blocks, transposed);
    let transposed = &*transposed;
    if slices.len() < parts {
        slices.resize_with(parts, SliceBuffers::default);
    }
    let results: Vec<(f64, Vec<T>)> = bounds
        .par_iter()
        .zip(slices[..parts].par_iter_mut())
        .map(|(&(lo, hi), ws)| {
            let rows = lo * t..hi * t;
            let slice = Slice {
                dims: Dims {
                    b: hi - lo,
                    t,
                    d: cfg.d_model,
                    h: cfg.n_head,
                    ff: cfg.d_ff,
                    vocab: v,
                },
                inputs: &batch.inputs[rows.clone()],
                targets: &batch.targets[rows.clone()],
                weights: weights.as_ref().map(|w| &w[rows]),
                denom,
            };
            let mut run = || {
                let mut g = vec![T::zero(); lay.total];
                let grads = lay.split(cfg.n_layer, &mut g);
                let loss = slice_loss_and_grads(&slice, &w, transposed, grads, ws);
                (loss, g)
            };
            // Each slice keeps its matmuls on its own thread: the threads
            // are already busy with the other slices.
            if parts > 1 {
                k::serial_gemm(run)
            } else {
                run()
            }
        })
        .collect();
    let mut it = results.into_iter();
    let (mut loss, mut g) = it.next().expect("at least one slice");
    for (l, gp) in it {
        loss += l;
        g.par_chunks_mut(k::ELEM_CHUNK)
            .zip(gp.par_chunks(k::ELEM_CHUNK))
            .for_each(|(a, b)| {
                for (a, &x) in a.iter_mut().zip(b) {
                    *a += x;
                }
            });
    }
    Ok((loss, g))
}

/// Every block's matrices transposed, `(in, out)`, into `out` (vectors get
/// nothing): the forward's products read them so, which the AVX-512 tiles
/// take without packing (gemm would pack the `(out, in)` weight at every
/// call). Made once per step for all slices.
fn transpose_weights<T: Real>(
    cfg: &crate::ModelConfig,
    blocks: &[Block<&[T]>],
    out: &mut Vec<Block<Vec<T>>>,
) {
    out.resize_with(blocks.len(), Block::default);
    let mut todo: Vec<(&mut Vec<T>, &[T], usize)> = Vec::new();
    for (o, w) in out.iter_mut().zip(blocks) {
        for ((o, w), def) in o
            .as_mut()
            .into_vec()
            .into_iter()
            .zip(w.as_ref().into_vec())
            .zip(BLOCK)
        {
            if def.shape.len() == 2 {
                todo.push((o, w, def.shape[0].of(cfg)));
            }
        }
    }
    todo.into_par_iter().for_each(|(o, w, rows)| {
        k::transpose(w, rows, sized(o, w.len()));
    });
}

/// What one slice of the batch computes on.
struct Slice<'a> {
    dims: Dims,
    inputs: &'a [u32],
    targets: &'a [u32],
    /// Per-position loss weights (the batch's mask), if any.
    weights: Option<&'a [f64]>,
    /// The whole batch's weight sum: each slice's loss is its share.
    denom: f64,
}

/// One slice: its share of the loss (`Σ wᵢ·ℓᵢ / denom`), and of every
/// gradient added into `g` (zeros on entry).
fn slice_loss_and_grads<T: Real>(
    s: &Slice,
    w: &Params<&[T]>,
    transposed: &[Block<Vec<T>>],
    mut g: Params<&mut [T]>,
    ws: &mut SliceBuffers<T>,
) -> f64 {
    let dims = s.dims;
    let (n, d) = (dims.n(), dims.d);
    let positions: Vec<u32> = (0..n).map(|r| (r % dims.t) as u32).collect();

    // ---- forward
    let mut x = vec![T::zero(); n * d];
    k::embed_fwd(w.emb.wte, w.emb.wpe, s.inputs, &positions, &mut x);
    ws.acts.resize_with(w.blocks.len(), BlockActs::default);
    for ((bw, wt), a) in w.blocks.iter().zip(transposed).zip(ws.acts.iter_mut()) {
        let mut x_out = std::mem::take(&mut a.x_in);
        block_forward(dims, bw, wt, &x, a, sized(&mut x_out, n * d), &mut ws.pre);
        a.x_in = std::mem::replace(&mut x, x_out);
    }
    let loss = head_forward(s, w, &x, &mut ws.head);

    // ---- backward
    let dx = sized(&mut ws.dx, n * d);
    head_backward(dims, w, &mut g, &x, &mut ws.head, dx);
    for ((bw, bg), a) in w.blocks.iter().zip(&mut g.blocks).zip(&ws.acts).rev() {
        block_backward(dims, bw, bg, a, dx, &mut ws.scratch);
    }
    k::embed_bwd(dx, s.inputs, &positions, g.emb.wte, g.emb.wpe);
    loss
}

/// One block forward: `x_out = x + attn(ln_1(x))`, then `+ mlp(ln_2(·))`,
/// keeping in `a` what [`block_backward`] needs. `wt` holds the matrices
/// transposed.
///
/// A block of whole sequences at a time goes through the whole layer: each
/// op reads what the op before wrote while it is still in cache, where a
/// pass over the whole slice read it back from memory.
fn block_forward<T: Real>(
    dims: Dims,
    w: &Block<&[T]>,
    wt: &Block<Vec<T>>,
    x: &[T],
    a: &mut BlockActs<T>,
    x_out: &mut [T],
    pre: &mut Vec<T>,
) {
    let Dims { b, t, d, h, ff, .. } = dims;
    let n = dims.n();
    let eps = LN_EPS;
    let ln1 = sized(&mut a.ln1, n * d);
    let ln1_stats = sized(&mut a.ln1_stats, 2 * n);
    let qkv = sized(&mut a.qkv, n * 3 * d);
    let att = sized(&mut a.att, n * d);
    let probs = sized(&mut a.probs, b * h * t * t);
    let x_mid = sized(&mut a.x_mid, n * d);
    let ln2 = sized(&mut a.ln2, n * d);
    let ln2_stats = sized(&mut a.ln2_stats, 2 * n);
    let act = sized(&mut a.act, n * ff);
    let act_deriv = sized(&mut a.act_deriv, n * ff);
    let sb = seqs_per_block(t, ff);
    let pre = sized(pre, sb * t * ff);
    for s0 in (0..b).step_by(sb) {
        let nb = sb.min(b - s0);
        let r = |w: usize| s0 * t * w..(s0 + nb) * t * w;
        let ln1 = &mut ln1[r(d)];
        k::ln_fwd(
            &x[r(d)],
            w.ln_1_w,
            w.ln_1_b,
            eps,
            ln1,
            Some(&mut ln1_stats[r(2)]),
        );
        let qkv = &mut qkv[r(3 * d)];
        k::xw(ln1, &wt.qkv_w, 3 * d, qkv, false);
        k::add_bias_rows(qkv, w.qkv_b);
        let att = &mut att[r(d)];
        let hb = Heads {
            b: nb,
            ..dims.heads()
        };
        k::attn_fwd(hb, qkv, att, Some(&mut probs[r(h * t)]));
        let x_mid = &mut x_mid[r(d)];
        k::xw(att, &wt.proj_w, d, x_mid, false);
        k::add_residual_rows(x_mid, &x[r(d)], w.proj_b);
        let ln2 = &mut ln2[r(d)];
        k::ln_fwd(
            x_mid,
            w.ln_2_w,
            w.ln_2_b,
            eps,
            ln2,
            Some(&mut ln2_stats[r(2)]),
        );
        // The pre-activation is only needed for the GELU right after.
        let pre = &mut pre[..nb * t * ff];
        k::xw(ln2, &wt.fc_w, ff, pre, false);
        k::add_bias_rows(pre, w.fc_b);
        let act = &mut act[r(ff)];
        k::gelu_fwd(pre, act, Some(&mut act_deriv[r(ff)]));
        let x_out = &mut x_out[r(d)];
        k::xw(act, &wt.mlp_proj_w, d, x_out, false);
        k::add_residual_rows(x_out, x_mid, w.mlp_proj_b);
    }
}

/// The final LayerNorm, the tied head and the loss, keeping the normalized
/// stream and the logits' gradient for [`head_backward`].
fn head_forward<T: Real>(s: &Slice, w: &Params<&[T]>, x: &[T], hb: &mut HeadBuffers<T>) -> f64 {
    let (n, d, v) = (s.dims.n(), s.dims.d, s.dims.vocab);
    let hf = sized(&mut hb.hf, n * d);
    let hf_stats = sized(&mut hb.hf_stats, 2 * n);
    k::ln_fwd(x, w.ln_f.ln_f_w, w.ln_f.ln_f_b, LN_EPS, hf, Some(hf_stats));
    let logits = sized(&mut hb.logits, n * v);
    k::xwt(hf, w.emb.wte, v, logits, false);
    let dlogits = sized(&mut hb.dlogits, n * v);
    k::cross_entropy(logits, v, s.targets, s.weights, s.denom, 1.0, Some(dlogits))
}

/// Backward of [`head_forward`]: writes `d(final stream)` into `dx` and
/// the head's and final norm's gradients into `g`.
fn head_backward<T: Real>(
    dims: Dims,
    w: &Params<&[T]>,
    g: &mut Params<&mut [T]>,
    x: &[T],
    hb: &mut HeadBuffers<T>,
    dx: &mut [T],
) {
    let (n, d, v) = (dims.n(), dims.d, dims.vocab);
    // Tied head: dhf = dlogits · wte, dwte = dlogitsᵀ hf.
    let dhf = sized(&mut hb.dhf, n * d);
    k::linear_bwd(
        &hb.hf,
        w.emb.wte,
        &hb.dlogits,
        v,
        &mut *dhf,
        g.emb.wte,
        None,
    );
    // The final LayerNorm turns d(hf) into d(x), added to zeros.
    dx.fill(T::zero());
    let (gw, gb) = (&mut *g.ln_f.ln_f_w, &mut *g.ln_f.ln_f_b);
    k::ln_bwd(
        x,
        w.ln_f.ln_f_w,
        dhf,
        LN_EPS,
        Some(&hb.hf_stats),
        dx,
        gw,
        gb,
    );
}

/// Backward of [`block_forward`]: `dx` holds d(block output) and becomes
/// d(block input); the block's gradients go to `g`.
fn block_backward<T: Real>(
    dims: Dims,
    w: &Block<&[T]>,
    g: &mut Block<&mut [T]>,
    a: &BlockActs<T>,
    dx: &mut [T],
    s: &mut Scratch<T>,
) {
    let Dims { d, ff, .. } = dims;
    let n = dims.n();
    let eps = LN_EPS;
    let scratch_d = sized(&mut s.d, n * d);
    let scratch_ff = sized(&mut s.ff, n * ff);
    let dqkv = sized(&mut s.dqkv, n * 3 * d);
    // x_out = x_mid + act·W_mpᵀ + b: dx flows to x_mid unchanged.
    k::linear_bwd(
        &a.act,
        w.mlp_proj_w,
        dx,
        d,
        &mut *scratch_ff,
        g.mlp_proj_w,
        Some(&mut *g.mlp_proj_b),
    );
    // Through the GELU, in place: d(pre) = d(act) ∘ gelu'(pre).
    let dpre = &mut *scratch_ff;
    for (o, &dv) in dpre.iter_mut().zip(&a.act_deriv) {
        *o *= dv;
    }
    k::linear_bwd(
        &a.ln2,
        w.fc_w,
        dpre,
        ff,
        &mut *scratch_d,
        g.fc_w,
        Some(&mut *g.fc_b),
    );
    // dx (now d(x_mid)) += LayerNorm backward of d(ln2).
    k::ln_bwd(
        &a.x_mid,
        w.ln_2_w,
        scratch_d,
        eps,
        Some(&a.ln2_stats),
        dx,
        g.ln_2_w,
        g.ln_2_b,
    );
    // x_mid = x_in + att·W_projᵀ + b.
    k::linear_bwd(
        &a.att,
        w.proj_w,
        dx,
        d,
        &mut *scratch_d,
        g.proj_w,
        Some(&mut *g.proj_b),
    );
    k::attn_bwd(dims.heads(), &a.qkv, scratch_d, Some(&a.probs), dqkv);
    k::linear_bwd(
        &a.ln1,
        w.qkv_w,
        dqkv,
        3 * d,
        &mut *scratch_d,
        g.qkv_w,
        Some(&mut *g.qkv_b),
    );
    k::ln_bwd(
        &a.x_in,
        w.ln_1_w,
        scratch_d,
        eps,
        Some(&a.ln1_stats),
        dx,
        g.ln_1_w,
        g.ln_1_b,
    );
}

/// Sequences per block of the forward: about 256 KB of the hidden layer's
/// activations (`t · ff` floats per sequence), at least one sequence. The
/// unit tests' small models get blocks of a few sequences, so that they run
/// several blocks and a partial one.
fn seqs_per_block(t: usize, ff: usize) -> usize {
    const FLOATS: usize = if cfg!(test) { 1000 } else { 64 * 1024 };
    (FLOATS / (t * ff).max(1)).max(1)
}

/// `v` with `n` elements, as a slice: what it held before (the previous
/// step's values, or zeros where it grew). Callers overwrite it whole or
/// clear it.
fn sized<T: Real>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    v.resize(n, T::zero());
    v
}

/// The head's buffers: final norm output and statistics, logits, their
/// gradient and d(final norm output).
#[derive(Default)]
struct HeadBuffers<T> {
    hf: Vec<T>,
    hf_stats: Vec<T>,
    logits: Vec<T>,
    dlogits: Vec<T>,
    dhf: Vec<T>,
}

/// The backward's scratch, shared by the blocks in turn.
#[derive(Default)]
struct Scratch<T> {
    d: Vec<T>,
    ff: Vec<T>,
    dqkv: Vec<T>,
}

/// One slice's activations and scratch, kept across steps so that a step
/// neither allocates nor zeroes them. Every buffer is written whole before it
/// is read, except `dx`, which is cleared.
#[derive(Default)]
pub(crate) struct SliceBuffers<T> {
    acts: Vec<BlockActs<T>>,
    /// The MLP's pre-activation of one forward block of sequences.
    pre: Vec<T>,
    head: HeadBuffers<T>,
    dx: Vec<T>,
    scratch: Scratch<T>,
}

/// One float type's buffers: the forward's transposed weights and every
/// slice's [`SliceBuffers`].
#[derive(Default)]
pub(crate) struct TypedBuffers<T> {
    transposed: Vec<Block<Vec<T>>>,
    slices: Vec<SliceBuffers<T>>,
}

/// A trainer's buffers, reused across its steps; a model trains in one
/// float type, so one of the two stays empty.
#[derive(Default)]
pub struct StepBuffers {
    f32: TypedBuffers<f32>,
    f64: TypedBuffers<f64>,
}

/// The float types the fast training step runs in.
pub(crate) trait Buffered: Real {
    fn pick(b: &mut StepBuffers) -> &mut TypedBuffers<Self>;
}

impl Buffered for f32 {
    fn pick(b: &mut StepBuffers) -> &mut TypedBuffers<f32> {
        &mut b.f32
    }
}

impl Buffered for f64 {
    fn pick(b: &mut StepBuffers) -> &mut TypedBuffers<f64> {
        &mut b.f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Device, ModelConfig, TrainConfig, Trainer};

    fn check(dtype: DType, masked: bool, tol: f64) {
        // A context above the attention's causal block of 16, so the blocked
        // products are covered; five sequences, so the forward's blocks of
        // two sequences (see `seqs_per_block`) come several to a slice, the
        // last one partial, with one thread or two.
        let cfg = ModelConfig {
            vocab: 13,
            context: 20,
            n_layer: 2,
            d_model: 12,
            n_head: 3,
            d_ff: 20,
        };
        let tr = Trainer::with_dtype(cfg, TrainConfig::default(), &Device::Cpu, 7, dtype).unwrap();
        let seqs: Vec<Vec<u32>> = (0..5)
            .map(|r| (0..20).map(|i| ((i * 5 + r * 3) % 13) as u32).collect())
            .collect();
        let masks: Vec<Vec<f32>> = (0..5)
            .map(|r| (0..19).map(|i| ((i + r) % 3 != 0) as u8 as f32).collect())
            .collect();
        let batch = Batch::from_sequences(&seqs, masked.then_some(&masks[..])).unwrap();
        let loss_t = tr.loss(&batch).unwrap();
        let want_loss = loss_t
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let want = loss_t.backward().unwrap();
        let lay = FlatLayout::of(&tr.model.params);
        let (loss, grads): (f64, Vec<f64>) = match dtype {
            DType::F32 => {
                let (l, g) =
                    loss_and_grads::<f32>(&tr.model, &batch, &mut StepBuffers::default()).unwrap();
                (l, g.iter().map(|&x| x as f64).collect())
            }
            _ => loss_and_grads::<f64>(&tr.model, &batch, &mut StepBuffers::default()).unwrap(),
        };
        assert!(
            (loss - want_loss).abs() < tol * want_loss.abs(),
            "loss {loss} vs {want_loss}"
        );
        for (i, p) in tr.model.params.iter().enumerate() {
            let r: Vec<f64> = want
                .get(p.var.as_tensor())
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let a = &grads[lay.range(i)];
            let scale = r.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
            let err = a
                .iter()
                .zip(&r)
                .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                err / scale < tol,
                "{}: gradient error {err:e} (scale {scale:e})",
                p.name
            );
        }
    }

    #[test]
    fn reused_buffers_give_the_same_bits_as_fresh_ones() {
        let cfg = ModelConfig {
            vocab: 13,
            context: 20,
            n_layer: 2,
            d_model: 32,
            n_head: 2,
            d_ff: 64,
        };
        let tr = Trainer::new(cfg, TrainConfig::default(), &Device::Cpu, 3).unwrap();
        let batch = |rows: usize, shift: usize| {
            let seqs: Vec<Vec<u32>> = (0..rows)
                .map(|r| {
                    (0..20)
                        .map(|i| ((i * 7 + r * 5 + shift) % 13) as u32)
                        .collect()
                })
                .collect();
            Batch::from_sequences(&seqs, None).unwrap()
        };
        // A larger batch first, then smaller ones: the buffers shrink and
        // keep the earlier values beyond and inside the new sizes.
        let (first, second, third) = (batch(6, 0), batch(4, 1), batch(3, 2));
        let mut reused = StepBuffers::default();
        loss_and_grads::<f32>(&tr.model, &first, &mut reused).unwrap();
        for b in [&second, &third] {
            let again = loss_and_grads::<f32>(&tr.model, b, &mut reused).unwrap();
            let fresh = loss_and_grads::<f32>(&tr.model, b, &mut StepBuffers::default()).unwrap();
            assert_eq!(again.0.to_bits(), fresh.0.to_bits());
            assert!(again
                .1
                .iter()
                .zip(&fresh.1)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn hand_written_backward_matches_autograd() {
        check(DType::F64, false, 1e-10);
        check(DType::F64, true, 1e-10);
        check(DType::F32, true, 1e-4);
    }
}
