//! CPU kernels on plain slices (f32 or f64), shared by the candle custom ops
//! of [`crate::fused`] and the autograd-free training step of
//! [`crate::cpu_train`].
//!
//! Matrices are row-major. Work is split over rayon's pool by output rows or
//! by (batch, head) pairs, and every reduction across rows sums fixed-size
//! chunks in a fixed order, so results never depend on scheduling (and, for
//! everything but gemm's own split, not on the thread count either).

use num_traits::Float;
use rayon::prelude::*;

use candle_core::WithDType;

/// The float types the kernels support.
pub trait Real: WithDType + Float + Erf + Send + Sync + 'static {}
impl Real for f32 {}
impl Real for f64 {}

#[inline(always)]
pub(crate) fn c<T: Real>(x: f64) -> T {
    <T as WithDType>::from_f64(x)
}

#[inline(always)]
pub(crate) fn f<T: Real>(x: T) -> f64 {
    <T as WithDType>::to_f64(x)
}

/// A raw pointer that rayon tasks may share; every use writes a disjoint region.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// Elements per work item of elementwise and row kernels: big enough that a
/// task is not all overhead. Fixed, so reductions over rows are
/// deterministic.
pub(crate) const ELEM_CHUNK: usize = 16 * 1024;

/// Rows per work item for rows of `d` elements.
pub(crate) fn row_chunk(d: usize) -> usize {
    (ELEM_CHUNK / d.max(1)).max(1)
}

thread_local! {
    /// Set while this thread runs one slice of a batch split over the
    /// threads: its matmuls then stay on this thread.
    static SERIAL_GEMM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's matmuls kept single-threaded.
pub(crate) fn serial_gemm<R>(f: impl FnOnce() -> R) -> R {
    let prev = SERIAL_GEMM.with(|s| s.replace(true));
    let r = f();
    SERIAL_GEMM.with(|s| s.set(prev));
    r
}

/// Lets gemm split the work over the rayon pool when it is big enough to pay.
pub(crate) fn gemm_par(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 && m * n * k >= 1 << 18 && !SERIAL_GEMM.with(|s| s.get()) {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`), strided:
/// row strides first (`*_rs`), then column strides.
///
/// # Safety
/// The pointers must cover their matrices with these strides.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn mm<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
    par: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        T::one(),
        T::one(),
        false,
        false,
        false,
        par,
    )
}

/// Dot product with eight independent accumulators (vectorizes; fixed order).
#[inline(always)]
pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::zero(); 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for i in n / 8 * 8..n {
        s += a[i] * b[i];
    }
    s
}

/// `erf` and `exp` for the elementwise kernels. f64 uses libm; f32 uses
/// branch-free polynomial versions (within a few ulp of libm's, checked by a
/// test) that the compiler can vectorize, unlike a call into libm.
/// Sum with eight independent accumulators (vectorizes; fixed order).
#[inline(always)]
pub(crate) fn sum8<T: Real>(a: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    for ca in a.chunks_exact(8) {
        for k in 0..8 {
            acc[k] += ca[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in &a[a.len() / 8 * 8..] {
        s += v;
    }
    s
}

/// `Σ (a - m)²` with eight independent accumulators.
#[inline(always)]
fn sq_dev8<T: Real>(a: &[T], m: T) -> T {
    let mut acc = [T::zero(); 8];
    for ca in a.chunks_exact(8) {
        for k in 0..8 {
            let v = ca[k] - m;
            acc[k] += v * v;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in &a[a.len() / 8 * 8..] {
        s += (v - m) * (v - m);
    }
    s
}

pub trait Erf {
    fn erf_(self) -> Self;
    fn exp_(self) -> Self;
}
impl Erf for f32 {
    #[inline(always)]
    fn erf_(self) -> f32 {
        erf_f32(self)
    }
    #[inline(always)]
    fn exp_(self) -> f32 {
        exp_f32(self)
    }
}
impl Erf for f64 {
    #[inline(always)]
    fn erf_(self) -> f64 {
        candle_core::cpu::erf::erf_f64(self)
    }
    #[inline(always)]
    fn exp_(self) -> f64 {
        self.exp()
    }
}

/// `exp` for f32 (Cephes' `expf`: range reduction by `ln 2` in two parts,
/// degree-6 polynomial, exponent bits), about 1 ulp; underflows to 0 below
/// -87.3 and saturates above 88.7.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.336_55, 88.722_83);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n through the exponent bits (n is in [-126, 128] after the clamp;
    // the lowest values go through two factors to stay normal).
    let ni = n as i32;
    let half = ni / 2;
    let s1 = f32::from_bits(((half + 127) as u32) << 23);
    let s2 = f32::from_bits(((ni - half + 127) as u32) << 23);
    let v = y * s1 * s2;
    if x <= -87.336_55 {
        0.0
    } else {
        v
    }
}

/// `erf` for f32: odd rational approximation on [-4, 4] (Eigen's
/// `generic_fast_erf_float` coefficients), ±1 beyond.
#[inline(always)]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10_f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 + -2.101_024e-6;
    let p = p * x2 + -5.692_506_4e-5;
    let p = p * x2 + -7.349_906_3e-4;
    let p = p * x2 + -2.954_6e-3;
    let p = p * x2 + -1.609_603_3e-2;
    let p = p * x;
    let q = -1.456_607_2e-5_f32;
    let q = q * x2 + -2.133_740_6e-4;
    let q = q * x2 + -1.682_827e-3;
    let q = q * x2 + -7.373_329e-3;
    let q = q * x2 + -1.426_474e-2;
    p / q
}

// ---------------------------------------------------------------- LayerNorm

#[inline(always)]
fn row_stats<T: Real>(x: &[T], inv_d: T, eps: T) -> (T, T) {
    let mean = sum8(x) * inv_d;
    let var = sq_dev8(x, mean) * inv_d;
    (mean, T::one() / (var + eps).sqrt())
}

/// `y = (x - mean) / sqrt(var + eps) * w + b` per row of `w.len()` elements.
pub(crate) fn ln_fwd<T: Real>(x: &[T], w: &[T], b: &[T], eps: f64, y: &mut [T]) {
    let d = w.len();
    let (eps, inv_d): (T, T) = (c(eps), c(1.0 / d as f64));
    let rc = row_chunk(d) * d;
    y.par_chunks_mut(rc)
        .zip(x.par_chunks(rc))
        .for_each(|(yc, xc)| {
            simd(
                #[inline(always)]
                || {
                    for (yr, xr) in yc.chunks_mut(d).zip(xc.chunks(d)) {
                        let (mean, rstd) = row_stats(xr, inv_d, eps);
                        for j in 0..d {
                            yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
                        }
                    }
                },
            )
        });
}

/// LayerNorm backward: `dx += ∂`, `dw += Σ g·x̂`, `db += Σ g` (statistics
/// recomputed from `x`).
pub(crate) fn ln_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    eps: f64,
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
) {
    let d = w.len();
    let (eps, inv_d): (T, T) = (c(eps), c(1.0 / d as f64));
    let rows = row_chunk(d);
    let n_chunks = (x.len() / d).div_ceil(rows);
    // Per-chunk partial sums of dw and db, added up in chunk order.
    let mut partial = vec![T::zero(); n_chunks * 2 * d];
    dx.par_chunks_mut(rows * d)
        .zip(x.par_chunks(rows * d))
        .zip(g.par_chunks(rows * d))
        .zip(partial.par_chunks_mut(2 * d))
        .for_each(|(((dxc, xc), gc), pc)| {
            simd(
                #[inline(always)]
                || {
                    let (pw, pb) = pc.split_at_mut(d);
                    let (mut xhat, mut gw) = (vec![T::zero(); d], vec![T::zero(); d]);
                    for ((dxr, xr), gr) in dxc.chunks_mut(d).zip(xc.chunks(d)).zip(gc.chunks(d)) {
                        let (mean, rstd) = row_stats(xr, inv_d, eps);
                        for j in 0..d {
                            xhat[j] = (xr[j] - mean) * rstd;
                            gw[j] = gr[j] * w[j];
                            pw[j] += gr[j] * xhat[j];
                            pb[j] += gr[j];
                        }
                        let (sg, sgx) = (sum8(&gw) * inv_d, dot(&gw, &xhat) * inv_d);
                        for j in 0..d {
                            dxr[j] += rstd * (gr[j] * w[j] - sg - xhat[j] * sgx);
                        }
                    }
                },
            )
        });
    for pc in partial.chunks(2 * d) {
        for (acc, &p) in dw.iter_mut().zip(&pc[..d]) {
            *acc += p;
        }
        for (acc, &p) in db.iter_mut().zip(&pc[d..]) {
            *acc += p;
        }
    }
}

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

/// Scores `S = Q Kᵀ` of one (batch, head) into `p` (T×T), then the causal
/// softmax of `S·scale` in place (zeros above the diagonal).
///
/// # Safety
/// `q` must point at the head's first q element of a `(T, 3d)` block.
unsafe fn probs<T: Real>(s: &Heads, q: *const T, p: &mut [T]) {
    let (t, d3) = (s.t, 3 * s.d());
    let k = q.add(s.d());
    mm(
        t,
        t,
        s.hd,
        p.as_mut_ptr(),
        t,
        1,
        false,
        q,
        d3,
        1,
        k,
        1,
        d3,
        gemm::Parallelism::None,
    );
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
            mm(
                t,
                s.hd,
                t,
                dst,
                d,
                1,
                false,
                p.as_ptr(),
                t,
                1,
                v,
                3 * d,
                1,
                gemm::Parallelism::None,
            );
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
                // dV = Pᵀ dY
                mm(
                    t,
                    hd,
                    t,
                    dv,
                    3 * d,
                    1,
                    false,
                    p.as_ptr(),
                    1,
                    t,
                    dyp,
                    d,
                    1,
                    none,
                );
                // dP = dY Vᵀ
                mm(
                    t,
                    t,
                    hd,
                    dp.as_mut_ptr(),
                    t,
                    1,
                    false,
                    dyp,
                    d,
                    1,
                    v,
                    1,
                    3 * d,
                    none,
                );
                // dS = P ∘ (dP - rowsum(P ∘ dP)) · scale (zero above the diagonal).
                for i in 0..t {
                    let pr = &p[i * t..=i * t + i];
                    let dr = &mut dp[i * t..(i + 1) * t];
                    let sum = dot(pr, &dr[..=i]);
                    for j in 0..=i {
                        dr[j] = pr[j] * (dr[j] - sum) * scale;
                    }
                    for v in dr[i + 1..].iter_mut() {
                        *v = T::zero();
                    }
                }
                // dQ = dS K, dK = dSᵀ Q
                mm(
                    t,
                    hd,
                    t,
                    dq,
                    3 * d,
                    1,
                    false,
                    dp.as_ptr(),
                    t,
                    1,
                    k,
                    3 * d,
                    1,
                    none,
                );
                mm(
                    t,
                    hd,
                    t,
                    dk,
                    3 * d,
                    1,
                    false,
                    dp.as_ptr(),
                    1,
                    t,
                    q,
                    3 * d,
                    1,
                    none,
                );
            }
        },
    );
}

/// Whether the AVX2+FMA variants of the loop kernels can run here. The
/// variants compile the same code with wider vectors; without fast-math the
/// compiler keeps every operation and its order, so results are bit-identical
/// either way.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for AVX2+FMA when the CPU has them (see [`has_avx2`]).
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { with_avx2(f) };
    }
    f()
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
unsafe fn cached_head_avx2<T: Real>(a: CachedArgs<'_, T>, sc: &mut [T], y: SendPtr<T>) {
    cached_head(a, sc, y)
}

/// One (row, head) of [`cached_attn`] into `y (B*Tq, d)`.
///
/// # Safety
/// `y` must hold `B*Tq*d` elements, and no one else may touch this (row,
/// head)'s outputs meanwhile.
#[inline(always)]
unsafe fn cached_head<T: Real>(a: CachedArgs<'_, T>, sc: &mut [T], y: SendPtr<T>) {
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

// ---------------------------------------------------------------- GELU

/// `y = 0.5·x·(1 + erf(x/√2))` (candle's gelu_erf expression; f32 uses
/// [`erf_f32`]),
/// and the derivative into `deriv` when given.
pub(crate) fn gelu_fwd<T: Real>(x: &[T], y: &mut [T], deriv: Option<&mut [T]>) {
    let r: T = c(std::f64::consts::FRAC_1_SQRT_2);
    let half: T = c(0.5);
    let inv_sqrt_2pi: T = c(1.0 / (2.0 * std::f64::consts::PI).sqrt());
    match deriv {
        None => y
            .par_chunks_mut(ELEM_CHUNK)
            .zip(x.par_chunks(ELEM_CHUNK))
            .for_each(|(yc, xc)| {
                simd(
                    #[inline(always)]
                    || {
                        for (y, &v) in yc.iter_mut().zip(xc) {
                            *y = ((v * r).erf_() + T::one()) * half * v;
                        }
                    },
                )
            }),
        Some(dy) => y
            .par_chunks_mut(ELEM_CHUNK)
            .zip(dy.par_chunks_mut(ELEM_CHUNK))
            .zip(x.par_chunks(ELEM_CHUNK))
            .for_each(|((yc, dc), xc)| {
                simd(
                    #[inline(always)]
                    || {
                        for ((y, d), &v) in yc.iter_mut().zip(dc).zip(xc) {
                            let e = (v * r).erf_() + T::one();
                            *y = e * half * v;
                            *d = half * e + v * (-half * v * v).exp_() * inv_sqrt_2pi;
                        }
                    },
                )
            }),
    }
}

/// `out = a ∘ b`.
pub(crate) fn mul<T: Real>(a: &[T], b: &[T], out: &mut [T]) {
    out.par_chunks_mut(ELEM_CHUNK)
        .zip(a.par_chunks(ELEM_CHUNK))
        .zip(b.par_chunks(ELEM_CHUNK))
        .for_each(|((oc, ac), bc)| {
            for ((o, &a), &b) in oc.iter_mut().zip(ac).zip(bc) {
                *o = a * b;
            }
        });
}

// ---------------------------------------------------------------- linear

/// `y (+)= x Wᵀ` for `x (n, k)`, `w (o, k)`, `y (n, o)`.
pub(crate) fn xwt<T: Real>(x: &[T], w: &[T], o: usize, y: &mut [T], accumulate: bool) {
    let k = w.len() / o;
    let n = x.len() / k;
    debug_assert_eq!(y.len(), n * o);
    // SAFETY: the slices cover the matrices with these strides.
    unsafe {
        mm(
            n,
            o,
            k,
            y.as_mut_ptr(),
            o,
            1,
            accumulate,
            x.as_ptr(),
            k,
            1,
            w.as_ptr(),
            1,
            k,
            gemm_par(n, o, k),
        )
    }
}

/// `y (+)= x Wt` for `x (n, k)`, `wt (k, o)` (a transposed weight), `y (n, o)`.
pub(crate) fn xw<T: Real>(x: &[T], wt: &[T], o: usize, y: &mut [T], accumulate: bool) {
    let k = wt.len() / o;
    let n = x.len() / k;
    debug_assert_eq!(y.len(), n * o);
    // SAFETY: the slices cover the matrices with these strides.
    unsafe {
        mm(
            n,
            o,
            k,
            y.as_mut_ptr(),
            o,
            1,
            accumulate,
            x.as_ptr(),
            k,
            1,
            wt.as_ptr(),
            o,
            1,
            gemm_par(n, o, k),
        )
    }
}

/// Linear backward: `dx (+)= g W`, `dw (+)= gᵀ x`, `db += Σ rows g` for
/// `x (n, k)`, `w (o, k)`, `g (n, o)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    o: usize,
    dx: Option<(&mut [T], bool)>,
    dw: &mut [T],
    dw_accumulate: bool,
    db: Option<&mut [T]>,
) {
    let k = w.len() / o;
    let n = x.len() / k;
    // SAFETY: the slices cover the matrices with these strides.
    unsafe {
        if let Some((dx, acc)) = dx {
            mm(
                n,
                k,
                o,
                dx.as_mut_ptr(),
                k,
                1,
                acc,
                g.as_ptr(),
                o,
                1,
                w.as_ptr(),
                k,
                1,
                gemm_par(n, k, o),
            );
        }
        mm(
            o,
            k,
            n,
            dw.as_mut_ptr(),
            k,
            1,
            dw_accumulate,
            g.as_ptr(),
            1,
            o,
            x.as_ptr(),
            k,
            1,
            gemm_par(o, k, n),
        );
    }
    if let Some(db) = db {
        colsum(g, db);
    }
}

/// `acc += Σ rows m` for `m (n, acc.len())`, rows in order.
pub(crate) fn colsum<T: Real>(m: &[T], acc: &mut [T]) {
    for row in m.chunks(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

// ---------------------------------------------------------------- embedding

/// `x[r] = wte[tokens[r]] + wpe[positions[r]]`.
pub(crate) fn embed_fwd<T: Real>(
    wte: &[T],
    wpe: &[T],
    tokens: &[u32],
    positions: &[u32],
    x: &mut [T],
) {
    let d = x.len() / tokens.len().max(1);
    for ((xr, &t), &p) in x.chunks_mut(d).zip(tokens).zip(positions) {
        let (a, b) = (&wte[t as usize * d..][..d], &wpe[p as usize * d..][..d]);
        for j in 0..d {
            xr[j] = a[j] + b[j];
        }
    }
}

/// Embedding backward: scatter-adds the rows of `g` in row order.
pub(crate) fn embed_bwd<T: Real>(
    g: &[T],
    tokens: &[u32],
    positions: &[u32],
    dwte: &mut [T],
    dwpe: &mut [T],
) {
    let d = g.len() / tokens.len().max(1);
    for ((gr, &t), &p) in g.chunks(d).zip(tokens).zip(positions) {
        for (a, &v) in dwte[t as usize * d..][..d].iter_mut().zip(gr) {
            *a += v;
        }
        for (a, &v) in dwpe[p as usize * d..][..d].iter_mut().zip(gr) {
            *a += v;
        }
    }
}

// ---------------------------------------------------------------- cross-entropy

/// Weighted mean cross-entropy of `logits (n, v)`: returns
/// `Σ wᵢ·(-log p(targetᵢ)) / denom` (w = 1 without weights) and, with
/// `dlogits`, writes `g·∂loss/∂logits` there.
pub(crate) fn cross_entropy<T: Real>(
    logits: &[T],
    v: usize,
    targets: &[u32],
    weights: Option<&[f64]>,
    denom: f64,
    g: f64,
    dlogits: Option<&mut [T]>,
) -> f64 {
    let n = logits.len() / v;
    let rows = row_chunk(v);
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut nll = vec![0f64; n];
    let row = |i: usize, xr: &[T], dr: Option<&mut [T]>| -> f64 {
        let (t, w) = (targets[i] as usize, weight(i));
        simd(
            #[inline(always)]
            || ce_row(xr, dr, t, w, g * w / denom),
        )
    };
    match dlogits {
        None => nll
            .par_chunks_mut(rows)
            .zip(logits.par_chunks(rows * v))
            .enumerate()
            .for_each(|(ci, (nc, xc))| {
                for (r, (o, xr)) in nc.iter_mut().zip(xc.chunks(v)).enumerate() {
                    *o = row(ci * rows + r, xr, None);
                }
            }),
        Some(dl) => nll
            .par_chunks_mut(rows)
            .zip(logits.par_chunks(rows * v))
            .zip(dl.par_chunks_mut(rows * v))
            .enumerate()
            .for_each(|(ci, ((nc, xc), dc))| {
                for (r, ((o, xr), dr)) in nc
                    .iter_mut()
                    .zip(xc.chunks(v))
                    .zip(dc.chunks_mut(v))
                    .enumerate()
                {
                    *o = row(ci * rows + r, xr, Some(dr));
                }
            }),
    }
    nll.iter().sum::<f64>() / denom
}

/// One row of [`cross_entropy`]: `-w·log p(t)`, and `coef·(softmax - onehot)`
/// into `dr` when given.
#[inline(always)]
fn ce_row<T: Real>(xr: &[T], dr: Option<&mut [T]>, t: usize, w: f64, coef: f64) -> f64 {
    let mx = xr.iter().fold(T::neg_infinity(), |a, &b| Float::max(a, b));
    match dr {
        None => {
            let sum = xr.iter().fold(T::zero(), |a, &b| a + (b - mx).exp_());
            -f(xr[t] - mx - sum.ln()) * w
        }
        Some(dr) => {
            for (d, &b) in dr.iter_mut().zip(xr) {
                *d = (b - mx).exp_();
            }
            let sum = sum8(dr);
            let coef: T = c(coef);
            for d in dr.iter_mut() {
                *d = *d / sum * coef;
            }
            dr[t] -= coef;
            -f(xr[t] - mx - sum.ln()) * w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_erf_and_exp_are_within_a_few_ulp_of_libm() {
        let (mut erf_err, mut exp_err) = (0f64, 0f64);
        for i in -200_000..=200_000 {
            let x = i as f32 * 5e-5; // [-10, 10]
            let want = candle_core::cpu::erf::erf_f64(x as f64);
            erf_err = erf_err.max((erf_f32(x) as f64 - want).abs());
            let x = i as f32 * 4.4e-4; // [-88, 88]
            let want = (x as f64).exp();
            if want > 1e-37 {
                exp_err = exp_err.max(((exp_f32(x) as f64) - want).abs() / want);
            }
        }
        assert!(erf_err < 5e-7, "erf: max abs error {erf_err:e}");
        assert!(exp_err < 3e-7, "exp: max rel error {exp_err:e}");
        assert_eq!(exp_f32(-100.0), 0.0);
        assert!((erf_f32(9.0) - 1.0).abs() < 2e-7);
    }
}
