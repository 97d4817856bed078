//! Causal self-attention for scoring and prompts, and its decoding variant
//! over the KV cache.

use std::sync::Arc;

use super::{apply, Kernel, Real};
use crate::kernels::{self as k, Heads};
use candle_core::{bail, Result, Tensor};

/// Causal self-attention over a fused QKV projection `qkv (B*T, 3d)` laid out
/// as `(B, T, 3, H, hd)`: returns `(B*T, d)` laid out as `(B, T, H, hd)`, the
/// layout the output projection reads, so no permute or contiguous copy is
/// needed either way. Scale `1/sqrt(hd)`, positions `0..T`.
pub fn causal_attention(qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
    let (rows, three_d) = qkv.dims2()?;
    if rows != b * t || !three_d.is_multiple_of(3 * h) {
        bail!(
            "causal_attention: qkv {:?} for b={b} t={t} h={h}",
            qkv.dims()
        );
    }
    let s = Heads {
        b,
        t,
        h,
        hd: three_d / (3 * h),
    };
    apply(CausalAttention { s }, &[qkv], (b * t, s.d()))
}

struct CausalAttention {
    s: Heads,
}

impl Kernel for CausalAttention {
    const NAME: &'static str = "emerge-causal-attention";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let s = self.s;
        let mut y = vec![T::zero(); s.b * s.t * s.d()];
        k::attn_fwd(s, i[0], &mut y, None);
        Ok(y)
    }
}

/// Decoding attention. `qkv (B*Tq, 3d)` holds the new tokens; `k_cache`,
/// `v_cache` are `(B, H, cap, hd)` and already hold their keys and values at
/// positions `past..past+Tq`. Query `i` of row `r` sees cached positions
/// `pad[r]..=past+i`; a query with nothing visible (left padding) gets
/// zeros, which only padding positions ever read.
pub fn cached_attention(
    qkv: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    past: usize,
    pad: &[usize],
    h: usize,
) -> Result<Tensor> {
    let (b, heads, cap, hd) = k_cache.dims4()?;
    let d = heads * hd;
    let (rows, three_d) = qkv.dims2()?;
    if pad.len() != b || rows % b != 0 || three_d != 3 * d || heads != h {
        bail!(
            "cached_attention: qkv {:?}, cache {:?}, {} pad entries",
            qkv.dims(),
            k_cache.dims(),
            pad.len()
        );
    }
    let tq = rows / b;
    if past + tq > cap {
        bail!("cached_attention: {past} + {tq} positions exceed the cache ({cap})");
    }
    let op = CachedAttention {
        s: Heads {
            b,
            t: tq,
            h,
            hd: d / h,
        },
        past,
        cap,
        pad: Arc::new(pad.to_vec()),
    };
    apply(op, &[qkv, k_cache, v_cache], (rows, d))
}

struct CachedAttention {
    /// `t` is the number of new tokens.
    s: Heads,
    past: usize,
    cap: usize,
    pad: Arc<Vec<usize>>,
}

impl Kernel for CachedAttention {
    const NAME: &'static str = "emerge-cached-attention";

    fn run<T: Real>(&self, i: &[&[T]]) -> Result<Vec<T>> {
        let s = self.s;
        let mut y = vec![T::zero(); s.b * s.t * s.d()];
        let kv = k::KvView {
            k: i[1],
            v: i[2],
            past: self.past,
            cap: self.cap,
        };
        k::cached_attn(s, i[0], kv, &self.pad, &mut y);
        Ok(y)
    }
}
