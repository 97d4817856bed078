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

    /// Asserts that a slice holds `len` elements: the kernels below index
    /// raw pointers with offsets computed from these shapes.
    #[track_caller]
    fn check(&self, what: &str, got: usize, len: usize) {
        assert_eq!(got, len, "{what}: {got} elements for shapes {self:?}");
    }
}

/// Register tile of the small per-head products: `MR` rows by `NR` columns
/// (8 accumulator vectors with AVX2, 2 for a row of `B`, 1 broadcast; 4 with
/// AVX-512).
const MR: usize = 4;
const NR: usize = 16;

/// `C = A·B` for one head's small matrices (laid out as [`Operands`] says),
/// where row block `i0..i0+MR` of `C` is written in columns
/// `0..n_of(i0+MR)` only (the causal products leave the rest, which is
/// masked) and sums only `e ∈ k_of(i0, i0+MR)` (the other terms are zeros
/// of the causal mask).
///
/// gemm's packing, buffer allocation and dispatch cost more than the
/// arithmetic at these sizes (T×T with T = 64, head size 32); this keeps the
/// tile in registers and reads the operands in place.
///
/// # Safety
/// For every row block `i0..i0+mr` (`mr <= MR`, the last one shorter), with
/// `(k0, k1) = k_of(i0, i0+mr)` and `n = n_of(i0+mr)`: `A`'s elements
/// `(i, e)` and `B`'s `(e, j)` for `e ∈ k0..k1`, `j < n` must be readable and
/// `C`'s `(i, j)` writable at the strides of `ops`, `C` not overlapping `A`
/// or `B`.
#[inline(always)]
unsafe fn small_mm<T: Real>(
    m: usize,
    n_of: impl Fn(usize) -> usize,
    k_of: impl Fn(usize, usize) -> (usize, usize),
    ops: Operands<T>,
) {
    for i0 in (0..m).step_by(MR) {
        let mr = MR.min(m - i0);
        let (k0, k1) = k_of(i0, i0 + mr);
        let n = n_of(i0 + mr);
        for j0 in (0..n).step_by(NR) {
            let nr = NR.min(n - j0);
            // SAFETY: the caller guarantees this tile's rows `i0..i0+mr`,
            // inner indices `k0..k1` and columns `j0..j0+nr` are inside the
            // matrices (the function's contract).
            unsafe {
                let at = ops.at(i0, 0, j0);
                // Whole tiles get the sizes as constants, so their loops
                // unroll and vectorize. So does the narrower last column
                // tile (a head size of 12 or 20 ends in one): its width is
                // matched to a constant.
                if mr == MR && nr == NR {
                    tile::<T, NR>(MR, k0, k1, at);
                } else {
                    edge_tile(mr, nr, k0, k1, at);
                }
            }
        }
    }
}

/// [`tile`] with the width `nr` (1 to [`NR`]) as a constant.
///
/// # Safety
/// As [`tile`].
#[inline(always)]
unsafe fn edge_tile<T: Real>(mr: usize, nr: usize, k0: usize, k1: usize, o: Operands<T>) {
    // SAFETY: the contract is `tile`'s, with N = nr.
    unsafe {
        match nr {
            1 => tile::<T, 1>(mr, k0, k1, o),
            2 => tile::<T, 2>(mr, k0, k1, o),
            3 => tile::<T, 3>(mr, k0, k1, o),
            4 => tile::<T, 4>(mr, k0, k1, o),
            5 => tile::<T, 5>(mr, k0, k1, o),
            6 => tile::<T, 6>(mr, k0, k1, o),
            7 => tile::<T, 7>(mr, k0, k1, o),
            8 => tile::<T, 8>(mr, k0, k1, o),
            9 => tile::<T, 9>(mr, k0, k1, o),
            10 => tile::<T, 10>(mr, k0, k1, o),
            11 => tile::<T, 11>(mr, k0, k1, o),
            12 => tile::<T, 12>(mr, k0, k1, o),
            13 => tile::<T, 13>(mr, k0, k1, o),
            14 => tile::<T, 14>(mr, k0, k1, o),
            15 => tile::<T, 15>(mr, k0, k1, o),
            16 => tile::<T, 16>(mr, k0, k1, o),
            _ => unreachable!("edge_tile: width {nr} above NR = {NR}"),
        }
    }
}

/// An `mr × N` tile (at most [`MR`] × [`NR`]) of [`small_mm`] over inner
/// indices `k0..k1`, accumulated in registers.
///
/// A width that is not a power of two (12, the edge of a head size of 12 or
/// 28) accumulates in rows of `NR`: each row of `B` is copied into a zeroed
/// `NR`-wide buffer, so every multiply-add is a whole vector; at the width
/// itself the compiler mixes vector and scalar code, three times slower. The
/// first `N` columns see the same multiply-adds in the same order either way.
///
/// # Safety
/// `mr <= MR` and `N <= NR`; `A`'s elements `(r, e)` and `B`'s `(e, j)` for
/// `r < mr`, `e ∈ k0..k1`, `j < N` must be readable at the strides of `o`,
/// and `C`'s `(r, j)` writable, not overlapping `A` or `B`.
#[inline(always)]
unsafe fn tile<T: Real, const N: usize>(mr: usize, k0: usize, k1: usize, o: Operands<T>) {
    debug_assert!(mr <= MR && N <= NR);
    if N.is_power_of_two() {
        // SAFETY: passed on (the contract is the same).
        unsafe { tile_at::<T, N, N>(mr, k0, k1, o) }
    } else {
        // SAFETY: as above; `tile_at` reads and writes `N` columns only.
        unsafe { tile_at::<T, N, NR>(mr, k0, k1, o) }
    }
}

/// [`tile`] with `W >= N` accumulator columns, of which the first `N` are
/// read from `B` and written to `C`.
///
/// # Safety
/// As [`tile`], and `N <= W`.
#[inline(always)]
unsafe fn tile_at<T: Real, const N: usize, const W: usize>(
    mr: usize,
    k0: usize,
    k1: usize,
    o: Operands<T>,
) {
    let mut acc = [[T::zero(); W]; MR];
    let mut padded = [T::zero(); W];
    for e in k0..k1 {
        // SAFETY: row `e` of B, columns `0..N`, is readable (contract).
        let row_b = unsafe { std::slice::from_raw_parts(o.b.add(e * o.ldb), N) };
        let br: &[T] = if W == N {
            row_b
        } else {
            padded[..N].copy_from_slice(row_b);
            &padded
        };
        for (r, row) in acc.iter_mut().enumerate().take(mr) {
            // SAFETY: element `(r, e)` of A is readable (contract).
            let av = unsafe { *o.a.add(r * o.a_rs + e * o.a_cs) };
            for (x, &bv) in row.iter_mut().zip(br) {
                *x = av.mul_add(bv, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate().take(mr) {
        // SAFETY: row `r` of C, columns `0..N`, is writable and does not
        // overlap the accumulator on the stack (contract).
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), o.c.add(r * o.ldc), N) };
    }
}

/// Columns a causal row block ending at query `hi` needs: keys `0..hi`,
/// rounded up to whole register tiles (the extra entries are masked later).
#[inline(always)]
fn causal_cols(t: usize, hi: usize) -> usize {
    hi.div_ceil(NR).saturating_mul(NR).min(t)
}

/// `dst (hd × t) = srcᵀ` for a head's `(t, hd)` block with row stride `rs`.
///
/// # Safety
/// `src` must be readable at `i·rs + e` for every `i < t`, `e < hd`.
#[inline(always)]
unsafe fn transpose_head<T: Real>(src: *const T, rs: usize, t: usize, hd: usize, dst: &mut [T]) {
    assert!(dst.len() >= t * hd);
    // Writes in order, reads strided: strided loads overlap each other,
    // scattered stores would not.
    let dst = dst.as_mut_ptr();
    for e in 0..hd {
        for i in 0..t {
            // SAFETY: `src` is readable there (contract); `e·t + i < t·hd`
            // is inside `dst` (asserted above).
            unsafe { *dst.add(e * t + i) = *src.add(i * rs + e) };
        }
    }
}

/// `C (t × t) = X Yᵀ` for one head's `(t, hd)` blocks `x` and `y` (row
/// strides `x_rs`, `y_rs`), in the causal columns only (the rest is masked
/// by the caller); `yt` is scratch for `Yᵀ`.
///
/// # Safety
/// `x` and `y` must be readable at `i·x_rs + e` (`i·y_rs + e`) for every
/// `i < t`, `e < hd`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn causal_scores<T: Real>(
    t: usize,
    hd: usize,
    x: *const T,
    x_rs: usize,
    y: *const T,
    y_rs: usize,
    yt: &mut [T],
    c: &mut [T],
) {
    assert!(c.len() >= t * t && yt.len() >= t * hd);
    // SAFETY: `y` covers its block (contract); `yt` holds `t·hd` elements
    // (asserted).
    unsafe { transpose_head(y, y_rs, t, hd, yt) };
    // SAFETY: A = X (t × hd, contract), B = Yᵀ (hd × t in `yt`), C (t × t in
    // `c`, asserted); columns stop at `causal_cols(t, _) <= t`.
    unsafe {
        small_mm(
            t,
            |hi| causal_cols(t, hi),
            |_, _| (0, hd),
            Operands::new(x, x_rs, 1, yt.as_ptr(), t, c.as_mut_ptr(), t),
        )
    };
}

/// Scores `S = Q Kᵀ` of one (batch, head) into `p` (T×T), then the causal
/// softmax of `S·scale` in place (zeros above the diagonal). `kt` is scratch
/// of `T·hd` elements.
///
/// # Safety
/// `q` must point at the head's first q element of a `(T, 3d)` block
/// laid out as `(T, 3, H, hd)`.
#[inline(always)]
unsafe fn probs<T: Real>(s: &Heads, q: *const T, p: &mut [T], kt: &mut [T]) {
    let (t, d3) = (s.t, 3 * s.d());
    assert!(p.len() >= t * t);
    // SAFETY: this head's q and k columns, `d` apart, rows `3d` apart, are
    // inside the block (contract).
    unsafe { causal_scores(t, s.hd, q, d3, q.add(s.d()), d3, kt, p) };
    let scale: T = c(s.scale());
    for i in 0..t {
        let row = &mut p[i * t..(i + 1) * t];
        // Scaling by a positive number keeps the maximum (rounding is
        // monotonic), so the scaled maximum is the maximum scaled.
        let mx = max8(&row[..=i]) * scale;
        for v in row[..=i].iter_mut() {
            *v = (*v * scale - mx).exp_();
        }
        let sum = sum8(&row[..=i]);
        for v in row[..=i].iter_mut() {
            *v /= sum;
        }
        for v in row[i + 1..].iter_mut() {
            *v = T::zero();
        }
    }
}

/// Causal self-attention over `qkv (B*T, 3d)` laid out as `(B, T, 3, H, hd)`
/// into `y (B*T, d)` laid out as `(B, T, H, hd)`. With `keep`, the softmax
/// probabilities `(B, H, T, T)` are written there for the backward.
pub(crate) fn attn_fwd<T: Real>(s: Heads, qkv: &[T], y: &mut [T], keep: Option<&mut [T]>) {
    let (t, d, hd) = (s.t, s.d(), s.hd);
    s.check("attn_fwd: qkv", qkv.len(), s.b * t * 3 * d);
    s.check("attn_fwd: y", y.len(), s.b * t * d);
    if let Some(p) = &keep {
        s.check("attn_fwd: probabilities", p.len(), s.b * s.h * t * t);
    }
    let yp = SendPtr(y.as_mut_ptr());
    let one = |bh: usize, p: &mut [T], kt: &mut [T]| {
        let (bi, hi) = (bh / s.h, bh % s.h);
        simd_wide(
            #[inline(always)]
            || {
                // SAFETY: the lengths asserted above make this head's q/k/v
                // (`t` rows of `hd`, row stride 3d, from column `hi·hd`)
                // part of `qkv` and its output columns part of `y`; `p` and
                // `kt` hold `t·t` and `t·hd`; no other task writes these
                // columns of `y`.
                unsafe {
                    let q = qkv.as_ptr().add(bi * t * 3 * d + hi * hd);
                    probs(&s, q, p, kt);
                    // Y = P V over keys 0..hi of each row block.
                    let y = yp.get().add(bi * t * d + hi * hd);
                    let pv = Operands::new(p.as_ptr(), t, 1, q.add(2 * d), 3 * d, y, d);
                    small_mm(t, |_| hd, |_, hi| (0, hi), pv);
                }
            },
        )
    };
    match keep {
        Some(ps) => ps
            .par_chunks_mut(t * t)
            .enumerate()
            .for_each_init(|| vec![T::zero(); t * hd], |kt, (bh, p)| one(bh, p, kt)),
        None => (0..s.b * s.h).into_par_iter().for_each_init(
            || (vec![T::zero(); t * t], vec![T::zero(); t * hd]),
            |(p, kt), bh| one(bh, p, kt),
        ),
    }
}

/// Backward of [`attn_fwd`]: writes `dqkv` (every element) from `qkv` and
/// `dy`, using the kept probabilities when given (else recomputing them).
pub(crate) fn attn_bwd<T: Real>(s: Heads, qkv: &[T], dy: &[T], kept: Option<&[T]>, dqkv: &mut [T]) {
    let (t, d, hd) = (s.t, s.d(), s.hd);
    let d3 = 3 * d;
    s.check("attn_bwd: qkv", qkv.len(), s.b * t * d3);
    s.check("attn_bwd: dy", dy.len(), s.b * t * d);
    s.check("attn_bwd: dqkv", dqkv.len(), s.b * t * d3);
    if let Some(p) = kept {
        s.check("attn_bwd: probabilities", p.len(), s.b * s.h * t * t);
    }
    let scale: T = c(s.scale());
    // A task per batch row, its heads in turn: the task owns the row's
    // block of dqkv.
    dqkv.par_chunks_mut(t * d3).enumerate().for_each_init(
        || {
            let z = || vec![T::zero(); t * t];
            (z(), z(), vec![T::zero(); t * hd])
        },
        |(pbuf, dp, tr), (bi, dqkv_rows)| {
            let qkv_rows = &qkv[bi * t * d3..(bi + 1) * t * d3];
            let kept_rows = kept.map(|k| &k[bi * s.h * t * t..(bi + 1) * s.h * t * t]);
            // The row's q/k/v and probabilities, written in the forward,
            // are in memory by now, and so is dqkv. The heads read them with
            // strides the hardware prefetcher does not follow; one
            // sequential pass over each, which it does follow, brings them
            // into cache first.
            stream_in(qkv_rows);
            stream_in(dqkv_rows);
            if let Some(kr) = kept_rows {
                stream_in(kr);
            }
            for hi in 0..s.h {
                simd_wide(
                    #[inline(always)]
                    || {
                        // SAFETY: the lengths asserted above make this head's
                        // q/k/v and dq/dk/dv (`t` rows of `hd`, row stride
                        // 3d) part of this row's blocks of `qkv` and `dqkv`,
                        // and its dy columns part of `dy`; the scratch holds
                        // `t·t` and `t·hd`; only this task writes this row's
                        // block of `dqkv`.
                        unsafe {
                            let q = qkv_rows.as_ptr().add(hi * hd);
                            let (k, v) = (q.add(d), q.add(2 * d));
                            let dyp = dy.as_ptr().add(bi * t * d + hi * hd);
                            let dq = dqkv_rows.as_mut_ptr().add(hi * hd);
                            let (dk, dv) = (dq.add(d), dq.add(2 * d));
                            let p: &[T] = match kept_rows {
                                Some(kr) => &kr[hi * t * t..(hi + 1) * t * t],
                                None => {
                                    probs(&s, q, pbuf, tr);
                                    pbuf
                                }
                            };
                            // Query rows i only see keys j <= i: P and dS are zero
                            // above the diagonal, and every product skips those
                            // terms.
                            // dV = Pᵀ dY: key row j sums queries j..t.
                            let ops = Operands::new(p.as_ptr(), 1, t, dyp, d, dv, d3);
                            small_mm(t, |_| hd, |lo, _| (lo, t), ops);
                            // dP = dY Vᵀ over keys 0..hi.
                            causal_scores(t, hd, dyp, d, v, d3, tr, dp);
                            // dS = P ∘ (dP - rowsum(P ∘ dP)) · scale, zero above
                            // the diagonal.
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
                            // dQ = dS K over keys 0..hi; dK = dSᵀ Q over queries
                            // j..t.
                            let ds = dp.as_ptr();
                            let ops = Operands::new(ds, t, 1, k, d3, dq, d3);
                            small_mm(t, |_| hd, |_, hi| (0, hi), ops);
                            let ops = Operands::new(ds, 1, t, q, d3, dk, d3);
                            small_mm(t, |_| hd, |lo, _| (lo, t), ops);
                        }
                    },
                )
            }
        },
    );
}

/// Decoding attention: `qkv (B*Tq, 3d)` holds the new tokens; `kc`, `vc` are
/// `(B, H, cap, hd)` caches that already hold positions `0..past+Tq`. Query `i`
/// of row `r` sees positions `pad[r]..=past+i`; a query with nothing visible
/// (left padding) gets zeros, which only padding positions ever read.
pub(crate) fn cached_attn<T: Real>(
    s: Heads,
    qkv: &[T],
    kv: KvView<'_, T>,
    pad: &[usize],
    y: &mut [T],
) {
    let KvView {
        k: kc,
        v: vc,
        past,
        cap,
    } = kv;
    let (tq, d) = (s.t, s.d());
    s.check("cached_attn: qkv", qkv.len(), s.b * tq * 3 * d);
    s.check("cached_attn: k cache", kc.len(), s.b * cap * d);
    s.check("cached_attn: v cache", vc.len(), s.b * cap * d);
    s.check("cached_attn: y", y.len(), s.b * tq * d);
    assert!(
        past + tq <= cap,
        "cached_attn: {past} + {tq} positions exceed the cache ({cap})"
    );
    assert_eq!(pad.len(), s.b, "cached_attn: one padding length per row");
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
                let args = CachedHead {
                    s,
                    qkv,
                    kv,
                    lo: pad[bi],
                    bi,
                    hi,
                };
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 and FMA (`has_avx2`); `y`
                    // holds B·Tq·d elements (asserted above) and only this
                    // task writes head `hi` of row `bi`.
                    unsafe { cached_head_avx2(args, sc, yp) };
                    return;
                }
                let _ = avx2;
                // SAFETY: `y` holds B·Tq·d elements (asserted above) and only
                // this task writes head `hi` of row `bi`.
                unsafe { cached_head(args, sc, yp) };
            },
        );
}

/// A layer's KV cache as decoding attention reads it: `(B, H, cap, hd)`
/// buffers holding positions `0..past` before this call's.
#[derive(Clone, Copy)]
pub(crate) struct KvView<'a, T> {
    pub k: &'a [T],
    pub v: &'a [T],
    pub past: usize,
    pub cap: usize,
}

/// What one (row, head) of [`cached_attn`] reads.
#[derive(Clone, Copy)]
pub(crate) struct CachedHead<'a, T> {
    s: Heads,
    qkv: &'a [T],
    kv: KvView<'a, T>,
    /// The row's first visible position (its left padding).
    lo: usize,
    /// Row and head.
    bi: usize,
    hi: usize,
}

/// [`cached_head`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA, and [`cached_head`]'s contract holds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn cached_head_avx2<T: Real>(a: CachedHead<'_, T>, sc: &mut [T], y: SendPtr<T>) {
    // SAFETY: passed on from the caller.
    unsafe { cached_head(a, sc, y) }
}

/// One (row, head) of [`cached_attn`] into `y (B*Tq, d)`.
///
/// # Safety
/// `bi < B` and `hi < H`; `y` must hold `B*Tq*d` elements, and no one else
/// may touch this (row, head)'s outputs meanwhile.
#[inline(always)]
pub(crate) unsafe fn cached_head<T: Real>(a: CachedHead<'_, T>, sc: &mut [T], y: SendPtr<T>) {
    let CachedHead {
        s,
        qkv,
        kv:
            KvView {
                k: kc,
                v: vc,
                past,
                cap,
            },
        lo,
        bi,
        hi,
    } = a;
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
            let k = &kc[((bi * s.h + hi) * cap + j) * hd..][..hd];
            let v = dot(q, k) * scale;
            sc[j] = v;
            mx = Float::max(mx, v);
        }
        for v in sc[lo..end].iter_mut() {
            *v = (*v - mx).exp_();
        }
        let sum = sum8(&sc[lo..end]);
        // SAFETY: `(bi·Tq + i)·d + hi·hd + hd <= B·Tq·d` for `bi < B`,
        // `i < Tq`, `hi < H`, and nothing else touches these `hd` outputs
        // (contract).
        let yr =
            unsafe { std::slice::from_raw_parts_mut(y.get().add((bi * tq + i) * d + hi * hd), hd) };
        for j in lo..end {
            let pj = sc[j] / sum;
            let v = &vc[((bi * s.h + hi) * cap + j) * hd..][..hd];
            for e in 0..hd {
                yr[e] += pj * v[e];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A width that is not a power of two accumulates in full-width rows:
    /// the columns it writes must hold the bits of the plain-width tile,
    /// and the columns past it must stay untouched.
    #[test]
    fn padded_tiles_keep_the_bits_of_the_plain_width() {
        let (k, lda, ldb, ldc) = (37, 40, 19, 21);
        let a: Vec<f32> = (0..MR * lda).map(|i| (i % 23) as f32 / 9.0 - 1.1).collect();
        let b: Vec<f32> = (0..k * ldb).map(|i| (i % 31) as f32 / 13.0 - 0.7).collect();
        let run = |padded: bool, mr: usize| {
            let mut c = vec![7f32; MR * ldc];
            let o = Operands::new(a.as_ptr(), lda, 1, b.as_ptr(), ldb, c.as_mut_ptr(), ldc);
            // SAFETY: A holds MR rows of `lda >= k` elements, B `k` rows of
            // `ldb >= 12` and C MR rows of `ldc >= NR`; `mr <= MR`.
            unsafe {
                if padded {
                    tile::<f32, 12>(mr, 0, k, o)
                } else {
                    tile_at::<f32, 12, 12>(mr, 0, k, o)
                }
            };
            c
        };
        for mr in [1, 3, MR] {
            let (padded, plain) = (run(true, mr), run(false, mr));
            for (i, (x, y)) in padded.iter().zip(&plain).enumerate() {
                assert_eq!(x.to_bits(), y.to_bits(), "rows {mr}, element {i}");
                if i % ldc >= 12 || i / ldc >= mr {
                    assert_eq!(*x, 7.0, "rows {mr}: element {i} was written");
                }
            }
        }
    }
}
