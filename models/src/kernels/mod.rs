//! CPU kernels on plain slices (f32 or f64), shared by the candle custom ops
//! of [`crate::fused`] and the autograd-free training step of
//! [`crate::cpu_train`].
//!
//! Matrices are row-major. Work is split over rayon's pool by output rows or
//! by (batch, head) pairs, and every reduction across rows sums fixed-size
//! chunks in a fixed order, so results never depend on scheduling (and, for
//! everything but gemm's own split, not on the thread count either).
//!
//! This file: the float trait, shared helpers, matmul and fixed-order sums.
//! `math` (f32 exp/erf, AVX2 and AVX-512 dispatch), `norm` (LayerNorm), `attention`
//! (training and decoding attention), `dense` (GELU, linear, embedding,
//! cross-entropy), `avx512` (f32 matmul tiles without packing).

mod attention;
mod avx512;
mod dense;
mod math;
mod norm;

pub(crate) use attention::*;
pub(crate) use dense::*;
pub use math::Erf;
pub(crate) use math::*;
pub(crate) use norm::*;

use num_traits::Float;
use rayon::prelude::*;

use candle_core::WithDType;

/// The float types the kernels support.
pub trait Real: WithDType + Float + Erf + Default + Send + Sync + 'static {}
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

/// A raw pointer that rayon tasks may share, for kernels whose tasks write
/// disjoint parts of one output buffer (a head's columns, a block of
/// columns) that slices cannot split.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// SAFETY: the wrapper only carries the address between threads; every
// dereference is in an `unsafe` block of a kernel whose tasks write disjoint
// elements and read nothing another task writes, while the buffer's owner
// (a `&mut [T]` borrowed for the kernel's whole parallel section) cannot
// touch it. `T: Send` because elements are written from other threads.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as for `Send`: sharing `&SendPtr` only shares the address.
unsafe impl<T: Send> Sync for SendPtr<T> {}

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

/// Where a small product `C = A·B` starts, with its strides: `A` element
/// `(i, e)` at `a[i·a_rs + e·a_cs]` (the register tiles broadcast it element
/// by element, so any strides do), `B` element `(e, j)` at `b[e·ldb + j]`,
/// `C` element `(i, j)` at `c[i·ldc + j]`. Shared by the tiles of
/// `attention` and `avx512`.
#[derive(Clone, Copy)]
pub(crate) struct Operands<T> {
    pub(crate) a: *const T,
    pub(crate) a_rs: usize,
    pub(crate) a_cs: usize,
    pub(crate) b: *const T,
    pub(crate) ldb: usize,
    pub(crate) c: *mut T,
    pub(crate) ldc: usize,
}

impl<T> Operands<T> {
    /// From the three origins and their strides, in the fields' order.
    #[inline(always)]
    pub(crate) fn new(
        a: *const T,
        a_rs: usize,
        a_cs: usize,
        b: *const T,
        ldb: usize,
        c: *mut T,
        ldc: usize,
    ) -> Self {
        Self {
            a,
            a_rs,
            a_cs,
            b,
            ldb,
            c,
            ldc,
        }
    }

    /// The same product from row `i`, inner index `e` and column `j` on.
    ///
    /// # Safety
    /// The new origins must be inside the matrices' allocations (`add`'s
    /// rule).
    #[inline(always)]
    pub(crate) unsafe fn at(self, i: usize, e: usize, j: usize) -> Self {
        // SAFETY: the offsets stay inside the allocations (contract).
        unsafe {
            Self {
                a: self.a.add(i * self.a_rs + e * self.a_cs),
                b: self.b.add(e * self.ldb + j),
                c: self.c.add(i * self.ldc + j),
                ..self
            }
        }
    }
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
/// row strides first (`*_rs`), then column strides. f32 products with
/// contiguous rows in `rhs` and `dst` go to the AVX-512 tiles of
/// [`avx512`] when the CPU has them, the rest to gemm.
/// `cold_rhs` says `rhs` was written long before (an activation from the
/// forward), so the tiles first stream each block of it into cache.
///
/// # Safety
/// `lhs` must be readable at `i·lhs_rs + e·lhs_cs`, `rhs` at
/// `e·rhs_rs + j·rhs_cs` and `dst` writable at `i·dst_rs + j·dst_cs` for
/// every `i < m`, `e < k`, `j < n`; `dst` must not overlap the operands.
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
    cold_rhs: bool,
    par: gemm::Parallelism,
) {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && avx512::fits(n, rhs_cs, dst_cs)
        && avx512::has_avx512()
    {
        let threads = match par {
            gemm::Parallelism::Rayon(t) => t,
            _ => 1,
        };
        // Split by column blocks: each thread reads its part of the right
        // operand (a weight) once, and every element is computed the same
        // way whatever the split.
        let blocks = n.div_ceil(avx512::NR);
        let parts = threads.clamp(1, blocks);
        let (d, l, r) = (SendPtr(dst), SendPtr(lhs as *mut T), SendPtr(rhs as *mut T));
        let part = |p: usize| {
            let j0 = p * blocks / parts * avx512::NR;
            let j1 = ((p + 1) * blocks / parts * avx512::NR).min(n);
            // SAFETY: T is f32 (checked by TypeId); the CPU has AVX-512F and
            // the layout fits (checked above); columns j0..j1 are inside the
            // matrices (contract) and the parts write disjoint columns.
            unsafe {
                let ops = Operands::new(
                    l.get() as *const f32,
                    lhs_rs,
                    lhs_cs,
                    r.get().add(j0) as *const f32,
                    rhs_rs,
                    d.get().add(j0) as *mut f32,
                    dst_rs,
                );
                avx512::mm_f32(m, j1 - j0, k, ops, accumulate, cold_rhs)
            }
        };
        if parts == 1 {
            part(0);
        } else {
            (0..parts).into_par_iter().for_each(part);
        }
        return;
    }
    // SAFETY: gemm's contract is this function's (column strides first).
    unsafe {
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
}

/// Reads one element per 64-byte line of `x`, in order: a sequential pass
/// the hardware prefetcher follows, so `x` is in cache for strided reads
/// that follow.
#[inline]
pub(crate) fn stream_in<T: Real>(x: &[T]) {
    let step = (64 / std::mem::size_of::<T>()).max(1);
    let mut acc = T::zero();
    for v in x.iter().step_by(step) {
        acc += *v;
    }
    std::hint::black_box(acc);
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

/// Largest element (`-inf` for none) with eight independent maxima: unlike
/// a `Float::max` fold (NaN-aware, so one serial chain) this vectorizes. A
/// NaN element may be skipped here, but it still poisons what the callers
/// compute from it (`exp(NaN - max)`).
#[inline(always)]
pub(crate) fn max8<T: Real>(a: &[T]) -> T {
    let mut acc = [T::neg_infinity(); 8];
    for ca in a.chunks_exact(8) {
        for k in 0..8 {
            acc[k] = if ca[k] > acc[k] { ca[k] } else { acc[k] };
        }
    }
    let mut m = T::neg_infinity();
    for &v in acc.iter().chain(&a[a.len() / 8 * 8..]) {
        m = if v > m { v } else { m };
    }
    m
}

/// `Σ (a - m)²` with eight independent accumulators.
#[inline(always)]
pub(crate) fn sq_dev8<T: Real>(a: &[T], m: T) -> T {
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn gelu_gives_the_same_bits_with_avx512_avx2_and_plain_code() {
        let x: Vec<f32> = (-300_000..=300_000).map(|i| i as f32 * 4.1e-5).collect();
        let run = |how: u8| {
            let (mut y, mut d) = (vec![0f32; x.len()], vec![0f32; x.len()]);
            match how {
                0 => gelu_rows(&x, &mut y, Some(&mut d)),
                // SAFETY: run(1) is called only where the CPU has AVX2 and FMA.
                1 => unsafe {
                    with_avx2(
                        #[inline(always)]
                        || gelu_rows(&x, &mut y, Some(&mut d)),
                    )
                },
                // SAFETY: run(2) is called only where the CPU has AVX-512F,
                // AVX2 and FMA.
                _ => unsafe {
                    with_avx512(
                        #[inline(always)]
                        || gelu_rows(&x, &mut y, Some(&mut d)),
                    )
                },
            }
            (y, d)
        };
        let plain = run(0);
        const TEST: &str =
            "kernels::tests::gelu_gives_the_same_bits_with_avx512_avx2_and_plain_code";
        if has_avx2() {
            assert!(run(1) == plain, "AVX2 variant differs");
        } else {
            crate::skipped_on_this_cpu(TEST, "no AVX2+FMA: the AVX2 variant was not compared");
        }
        if has_avx2() && avx512::has_avx512() {
            assert!(run(2) == plain, "AVX-512 variant differs");
        } else {
            crate::skipped_on_this_cpu(TEST, "no AVX-512F: the AVX-512 variant was not compared");
        }
    }
}
