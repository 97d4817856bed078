//! LayerNorm.

use super::{apply, Kernel, Real};
use crate::kernels as k;
use candle_core::{bail, Result, Tensor};

/// LayerNorm over the last dimension of `x` with weight `w` and bias `b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let d = w.elem_count();
    if d == 0 || x.dims().last() != Some(&d) || b.elem_count() != d {
        bail!(
            "layer_norm: shapes {:?} {:?} {:?}",
            x.dims(),
            w.dims(),
            b.dims()
        );
    }
    apply(LayerNorm { eps }, &[x, w, b], x.shape())
}

struct LayerNorm {
    eps: f64,
}

impl Kernel for LayerNorm {
    const NAME: &'static str = "emerge-layer-norm";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let (x, w, b) = (i[0], i[1], i[2]);
        let mut y = vec![T::zero(); x.len()];
        k::ln_fwd(x, w, b, self.eps, &mut y, None);
        Ok(y)
    }
}
