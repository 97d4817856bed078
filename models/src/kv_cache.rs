//! The decoding cache: each layer's keys and values of the positions seen
//! so far, and how attention reads them ([`Attention`]).

use candle_core::{Result, Tensor};

/// Per-layer keys and values of the tokens seen so far: preallocated
/// `(B, H, cap, hd)` buffers that each forward writes its new positions
/// into, so decoding never copies the cache. Head-major, so that a head's
/// keys (and values) are one contiguous block that decoding reads in order.
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
    /// Writes the keys and values of `qkv (B*T, 3d)` (laid out as
    /// `(B, T, 3, H, hd)`) at positions `len..len+T` of layer `li`'s buffers
    /// (allocated at the first call) and returns them.
    pub(crate) fn write(
        &mut self,
        li: usize,
        qkv: &Tensor,
        (b, t, h): (usize, usize, usize),
    ) -> Result<&(Tensor, Tensor)> {
        let d = qkv.dim(1)? / 3;
        let hd = d / h;
        let past = self.len;
        if self.layers.len() <= li {
            let zeros = || Tensor::zeros((b, h, self.cap, hd), qkv.dtype(), qkv.device());
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
        // (B*T, d) -> (B, H, T, hd)
        let new = |i: usize| {
            qkv.narrow(1, i * d, d)?
                .reshape((b, t, h, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        kc.slice_set(&new(1)?, 2, past)?;
        vc.slice_set(&new(2)?, 2, past)?;
        Ok(&self.layers[li])
    }
}
