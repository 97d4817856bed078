//! f32 matmul with AVX-512 register tiles, used by [`super::mm`] for the
//! linear layers wherever the layout fits (training and decoding).
//!
//! gemm packs both operands at every call, which at decoding's 16–32 rows
//! costs about as much as the arithmetic (the weights are streamed anyway),
//! and its AVX-512 kernels were slower here (BENCHMARKS.md). These tiles need
//! no packing: the left operand is broadcast element by element (any
//! strides), the right one is read in rows of 32 contiguous floats, and an
//! 8 × 32 tile of the result stays in 16 registers over the inner dimension.
//! A width that is not a multiple of 32 ends in a narrower tile whose loads
//! and stores are masked, so every width runs here (the ladder's 48, 80 and
//! 112 as well as 64). Each result element is one chain of fused
//! multiply-adds in `k` order (per [`KC`] block), the same whatever the
//! tiling, the mask or the thread split.

#[cfg(target_arch = "x86_64")]
use super::Operands;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of the result per tile.
pub(crate) const MR: usize = 8;
/// Columns of the result per tile (two 16-float vectors).
pub(crate) const NR: usize = 32;
/// Inner-dimension block (a `KC × NR` block of B is 48 KB, in L2): the
/// ladder's products up to d = 384 then read and write the result once,
/// and the wider products (k = 4d) only every 384 terms.
const KC: usize = 384;
/// Row block: the `MC × KC` block of A (192 KB) stays in L2 while the
/// column blocks pass over it.
const MC: usize = 128;

/// Whether the CPU runs [`mm_f32`].
#[inline]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether [`mm_f32`] takes a product of this layout: right operand and
/// result with contiguous rows (any width).
#[inline]
pub(crate) fn fits(n: usize, rhs_cs: usize, dst_cs: usize) -> bool {
    n > 0 && rhs_cs == 1 && dst_cs == 1
}

/// `C (+)= A·B` for `C (m × n)`, `A (m × k)`, `B (k × n)` laid out as
/// [`Operands`] says. Each result element sums its `k` products in order
/// (then adds the old value with `accumulate`). With `cold_b`, each block of
/// B is first read in order (B was written long before and is in memory,
/// not cache).
///
/// # Safety
/// The CPU must have AVX-512F ([`has_avx512`]), the layout must [`fits`],
/// and the pointers must cover the matrices with these strides.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn mm_f32(
    m: usize,
    n: usize,
    k: usize,
    ops: Operands<f32>,
    accumulate: bool,
    cold_b: bool,
) {
    let Operands { b, ldb, .. } = ops;
    // Blocked for the caches: the row tiles of an (MC × KC) block of A pass
    // over one (KC × 32) block of B after another, both held in L2.
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        let acc = accumulate || k0 > 0;
        if cold_b {
            // One pass in order over B's block brings it into cache for the
            // tiles, which read it 128 bytes per row, a stride the hardware
            // prefetcher did not follow from memory.
            for e in k0..k0 + kc {
                // SAFETY: row `e < k` of B, columns `0..n`, is readable
                // (contract).
                super::stream_in(unsafe { std::slice::from_raw_parts(b.add(e * ldb), n) });
            }
        }
        for i1 in (0..m).step_by(MC) {
            let mc = MC.min(m - i1);
            for j0 in (0..n).step_by(NR) {
                let cols = NR.min(n - j0);
                for i0 in (i1..i1 + mc).step_by(MR) {
                    let rows = MR.min(i1 + mc - i0);
                    // SAFETY: rows `i0..i0+rows < m`, inner indices
                    // `k0..k0+kc <= k` and columns `j0..j0+cols <= n` are
                    // inside the matrices (contract); the CPU has AVX-512F
                    // (contract).
                    unsafe {
                        let t = ops.at(i0, k0, j0);
                        match (rows == MR, cols == NR) {
                            (true, true) => tile::<MR, false>(kc, t, acc, NR),
                            (true, false) => tile::<MR, true>(kc, t, acc, cols),
                            (false, _) => {
                                for r in 0..rows {
                                    tile::<1, true>(kc, t.at(r, 0, 0), acc, cols);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `R` rows of a tile in its first `cols` columns (1 to [`NR`]),
/// accumulated in registers over `k` products. With `MASKED` the loads of B
/// and of C and the stores into C are masked to `cols` (a masked load does
/// not touch memory past the mask) and the second vector is left out when
/// `cols <= 16`; without it `cols` is `NR` and the loads and stores are
/// plain. The same chains of fused multiply-adds either way, so a masked
/// tile gives a whole tile's bits in the columns it writes.
///
/// # Safety
/// The CPU must have AVX-512F; `A`'s elements `(r, e)` and `B`'s `(e, j)` for
/// `r < R`, `e < k`, `j < cols` must be readable and `C`'s `(r, j)`
/// writable at the strides of `t`; `cols` is `NR` unless `MASKED`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const MASKED: bool>(
    k: usize,
    t: Operands<f32>,
    accumulate: bool,
    cols: usize,
) {
    debug_assert!((1..=NR).contains(&cols) && (MASKED || cols == NR));
    let mask = |lo: usize| -> __mmask16 {
        let w = cols.saturating_sub(lo).min(16);
        ((1u32 << w) - 1) as __mmask16
    };
    let (m0, m1) = if MASKED {
        (mask(0), mask(16))
    } else {
        (!0, !0)
    };
    let Operands {
        a,
        a_rs,
        a_cs,
        b,
        ldb,
        c,
        ldc,
    } = t;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..k {
        // SAFETY: `ap` is at `A`'s `(0, e)` and `bp` at `B`'s `(e, 0)` for
        // this `e < k`: column `e` of A's `R` rows and row `e` of B up to
        // `cols` are readable, and the masks keep the loads to those columns
        // (contract).
        unsafe {
            let b0 = if MASKED {
                _mm512_maskz_loadu_ps(m0, bp)
            } else {
                _mm512_loadu_ps(bp)
            };
            if m1 == 0 {
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(r * a_rs));
                    row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                }
            } else {
                let b1 = if MASKED {
                    _mm512_maskz_loadu_ps(m1, bp.add(16))
                } else {
                    _mm512_loadu_ps(bp.add(16))
                };
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(r * a_rs));
                    row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(av, b1, row[1]);
                }
            }
        }
        // Wrapping: after the last product these point past the operands
        // and are not read.
        ap = ap.wrapping_add(a_cs);
        bp = bp.wrapping_add(ldb);
    }
    for (r, row) in acc.iter().enumerate() {
        // SAFETY: row `r < R` of C, columns `0..cols`, is writable
        // (contract); the masks keep loads and stores to those columns.
        unsafe {
            let cp = c.add(r * ldc);
            for (v, (&x, m)) in row.iter().zip([m0, m1]).enumerate() {
                if m == 0 {
                    continue;
                }
                let p = cp.wrapping_add(16 * v);
                let x = match (accumulate, MASKED) {
                    (true, true) => _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), x),
                    (true, false) => _mm512_add_ps(_mm512_loadu_ps(p), x),
                    (false, _) => x,
                };
                if MASKED {
                    _mm512_mask_storeu_ps(p, m, x);
                } else {
                    _mm512_storeu_ps(p, x);
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn avx512_tiles_match_a_plain_product() {
        if !has_avx512() {
            crate::skipped_on_this_cpu(
                "kernels::avx512::tests::avx512_tiles_match_a_plain_product",
                "no AVX-512F: the tiles are not used here, nothing was compared",
            );
            return;
        }
        // 13 rows: one whole row tile and five single rows; widths of whole
        // tiles and with a masked last tile of one or two vectors.
        for n in [64, 48, 8, 1, 17, 31, 80] {
            tiles_match_a_plain_product(13, n, 37);
        }
        // A masked tile gives the bits of the whole tile in its columns.
        let (m, k, ldb) = (9, 21, 64);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 / 7.0 - 0.9).collect();
        let b: Vec<f32> = (0..k * ldb).map(|i| (i % 29) as f32 / 11.0 - 1.3).collect();
        let product = |n: usize| {
            let mut c = vec![0f32; m * ldb];
            // SAFETY: checked for AVX-512 above; A is m × k, B is k × ldb
            // and C is m × ldb, so every width n <= ldb is covered.
            unsafe {
                mm_f32(
                    m,
                    n,
                    k,
                    Operands::new(a.as_ptr(), k, 1, b.as_ptr(), ldb, c.as_mut_ptr(), ldb),
                    false,
                    false,
                )
            };
            c
        };
        let whole = product(64);
        for n in [48, 20, 5] {
            let c = product(n);
            for i in 0..m {
                for j in 0..ldb {
                    let want = if j < n { whole[i * ldb + j] } else { 0.0 };
                    assert_eq!(
                        c[i * ldb + j].to_bits(),
                        want.to_bits(),
                        "n = {n}, ({i}, {j})"
                    );
                }
            }
        }
    }

    fn tiles_match_a_plain_product(m: usize, n: usize, k: usize) {
        let val = |i: usize, s: usize| ((i * s) % 97) as f32 / 97.0 - 0.5;
        // A transposed in memory (a_rs = 1, a_cs = m), as the weight
        // gradients read it; B and C with row strides above their widths.
        let a: Vec<f32> = (0..m * k).map(|i| val(i, 31)).collect();
        let (ldb, ldc) = (n + 3, n + 5);
        let b: Vec<f32> = (0..k * ldb).map(|i| val(i, 17)).collect();
        for accumulate in [false, true] {
            let mut c: Vec<f32> = (0..m * ldc).map(|i| val(i, 7)).collect();
            let want: Vec<f64> = (0..m * ldc)
                .map(|idx| {
                    let (i, j) = (idx / ldc, idx % ldc);
                    if j >= n {
                        return c[idx] as f64;
                    }
                    let s: f64 = (0..k)
                        .map(|e| a[i + e * m] as f64 * b[e * ldb + j] as f64)
                        .sum();
                    s + if accumulate { c[idx] as f64 } else { 0.0 }
                })
                .collect();
            // SAFETY: checked for AVX-512 above; the buffers cover the shapes.
            unsafe {
                mm_f32(
                    m,
                    n,
                    k,
                    Operands::new(a.as_ptr(), 1, m, b.as_ptr(), ldb, c.as_mut_ptr(), ldc),
                    accumulate,
                    // The streaming pass must not change the result.
                    accumulate,
                )
            };
            for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
                assert!(
                    (got as f64 - w).abs() < 1e-5,
                    "n = {n}, element {idx}: {got} vs {w} (accumulate {accumulate})"
                );
            }
        }
    }
}
