//! f32 `exp`/`erf` as vectorizable polynomials, and the AVX2 and AVX-512
//! dispatch.

/// `erf` and `exp` for the elementwise kernels. f64 uses libm; f32 uses
/// branch-free polynomial versions (within a few ulp of libm's, checked by a
/// test) that the compiler can vectorize, unlike a call into libm.
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
/// degree-6 polynomial, exponent bits; fused multiply-adds, which the AVX2
/// variants of the loops compile to one instruction each), about 1 ulp;
/// underflows to 0 below -87.3 and saturates above 88.7.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.336_55, 88.722_83);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = (-n).mul_add(0.693_359_4, x);
    let r = (-n).mul_add(-2.121_944_4e-4, r);
    let p = 1.987_569_1e-4_f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    // n is integral and within [-127, 129]: adding 1.5·2^23 puts it in the
    // low mantissa bits exactly. Same value as `n as i32`, but that cast
    // saturates, which the compiler turns into scalar code per lane.
    let ni = (n + 12_582_912.0).to_bits() as i32 - 0x4B40_0000;
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
    let p = p.mul_add(x2, 2.770_681_4e-8);
    let p = p.mul_add(x2, -2.101_024e-6);
    let p = p.mul_add(x2, -5.692_506_4e-5);
    let p = p.mul_add(x2, -7.349_906_3e-4);
    let p = p.mul_add(x2, -2.954_6e-3);
    let p = p.mul_add(x2, -1.609_603_3e-2);
    let p = p * x;
    let q = -1.456_607_2e-5_f32;
    let q = q.mul_add(x2, -2.133_740_6e-4);
    let q = q.mul_add(x2, -1.682_827e-3);
    let q = q.mul_add(x2, -7.373_329e-3);
    let q = q.mul_add(x2, -1.426_474e-2);
    p / q
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

/// Runs `f` with AVX2 and FMA enabled (inlined closures compile for them).
///
/// # Safety
/// The CPU must have AVX2 and FMA ([`has_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` with AVX-512F, AVX2 and FMA enabled.
///
/// # Safety
/// The CPU must have all three ([`super::avx512::has_avx512`], [`has_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for AVX-512 when the CPU has it (else as [`simd`]): 16
/// lanes and 32 vector registers. For long chains of arithmetic per element
/// (GELU's erf and exp, the attention heads) that halves the instructions
/// and keeps the constants in registers (BENCHMARKS.md, "Measurements behind
/// the code"). The same operations in the same order, so the same results.
#[inline(always)]
pub(crate) fn simd_wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::has_avx512() && has_avx2() {
        // SAFETY: the CPU has AVX-512F, AVX2 and FMA.
        return unsafe { with_avx512(f) };
    }
    simd(f)
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
