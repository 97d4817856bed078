//! A batch of token sequences on the host, checked once where it is made,
//! as both training backends and the evaluation take it.

use crate::{Error, Result};

/// One batch of token sequences on the host. `inputs` and `targets` are
/// row-major `(batch, seq_len)`; `mask`, when given, weights each target
/// position's loss (1 = counts, 0 = ignored).
#[derive(Debug, Clone)]
pub struct Batch {
    pub batch: usize,
    pub seq_len: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub mask: Option<Vec<f32>>,
}

impl Batch {
    /// Builds a batch from sequences of `seq_len + 1` tokens each (input is
    /// the sequence without its last token, target without its first).
    pub fn from_sequences(seqs: &[Vec<u32>], masks: Option<&[Vec<f32>]>) -> Result<Self> {
        let seq_len = seqs.first().map_or(0, |s| s.len().saturating_sub(1));
        let mut inputs = Vec::with_capacity(seqs.len() * seq_len);
        let mut targets = Vec::with_capacity(seqs.len() * seq_len);
        for s in seqs {
            if s.len() != seq_len + 1 {
                return Err(Error::Batch(format!(
                    "sequences differ in length: {} vs {}",
                    s.len(),
                    seq_len + 1
                )));
            }
            inputs.extend_from_slice(&s[..seq_len]);
            targets.extend_from_slice(&s[1..]);
        }
        let mask = masks.map(|m| m.concat());
        let b = Batch {
            batch: seqs.len(),
            seq_len,
            inputs,
            targets,
            mask,
        };
        b.check()?;
        Ok(b)
    }

    pub(crate) fn check(&self) -> Result<()> {
        let n = self.batch * self.seq_len;
        if n == 0 {
            return Err(Error::Batch("empty batch".into()));
        }
        if self.inputs.len() != n || self.targets.len() != n {
            return Err(Error::Batch(format!(
                "inputs/targets hold {}/{} tokens, expected {n}",
                self.inputs.len(),
                self.targets.len()
            )));
        }
        if let Some(m) = &self.mask {
            if m.len() != n {
                return Err(Error::Batch(format!(
                    "mask holds {} values, expected {n}",
                    m.len()
                )));
            }
            if !m.iter().any(|&x| x > 0.0) {
                return Err(Error::Batch("mask selects no position".into()));
            }
        }
        Ok(())
    }

    /// Number of tokens this batch trains on (input positions).
    pub fn tokens(&self) -> u64 {
        (self.batch * self.seq_len) as u64
    }
}
