//! The training step's loss and gradients on the CPU without candle's
//! autograd.
//!
//! candle's backward allocates a zero tensor and does a full add for every
//! gradient of every node, on top of the graph bookkeeping; at the ladder's
//! sizes that was a large share of a step even with fused ops. Here the
//! forward keeps the activations the backward needs in plain buffers, and the
//! backward is written out by hand (the llm.c way) on the same
//! [`crate::kernels`] the fused ops use. `model.rs`'s forward stays the
//! definition; `tests` check this path's loss and every gradient against it
//! (and the f64 finite-difference test checks that one).

use candle_core::Result;

use crate::fused::contig;
use crate::kernels::{self as k, Heads, Real};
use crate::model::{Gpt, Param, LN_EPS};
use crate::train::Batch;
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
}

// Parameter indices (see `model::param_specs`).
const WTE: usize = 0;
const WPE: usize = 1;
const LN1_W: usize = 0;
const LN1_B: usize = 1;
const QKV_W: usize = 2;
const QKV_B: usize = 3;
const PROJ_W: usize = 4;
const PROJ_B: usize = 5;
const LN2_W: usize = 6;
const LN2_B: usize = 7;
const FC_W: usize = 8;
const FC_B: usize = 9;
const MP_W: usize = 10;
const MP_B: usize = 11;
fn blk(l: usize, j: usize) -> usize {
    2 + 12 * l + j
}

/// Splits `g` into mutable views of the given parameters' gradients.
fn grads_mut<'a, T, const N: usize>(
    g: &'a mut [T],
    lay: &FlatLayout,
    idx: [usize; N],
) -> [&'a mut [T]; N] {
    let mut rest: &'a mut [T] = g;
    let mut taken = 0;
    let mut order: Vec<usize> = (0..N).collect();
    order.sort_by_key(|&i| lay.offsets[idx[i]]);
    let mut out: [Option<&'a mut [T]>; N] = std::array::from_fn(|_| None);
    for i in order {
        let r = lay.range(idx[i]);
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(r.start - taken);
        let (mine, tail) = tail.split_at_mut(r.len());
        out[i] = Some(mine);
        rest = tail;
        taken = r.end;
    }
    out.map(|o| o.expect("every index taken"))
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
pub(crate) fn loss_and_grads<T: Real>(
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
    let params: Vec<&[T]> = guards
        .iter()
        .map(|(s, l)| match &**s {
            candle_core::Storage::Cpu(cs) => contig::<T>(cs, l),
            _ => candle_core::bail!("CPU training needs CPU tensors"),
        })
        .collect::<Result<_>>()?;
    let weights: Option<Vec<f64>> = batch
        .mask
        .as_ref()
        .map(|m| m.iter().map(|&x| x as f64).collect());
    let denom = weights.as_ref().map_or((b * t) as f64, |w| w.iter().sum());
    let parts = rayon::current_num_threads().clamp(1, b);
    let bounds: Vec<(usize, usize)> = (0..parts)
        .map(|p| (p * b / parts, (p + 1) * b / parts))
        .collect();
    let (fwd_wt, mut slices) = bufs.parts::<T>(parts);
    // The forward's products read each weight transposed, `(in, out)`, so
    // the AVX-512 tiles take them without packing (gemm had packed them at
    // every call); made once per step for all slices.
    fwd_wt.resize_with(4 * cfg.n_layer, Vec::new);
    fwd_wt.par_iter_mut().enumerate().for_each(|(i, wt)| {
        let (l, j) = (i / 4, FWD_WEIGHTS[i % 4]);
        // Weights are stored `(out, in)`.
        let (w, o) = (params[blk(l, j)], gpt.params[blk(l, j)].var.dims()[0]);
        k::transpose(w, o, sized(wt, w.len()));
    });
    let fwd_wt = &*fwd_wt;
    let results: Vec<(f64, Vec<T>)> = bounds
        .par_iter()
        .zip(slices.par_iter_mut())
        .map(|(&(lo, hi), ws)| {
            let rows = lo * t..hi * t;
            let run = || {
                slice_loss_and_grads(
                    gpt,
                    &lay,
                    &params,
                    fwd_wt,
                    &batch.inputs[rows.clone()],
                    &batch.targets[rows.clone()],
                    weights.as_ref().map(|w| &w[rows]),
                    hi - lo,
                    t,
                    denom,
                    ws,
                )
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

/// One slice of `b` sequences: its share of the loss (`Σ wᵢ·ℓᵢ / denom`) and
/// of every gradient.
#[allow(clippy::too_many_arguments)]
fn slice_loss_and_grads<T: Real>(
    gpt: &Gpt,
    lay: &FlatLayout,
    params: &[&[T]],
    fwd_wt: &[Vec<T>],
    inputs: &[u32],
    targets: &[u32],
    weights: Option<&[f64]>,
    b: usize,
    t: usize,
    denom: f64,
    ws: &mut SliceBuffers<T>,
) -> (f64, Vec<T>) {
    let SliceBuffers {
        acts,
        pre,
        hf,
        hf_stats,
        logits,
        dlogits,
        dhf,
        dx,
        scratch_d,
        scratch_ff,
        dqkv,
    } = ws;
    let cfg = &gpt.config;
    let n = b * t;
    let (d, h, ff, v, nl) = (cfg.d_model, cfg.n_head, cfg.d_ff, cfg.vocab, cfg.n_layer);
    let heads = Heads { b, t, h, hd: d / h };
    let w = |i: usize| params[i];
    let eps = LN_EPS as f64;
    let positions: Vec<u32> = (0..n).map(|r| (r % t) as u32).collect();

    // ---- forward
    let mut x = vec![T::zero(); n * d];
    k::embed_fwd(w(WTE), w(WPE), inputs, &positions, &mut x);
    acts.resize_with(nl, BlockActs::default);
    let sb = seqs_per_block(t, ff);
    for (l, a) in acts.iter_mut().enumerate() {
        let p = |j| w(blk(l, j));
        let [qkv_wt, proj_wt, fc_wt, mp_wt] = [0, 1, 2, 3].map(|j| &fwd_wt[4 * l + j][..]);
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
        let mut x_out = std::mem::take(&mut a.x_in);
        let x_next = sized(&mut x_out, n * d);
        let pre = sized(pre, sb * t * ff);
        // A block of whole sequences at a time through the whole layer:
        // each op reads what the op before wrote while it is still in cache,
        // where a pass over the whole slice read it back from memory.
        for s0 in (0..b).step_by(sb) {
            let nb = sb.min(b - s0);
            let r = |w: usize| s0 * t * w..(s0 + nb) * t * w;
            let ln1 = &mut ln1[r(d)];
            k::ln_fwd(
                &x[r(d)],
                p(LN1_W),
                p(LN1_B),
                eps,
                ln1,
                Some(&mut ln1_stats[r(2)]),
            );
            let qkv = &mut qkv[r(3 * d)];
            k::xw(ln1, qkv_wt, 3 * d, qkv, false);
            k::add_bias_rows(qkv, p(QKV_B));
            let att = &mut att[r(d)];
            let hb = Heads { b: nb, ..heads };
            k::attn_fwd(hb, qkv, att, Some(&mut probs[r(h * t)]));
            let x_mid = &mut x_mid[r(d)];
            k::xw(att, proj_wt, d, x_mid, false);
            k::add_residual_rows(x_mid, &x[r(d)], p(PROJ_B));
            let ln2 = &mut ln2[r(d)];
            k::ln_fwd(
                x_mid,
                p(LN2_W),
                p(LN2_B),
                eps,
                ln2,
                Some(&mut ln2_stats[r(2)]),
            );
            // The pre-activation is only needed for the GELU right after.
            let pre = &mut pre[..nb * t * ff];
            k::xw(ln2, fc_wt, ff, pre, false);
            k::add_bias_rows(pre, p(FC_B));
            let act = &mut act[r(ff)];
            k::gelu_fwd(pre, act, Some(&mut act_deriv[r(ff)]));
            let x_out = &mut x_next[r(d)];
            k::xw(act, mp_wt, d, x_out, false);
            k::add_residual_rows(x_out, x_mid, p(MP_B));
        }
        a.x_in = std::mem::replace(&mut x, x_out);
    }
    let (lnf_w, lnf_b) = (blk(nl, 0), blk(nl, 1));
    let hf = sized(hf, n * d);
    let hf_stats = sized(hf_stats, 2 * n);
    k::ln_fwd(&x, w(lnf_w), w(lnf_b), eps, hf, Some(hf_stats));
    let logits = sized(logits, n * v);
    k::xwt(hf, w(WTE), v, logits, false);
    let dlogits = sized(dlogits, n * v);
    let loss = k::cross_entropy(logits, v, targets, weights, denom, 1.0, Some(dlogits));

    // ---- backward
    let mut g = vec![T::zero(); lay.total];
    // Tied head: dhf = dlogits · wte, dwte = dlogitsᵀ hf.
    let dhf = sized(dhf, n * d);
    {
        let [dwte] = grads_mut(&mut g, lay, [WTE]);
        k::linear_bwd(
            hf,
            w(WTE),
            dlogits,
            v,
            Some((dhf, false)),
            dwte,
            false,
            None,
        );
    }
    // The final LayerNorm turns d(hf) into d(x), added to zeros.
    let dx = sized(dx, n * d);
    dx.fill(T::zero());
    {
        let [gw, gb] = grads_mut(&mut g, lay, [lnf_w, lnf_b]);
        k::ln_bwd(&x, w(lnf_w), dhf, eps, Some(hf_stats), dx, gw, gb);
    }
    let scratch_d = sized(scratch_d, n * d);
    let scratch_ff = sized(scratch_ff, n * ff);
    let dqkv = sized(dqkv, n * 3 * d);
    for l in (0..nl).rev() {
        let a = &acts[l];
        let p = |j| w(blk(l, j));
        // x_out = x_mid + act·W_mpᵀ + b: dx flows to x_mid unchanged.
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, MP_W), blk(l, MP_B)]);
            k::linear_bwd(
                &a.act,
                p(MP_W),
                dx,
                d,
                Some((&mut *scratch_ff, false)),
                gw,
                false,
                Some(gb),
            );
        }
        // Through the GELU, in place: d(pre) = d(act) ∘ gelu'(pre).
        let dpre = &mut *scratch_ff;
        for (o, &dv) in dpre.iter_mut().zip(&a.act_deriv) {
            *o *= dv;
        }
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, FC_W), blk(l, FC_B)]);
            k::linear_bwd(
                &a.ln2,
                p(FC_W),
                dpre,
                ff,
                Some((&mut *scratch_d, false)),
                gw,
                false,
                Some(gb),
            );
        }
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, LN2_W), blk(l, LN2_B)]);
            // dx (now d(x_mid)) += LayerNorm backward of d(ln2).
            k::ln_bwd(
                &a.x_mid,
                p(LN2_W),
                scratch_d,
                eps,
                Some(&a.ln2_stats),
                dx,
                gw,
                gb,
            );
        }
        // x_mid = x_in + att·W_projᵀ + b.
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, PROJ_W), blk(l, PROJ_B)]);
            k::linear_bwd(
                &a.att,
                p(PROJ_W),
                dx,
                d,
                Some((&mut *scratch_d, false)),
                gw,
                false,
                Some(gb),
            );
        }
        k::attn_bwd(heads, &a.qkv, scratch_d, Some(&a.probs), dqkv);
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, QKV_W), blk(l, QKV_B)]);
            k::linear_bwd(
                &a.ln1,
                p(QKV_W),
                dqkv,
                3 * d,
                Some((&mut *scratch_d, false)),
                gw,
                false,
                Some(gb),
            );
        }
        {
            let [gw, gb] = grads_mut(&mut g, lay, [blk(l, LN1_W), blk(l, LN1_B)]);
            k::ln_bwd(
                &a.x_in,
                p(LN1_W),
                scratch_d,
                eps,
                Some(&a.ln1_stats),
                dx,
                gw,
                gb,
            );
        }
    }
    {
        let [gte, gpe] = grads_mut(&mut g, lay, [WTE, WPE]);
        k::embed_bwd(dx, inputs, &positions, gte, gpe);
    }
    (loss, g)
}

/// The block weights the forward reads transposed, in the order of a
/// layer's four entries in the transposed-weight buffer.
const FWD_WEIGHTS: [usize; 4] = [QKV_W, PROJ_W, FC_W, MP_W];

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

/// One slice's activations and scratch, kept across steps so that a step
/// neither allocates nor zeroes them. Every buffer is written whole before it
/// is read, except `dx`, which is cleared.
#[derive(Default)]
pub(crate) struct SliceBuffers<T> {
    acts: Vec<BlockActs<T>>,
    pre: Vec<T>,
    hf: Vec<T>,
    hf_stats: Vec<T>,
    logits: Vec<T>,
    dlogits: Vec<T>,
    dhf: Vec<T>,
    dx: Vec<T>,
    scratch_d: Vec<T>,
    scratch_ff: Vec<T>,
    dqkv: Vec<T>,
}

/// The [`SliceBuffers`] of every slice of a trainer's steps and the
/// forward's transposed weights, for either float type.
#[derive(Default)]
pub struct StepBuffers {
    slices: Vec<Box<dyn std::any::Any + Send>>,
    fwd_wt: Option<Box<dyn std::any::Any + Send>>,
}

/// `b` as a `U`, replaced by a default `U` when it holds another type.
fn typed<U: Default + Send + 'static>(b: &mut Box<dyn std::any::Any + Send>) -> &mut U {
    if !b.is::<U>() {
        *b = Box::new(U::default());
    }
    b.downcast_mut::<U>().expect("just made")
}

impl StepBuffers {
    /// The transposed-weight buffers and the first `parts` slices' buffers.
    #[allow(clippy::type_complexity)]
    fn parts<T: Real>(&mut self, parts: usize) -> (&mut Vec<Vec<T>>, Vec<&mut SliceBuffers<T>>) {
        if self.slices.len() < parts {
            self.slices
                .resize_with(parts, || Box::new(SliceBuffers::<T>::default()));
        }
        let wt = typed(
            self.fwd_wt
                .get_or_insert_with(|| Box::new(Vec::<Vec<T>>::new())),
        );
        let slices = self
            .slices
            .iter_mut()
            .take(parts)
            .map(typed::<SliceBuffers<T>>)
            .collect();
        (wt, slices)
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
