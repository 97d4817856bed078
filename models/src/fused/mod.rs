//! The fast backend's inference ops: [`crate::kernels`] functions as
//! forward-only candle custom ops, so the model's one forward
//! (`model::gpt`) runs them on tensors.
//!
//! candle's elementwise ops allocate a tensor per step and its composite ops
//! (`layer_norm_slow`, `softmax`, `matmul` + `broadcast_add`) make several
//! passes; at the ladder's sizes that overhead, not the arithmetic, set the
//! decoding time. Each op here is one pass of a kernel, one file per family
//! as in `kernels/`:
//!
//! - `norm`: [`layer_norm`].
//! - `attention`: [`causal_attention`], read straight from the fused
//!   `(B*T, 3d)` QKV projection and written as `(B*T, d)`, and
//!   [`cached_attention`], its decoding variant over the KV cache.
//! - `dense`: [`linear`] (the bias loaded into the product's output),
//!   [`linear_t`] (a transposed weight), [`gelu`], [`embed`].
//!
//! None has a backward: the fast backend trains with `cpu_train`'s
//! hand-written one, and a graph that needs gradients is built with the
//! candle backend's ops ([`crate::Trainer::loss`]). Each op applies with
//! `apply_op*_no_bwd`, so a tracked input cannot silently lose its
//! gradient: callers give these ops detached weights only (`Inference`).
//!
//! `tests` compare every op with the candle composition it replaces.

mod attention;
mod dense;
mod norm;

pub use attention::{cached_attention, causal_attention};
pub use dense::{embed, gelu, linear, linear_t};
pub use norm::layer_norm;

use candle_core::backend::BackendStorage;
use candle_core::WithDType;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result};
use candle_core::{Shape, Tensor};

pub use crate::kernels::Real;

pub(crate) fn contig<'a, T: Real>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("fused kernel needs a contiguous input"),
    }
}

/// Runs `f` on the contiguous CPU data of `t` (which must be contiguous).
pub(crate) fn with_slice<T: Real, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let (s, l) = t.storage_and_layout();
    match &*s {
        candle_core::Storage::Cpu(cs) => Ok(f(contig::<T>(cs, l)?)),
        _ => bail!("fused kernel needs a CPU tensor"),
    }
}

/// One op: a kernel over its inputs' contiguous data, in either float type.
/// The public functions check the shapes, then [`apply`] it.
trait Kernel: Send + Sync {
    const NAME: &'static str;
    /// The output's elements from the inputs' (in the order given to
    /// [`apply`]).
    fn run<T: Real>(&self, inputs: &[&[T]]) -> Result<Vec<T>>;
}

/// A [`Kernel`] and the shape of what it returns, as a candle custom op of
/// one, two or three inputs (candle has a trait for each arity).
struct Op<K> {
    kernel: K,
    shape: Shape,
}

impl<K: Kernel> Op<K> {
    fn cpu(&self, inputs: &[(&CpuStorage, &Layout)]) -> Result<(CpuStorage, Shape)> {
        macro_rules! run {
            ($t:ty) => {{
                let slices = inputs
                    .iter()
                    .map(|(s, l)| contig::<$t>(s, l))
                    .collect::<Result<Vec<_>>>()?;
                let y = self.kernel.run::<$t>(&slices)?;
                if y.len() != self.shape.elem_count() {
                    bail!(
                        "{}: {} outputs for shape {:?}",
                        K::NAME,
                        y.len(),
                        self.shape
                    );
                }
                Ok((<$t>::to_cpu_storage_owned(y), self.shape.clone()))
            }};
        }
        match inputs[0].0.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => bail!("fused kernels support f32 and f64, not {d:?}"),
        }
    }
}

impl<K: Kernel> CustomOp1 for Op<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        self.cpu(&[(s1, l1)])
    }
}

impl<K: Kernel> CustomOp2 for Op<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu(&[(s1, l1), (s2, l2)])
    }
}

impl<K: Kernel> CustomOp3 for Op<K> {
    fn name(&self) -> &'static str {
        K::NAME
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
        self.cpu(&[(s1, l1), (s2, l2), (s3, l3)])
    }
}

/// `kernel` over `inputs` (made contiguous), giving a tensor of `shape`.
fn apply<K: Kernel>(kernel: K, inputs: &[&Tensor], shape: impl Into<Shape>) -> Result<Tensor> {
    let op = Op {
        kernel,
        shape: shape.into(),
    };
    let c = |i: usize| inputs[i].contiguous();
    match inputs.len() {
        1 => c(0)?.apply_op1_no_bwd(&op),
        2 => c(0)?.apply_op2_no_bwd(&c(1)?, &op),
        3 => c(0)?.apply_op3_no_bwd(&c(1)?, &c(2)?, &op),
        n => bail!("{}: {n} inputs", K::NAME),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Fused ops against the candle compositions they replace, in f64
    //! (tight) and f32 (loose).

    use super::*;
    use candle_core::{Device, D};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn randn(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    /// Every element as f64, in order.
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
    fn fused_ops_match_candle_compositions() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-4)] {
            let x = randn(&[40, 24], 1, dtype);
            let (w, b) = (randn(&[24], 2, dtype), randn(&[24], 3, dtype));
            assert_close(
                &layer_norm(&x, &w, &b, 1e-5).unwrap(),
                &candle_nn::ops::layer_norm_slow(&x, &w, &b, 1e-5).unwrap(),
                tol,
                "layer_norm",
            );
            assert_close(&gelu(&x).unwrap(), &x.gelu_erf().unwrap(), tol, "gelu");
            let (lx, lw, lb) = (
                randn(&[9, 6], 7, dtype),
                randn(&[5, 6], 8, dtype),
                randn(&[5], 9, dtype),
            );
            let want = lx.matmul(&lw.t().unwrap()).unwrap();
            let want_b = want.broadcast_add(&lb).unwrap();
            assert_close(
                &linear(&lx, &lw, Some(&lb)).unwrap(),
                &want_b,
                tol,
                "linear",
            );
            assert_close(
                &linear(&lx, &lw, None).unwrap(),
                &want,
                tol,
                "linear, no bias",
            );
            let lwt = lw.t().unwrap().contiguous().unwrap();
            assert_close(
                &linear_t(&lx, &lwt, Some(&lb)).unwrap(),
                &want_b,
                tol,
                "linear with a transposed weight",
            );
            let (wte, wpe) = (randn(&[6, 4], 10, dtype), randn(&[5, 4], 11, dtype));
            let toks: Vec<u32> = vec![1, 5, 1, 0, 3, 3, 2, 1];
            let pos: Vec<u32> = vec![0, 1, 2, 3, 0, 1, 2, 4];
            let ti = Tensor::new(&toks[..], &Device::Cpu).unwrap();
            let pi = Tensor::new(&pos[..], &Device::Cpu).unwrap();
            let want =
                (wte.index_select(&ti, 0).unwrap() + wpe.index_select(&pi, 0).unwrap()).unwrap();
            assert_close(
                &embed(&wte, &wpe, &toks, &pos).unwrap(),
                &want,
                tol,
                "embed",
            );
            // Partial register tiles only (head size 4), then whole ones
            // (16) with a context that is not a multiple of the tile.
            for (bb, t, h, hd) in [(3, 7, 2, 4), (2, 37, 2, 4), (2, 37, 2, 16)] {
                let qkv = randn(&[bb * t, 3 * h * hd], 4, dtype);
                assert_close(
                    &causal_attention(&qkv, bb, t, h).unwrap(),
                    &causal_reference(&qkv, bb, t, h).unwrap(),
                    tol,
                    &format!("causal_attention, t = {t}"),
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
        let qkv = randn(&[b * t, 3 * d], 7, DType::F64);
        let full = causal_attention(&qkv, b, t, h).unwrap();
        let q3 = qkv.reshape((b, t, 3 * d)).unwrap();
        // The caches' layout: (B, H, T, hd).
        let heads = |i: usize| {
            q3.narrow(2, i * d, d)
                .unwrap()
                .reshape((b, t, h, hd))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (kc, vc) = (heads(1), heads(2));
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
