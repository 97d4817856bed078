//! GELU, linear layers and the embedding.

use std::sync::Arc;

use super::{apply, Kernel, Real};
use crate::kernels as k;
use candle_core::{bail, Result, Tensor};

/// erf-GELU, `0.5·x·(1 + erf(x/√2))` (candle's formula; in f32 with a
/// vectorizable erf within 5e-7 of libm's, see `kernels::erf_f32`).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    apply(Gelu, &[x], x.shape())
}

struct Gelu;

impl Kernel for Gelu {
    const NAME: &'static str = "emerge-gelu";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let mut y = vec![T::zero(); i[0].len()];
        k::gelu_fwd(i[0], &mut y, None);
        Ok(y)
    }
}

/// `x Wᵀ (+ b)` for `x (N, in)`, `w (out, in)`, `b (out)`. The bias is
/// loaded into the output before the product accumulates into it, so no
/// broadcast add is needed.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (o, kk) = w.dims2()?;
    linear_op(x, w, b, kk, o, false)
}

/// `x Wt (+ b)` for a transposed weight `wt (in, out)`, which the product
/// reads in place (decoding keeps such copies: no repacking per step).
pub fn linear_t(x: &Tensor, wt: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (kk, o) = wt.dims2()?;
    linear_op(x, wt, b, kk, o, true)
}

fn linear_op(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    kk: usize,
    o: usize,
    transposed: bool,
) -> Result<Tensor> {
    let (n, xk) = x.dims2()?;
    if kk == 0 || xk != kk || b.is_some_and(|b| b.elem_count() != o) {
        bail!(
            "linear: input {:?}, weight {:?}{}",
            x.dims(),
            w.dims(),
            if transposed { " (transposed)" } else { "" }
        );
    }
    let op = Linear {
        o,
        transposed,
        bias: b.is_some(),
    };
    match b {
        Some(b) => apply(op, &[x, w, b], (n, o)),
        None => apply(op, &[x, w], (n, o)),
    }
}

/// `x Wᵀ (+ b)` for `w (o, kk)`, or with `transposed` `x Wt (+ b)` for
/// `wt (kk, o)`: one product, the weight read with other strides.
struct Linear {
    o: usize,
    transposed: bool,
    bias: bool,
}

impl Kernel for Linear {
    const NAME: &'static str = "emerge-linear";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let (x, w, o) = (i[0], i[1], self.o);
        let n = x.len() / (w.len() / o);
        let mut y = match self.bias {
            true => i[2].repeat(n),
            false => vec![T::zero(); n * o],
        };
        if self.transposed {
            k::xw(x, w, o, &mut y, self.bias);
        } else {
            k::xwt(x, w, o, &mut y, self.bias);
        }
        Ok(y)
    }
}

/// `wte[tokens[r]] + wpe[positions[r]]` for every row `r`.
pub fn embed(wte: &Tensor, wpe: &Tensor, tokens: &[u32], positions: &[u32]) -> Result<Tensor> {
    let (v, d) = wte.dims2()?;
    let (ctx, _) = wpe.dims2()?;
    if tokens.len() != positions.len() {
        bail!(
            "embed: {} tokens, {} positions",
            tokens.len(),
            positions.len()
        );
    }
    if let Some(t) = tokens.iter().find(|&&t| t as usize >= v) {
        bail!("embed: token {t} outside the vocabulary {v}");
    }
    if let Some(p) = positions.iter().find(|&&p| p as usize >= ctx) {
        bail!("embed: position {p} outside the context {ctx}");
    }
    let op = Embed {
        d,
        tokens: Arc::new(tokens.to_vec()),
        positions: Arc::new(positions.to_vec()),
    };
    apply(op, &[wte, wpe], (tokens.len(), d))
}

struct Embed {
    d: usize,
    tokens: Arc<Vec<u32>>,
    positions: Arc<Vec<u32>>,
}

impl Kernel for Embed {
    const NAME: &'static str = "emerge-embed";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let mut x = vec![T::zero(); self.tokens.len() * self.d];
        k::embed_fwd(i[0], i[1], &self.tokens, &self.positions, &mut x);
        Ok(x)
    }
}
