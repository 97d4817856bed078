//! The decoding cache: each layer's keys and values of the positions seen
//! so far, and how attention reads them ([`Attention`]).

use candle_core::{Result, Tensor};

/// Per-layer keys and values of the tokens seen so far: preallocated
/// `(B, cap, d)` buffers (columns `h*hd..(h+1)*hd` are head `h`) that each
/// forward writes its new positions into, so decoding never copies the cache.
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    cap: usize,
}

impl KvCache {
    /// An empty cache for up to `cap` positions; buffers are allocated by the
    /// first forward (which knows the batch size, dtype and device).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            layers: Vec::new(),
            len: 0,
            cap,
        }
    }

    /// Positions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Count `t` more positions as held, once every layer has written them.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }
}

/// How attention sees earlier positions.
pub(crate) enum Attention<'a> {
    /// Positions `0..T` of every row, causal, nothing cached (training, scoring).
    Causal,
    /// New positions `past..past+T` (`past` = `cache.len()`), written into the
    /// cache and attending to it; position `j < pad[r]` of row `r` is left
    /// padding and never seen.
    Cached {
        cache: &'a mut KvCache,
        pad: &'a [usize],
    },
}

impl KvCache {
    /// Writes the keys and values of `qkv (B*T, 3d)` at positions
    /// `len..len+T` of layer `li`'s buffers (allocated at the first call)
    /// and returns them.
    pub(crate) fn write(
        &mut self,
        li: usize,
        qkv: &Tensor,
        b: usize,
        t: usize,
    ) -> Result<&(Tensor, Tensor)> {
        let d = qkv.dim(1)? / 3;
        let past = self.len;
        if self.layers.len() <= li {
            let zeros = || Tensor::zeros((b, self.cap, d), qkv.dtype(), qkv.device());
            self.layers.push((zeros()?, zeros()?));
        }
        let (kc, vc) = &self.layers[li];
        if kc.dim(0)? != b || past + t > self.cap {
            candle_core::bail!(
                "kv cache holds {} rows and {} positions; got {b} rows at {past}+{t}",
                kc.dim(0)?,
                self.cap
            );
        }
        let new = |i: usize| qkv.narrow(1, i * d, d)?.contiguous()?.reshape((b, t, d));
        kc.slice_set(&new(1)?, 1, past)?;
        vc.slice_set(&new(2)?, 1, past)?;
        Ok(&self.layers[li])
    }
}
