//! Causal attention: training (forward, backward) and decoding over a KV cache.

use super::*;

// ---------------------------------------------------------------- attention

/// Shapes of one attention call: `t` positions per row (queries).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    pub(crate) b: usize,
    pub(crate) t: usize,
    pub(crate) h: usize,
    pub(crate) hd: usize,
}

impl Heads {
    pub(crate) fn d(&self) -> usize {
        self.h * self.hd
    }
    pub(crate) fn scale(&self) -> f64 {
        1.0 / (self.hd as f64).sqrt()
    }
}

/// Query rows per block of the causal products: each block computes only
/// up to its last query's key, which skips about 3/8 of the score and
/// gradient work at a context of 64 (more blocks: more, smaller gemm calls).
const CAUSAL_BLOCK: usize = 16;

/// Row blocks `(lo, hi)` of a `t × t` causal matrix.
fn causal_blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t)
        .step_by(CAUSAL_BLOCK)
        .map(move |lo| (lo, (lo + CAUSAL_BLOCK).min(t)))
}

/// Scores `S = Q Kᵀ` of one (batch, head) into `p` (T×T), then the causal
/// softmax of `S·scale` in place (zeros above the diagonal).
///
/// # Safety
/// `q` must point at the head's first q element of a `(T, 3d)` block.
pub(crate) unsafe fn probs<T: Real>(s: &Heads, q: *const T, p: &mut [T]) {
    let (t, d3) = (s.t, 3 * s.d());
    let k = q.add(s.d());
    // Keys past a block's last query are masked: not computed (the softmax
    // below zeroes them).
    for (lo, hi) in causal_blocks(t) {
        mm(
            hi - lo,
            hi,
            s.hd,
            p.as_mut_ptr().add(lo * t),
            t,
            1,
            false,
            q.add(lo * d3),
            d3,
            1,
            k,
            1,
            d3,
            gemm::Parallelism::None,
        );
    }
    let scale: T = c(s.scale());
    simd(
        #[inline(always)]
        || {
            for i in 0..t {
                let row = &mut p[i * t..(i + 1) * t];
                let mut mx = T::neg_infinity();
                for v in row[..=i].iter_mut() {
                    *v *= scale;
                    mx = Float::max(mx, *v);
                }
                for v in row[..=i].iter_mut() {
                    *v = (*v - mx).exp_();
                }
                let sum = sum8(&row[..=i]);
                for v in row[..=i].iter_mut() {
                    *v /= sum;
                }
                for v in row[i + 1..].iter_mut() {
                    *v = T::zero();
                }
            }
        },
    )
}

/// Causal self-attention over `qkv (B*T, 3d)` laid out as `(B, T, 3, H, hd)`
/// into `y (B*T, d)` laid out as `(B, T, H, hd)`. With `keep`, the softmax
/// probabilities `(B, H, T, T)` are written there for the backward.
pub(crate) fn attn_fwd<T: Real>(s: Heads, qkv: &[T], y: &mut [T], keep: Option<&mut [T]>) {
    let (t, d) = (s.t, s.d());
    let yp = SendPtr(y.as_mut_ptr());
    let one = |bh: usize, p: &mut [T]| {
        let (bi, hi) = (bh / s.h, bh % s.h);
        // SAFETY: q/k/v of this head inside qkv; y columns of this head only.
        unsafe {
            let q = qkv.as_ptr().add(bi * t * 3 * d + hi * s.hd);
            probs(&s, q, p);
            let v = q.add(2 * d);
            let dst = yp.get().add(bi * t * d + hi * s.hd);
            // Y = P V; a block's probabilities past its last query are zero.
            for (lo, end) in causal_blocks(t) {
                mm(
                    end - lo,
                    s.hd,
                    end,
                    dst.add(lo * d),
                    d,
                    1,
                    false,
                    p.as_ptr().add(lo * t),
                    t,
                    1,
                    v,
                    3 * d,
                    1,
                    gemm::Parallelism::None,
                );
            }
        }
    };
    match keep {
        Some(ps) => ps
            .par_chunks_mut(t * t)
            .enumerate()
            .for_each(|(bh, p)| one(bh, p)),
        None => (0..s.b * s.h)
            .into_par_iter()
            .for_each_init(|| vec![T::zero(); t * t], |p, bh| one(bh, p)),
    }
}

/// Backward of [`attn_fwd`]: writes `dqkv` (every element) from `qkv` and
/// `dy`, using the kept probabilities when given (else recomputing them).
pub(crate) fn attn_bwd<T: Real>(s: Heads, qkv: &[T], dy: &[T], kept: Option<&[T]>, dqkv: &mut [T]) {
    let (t, d, hd) = (s.t, s.d(), s.hd);
    let dp_ = SendPtr(dqkv.as_mut_ptr());
    let scale: T = c(s.scale());
    let kept = kept.map(|k| SendPtr(k.as_ptr() as *mut T));
    (0..s.b * s.h).into_par_iter().for_each_init(
        || (vec![T::zero(); t * t], vec![T::zero(); t * t]),
        |(pbuf, dp), bh| {
            let (bi, hi) = (bh / s.h, bh % s.h);
            // SAFETY: reads inside qkv/dy/kept; writes only this head's
            // columns of this row block of dqkv.
            unsafe {
                let base = bi * t * 3 * d + hi * hd;
                let q = qkv.as_ptr().add(base);
                let k = q.add(d);
                let v = q.add(2 * d);
                let dyp = dy.as_ptr().add(bi * t * d + hi * hd);
                let dq = dp_.get().add(base);
                let dk = dq.add(d);
                let dv = dq.add(2 * d);
                let p: &[T] = match kept {
                    Some(kp) => std::slice::from_raw_parts(kp.get().add(bh * t * t), t * t),
                    None => {
                        probs(&s, q, pbuf);
                        pbuf
                    }
                };
                let none = gemm::Parallelism::None;
                // Every product skips the zero blocks above the diagonal of
                // P and dS: query rows i only see keys j <= i.
                for (lo, hi) in causal_blocks(t) {
                    // dV[lo..hi] = Pᵀ dY over queries lo..t.
                    mm(
                        hi - lo,
                        hd,
                        t - lo,
                        dv.add(lo * 3 * d),
                        3 * d,
                        1,
                        false,
                        p.as_ptr().add(lo * t + lo),
                        1,
                        t,
                        dyp.add(lo * d),
                        d,
                        1,
                        none,
                    );
                    // dP[lo..hi] = dY Vᵀ over keys 0..hi.
                    mm(
                        hi - lo,
                        hi,
                        hd,
                        dp.as_mut_ptr().add(lo * t),
                        t,
                        1,
                        false,
                        dyp.add(lo * d),
                        d,
                        1,
                        v,
                        1,
                        3 * d,
                        none,
                    );
                }
                // dS = P ∘ (dP - rowsum(P ∘ dP)) · scale (zero above the diagonal).
                simd(
                    #[inline(always)]
                    || {
                        for i in 0..t {
                            let pr = &p[i * t..=i * t + i];
                            let dr = &mut dp[i * t..(i + 1) * t];
                            let sum = dot(pr, &dr[..=i]);
                            for (dv, &pv) in dr[..=i].iter_mut().zip(pr) {
                                *dv = pv * (*dv - sum) * scale;
                            }
                            for v in dr[i + 1..].iter_mut() {
                                *v = T::zero();
                            }
                        }
                    },
                );
                for (lo, hi) in causal_blocks(t) {
                    // dQ[lo..hi] = dS K over keys 0..hi.
                    mm(
                        hi - lo,
                        hd,
                        hi,
                        dq.add(lo * 3 * d),
                        3 * d,
                        1,
                        false,
                        dp.as_ptr().add(lo * t),
                        t,
                        1,
                        k,
                        3 * d,
                        1,
                        none,
                    );
                    // dK[lo..hi] = dSᵀ Q over queries lo..t.
                    mm(
                        hi - lo,
                        hd,
                        t - lo,
                        dk.add(lo * 3 * d),
                        3 * d,
                        1,
                        false,
                        dp.as_ptr().add(lo * t + lo),
                        1,
                        t,
                        q.add(lo * 3 * d),
                        3 * d,
                        1,
                        none,
                    );
                }
            }
        },
    );
}

/// Decoding attention: `qkv (B*Tq, 3d)` holds the new tokens; `kc`, `vc` are
/// `(B, cap, d)` caches that already hold positions `0..past+Tq`. Query `i`
/// of row `r` sees positions `pad[r]..=past+i`; a query with nothing visible
/// (left padding) gets zeros, which only padding positions ever read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cached_attn<T: Real>(
    s: Heads,
    qkv: &[T],
    kc: &[T],
    vc: &[T],
    past: usize,
    cap: usize,
    pad: &[usize],
    y: &mut [T],
) {
    let (tq, _d) = (s.t, s.d());
    let yp = SendPtr(y.as_mut_ptr());
    // Group heads so a task does at least ~32k multiply-adds.
    let per_head = tq * (past + tq) * s.hd * 2;
    let min_len = (32 * 1024 / per_head.max(1)).max(1);
    let avx2 = has_avx2();
    (0..s.b * s.h)
        .into_par_iter()
        .with_min_len(min_len)
        .for_each_init(
            || vec![T::zero(); past + tq],
            |sc, bh| {
                let (bi, hi) = (bh / s.h, bh % s.h);
                let args = (s, qkv, kc, vc, past, cap, pad[bi], bi, hi);
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 and FMA.
                    unsafe { cached_head_avx2(args, sc, yp) };
                    return;
                }
                let _ = avx2;
                // SAFETY: as above.
                unsafe { cached_head(args, sc, yp) };
            },
        );
}

type CachedArgs<'a, T> = (
    Heads,
    &'a [T],
    &'a [T],
    &'a [T],
    usize,
    usize,
    usize,
    usize,
    usize,
);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn cached_head_avx2<T: Real>(a: CachedArgs<'_, T>, sc: &mut [T], y: SendPtr<T>) {
    cached_head(a, sc, y)
}

/// One (row, head) of [`cached_attn`] into `y (B*Tq, d)`.
///
/// # Safety
/// `y` must hold `B*Tq*d` elements, and no one else may touch this (row,
/// head)'s outputs meanwhile.
#[inline(always)]
pub(crate) unsafe fn cached_head<T: Real>(a: CachedArgs<'_, T>, sc: &mut [T], y: SendPtr<T>) {
    let (s, qkv, kc, vc, past, cap, lo, bi, hi) = a;
    let (tq, d, hd) = (s.t, s.d(), s.hd);
    let scale: T = c(s.scale());
    for i in 0..tq {
        let end = past + i + 1;
        if lo >= end {
            continue;
        }
        let q = &qkv[(bi * tq + i) * 3 * d + hi * hd..][..hd];
        let mut mx = T::neg_infinity();
        for j in lo..end {
            let k = &kc[(bi * cap + j) * d + hi * hd..][..hd];
            let v = dot(q, k) * scale;
            sc[j] = v;
            mx = Float::max(mx, v);
        }
        for v in sc[lo..end].iter_mut() {
            *v = (*v - mx).exp_();
        }
        let sum = sum8(&sc[lo..end]);
        let yr = std::slice::from_raw_parts_mut(y.get().add((bi * tq + i) * d + hi * hd), hd);
        for j in lo..end {
            let pj = sc[j] / sum;
            let v = &vc[(bi * cap + j) * d + hi * hd..][..hd];
            for e in 0..hd {
                yr[e] += pj * v[e];
            }
        }
    }
}
