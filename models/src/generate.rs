//! Inference over detached weights: batched greedy decoding with a per-layer
//! KV cache, and teacher-forced scoring of given continuations.
//!
//! candle has no no-grad mode, so [`Inference`] holds detached copies of the
//! weights: nothing computed here records an autograd graph.

use candle_core::{DType, Device, Tensor, D};
use rayon::prelude::*;

use crate::config::ModelConfig;
use crate::kv_cache::{Attention, KvCache};
use crate::model::{forward, Gpt, Weights};
use crate::ops::{Kernels, Positions};
use crate::{Error, Result};

pub struct Inference {
    config: ModelConfig,
    weights: Weights,
    device: Device,
    pub(crate) kernels: Kernels,
}

/// Greedy decoding settings.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// A sequence stops after emitting any of these (the stop token is kept
    /// in its output).
    pub stop_tokens: Vec<u32>,
    /// Recompute the whole sequence each step instead of using the KV cache
    /// (slow; exists to check the cache).
    pub no_cache: bool,
}

/// One continuation token's teacher-forced score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    pub logprob: f32,
    /// Whether the token is the model's argmax at that position.
    pub is_argmax: bool,
}

impl Gpt {
    /// Detached weights for evaluation: make a new one after further training
    /// (on the CPU it also holds transposed copies taken at this call).
    pub fn inference(&self) -> Inference {
        let kernels = self.kernels();
        let weights = self.weights(true);
        // A failed copy (out of memory) only costs speed.
        let weights = match kernels {
            Kernels::Fast => weights
                .with_transposed()
                .unwrap_or_else(|_| self.weights(true)),
            Kernels::Candle => weights,
        };
        Inference {
            config: self.config,
            weights,
            device: self.device().clone(),
            kernels,
        }
    }
}

fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

impl Inference {
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Greedy continuation of each prompt. Prompts may differ in length (the
    /// batch is left-padded and padding is masked out); each sequence stops at
    /// a stop token, after `max_new_tokens`, or when it fills the context.
    /// Returns the new tokens of each prompt.
    pub fn generate(&self, prompts: &[Vec<u32>], opts: &GenerateOptions) -> Result<Vec<Vec<u32>>> {
        crate::device::in_pool(|| self.by_slices(prompts, |at, p| self.generate_inner(p, opts, at)))
    }

    /// On the CPU (unless [`Self::weights_stream`]), runs `f` on one slice of
    /// consecutive rows per rayon thread at the same time and concatenates
    /// the results in row order (rows are independent: each has its own
    /// padding, positions and cache rows), which keeps every thread busy
    /// without a synchronization per op. `f` gets the index of its slice's
    /// first row (for error messages).
    fn by_slices<I: Sync, O: Send>(
        &self,
        rows: &[I],
        f: impl Fn(usize, &[I]) -> Result<Vec<O>> + Sync,
    ) -> Result<Vec<O>> {
        let parts = rayon::current_num_threads().min(rows.len());
        if self.kernels != Kernels::Fast || parts <= 1 || self.weights_stream() {
            return f(0, rows);
        }
        let n = rows.len();
        let outs: Vec<Result<Vec<O>>> = (0..parts)
            .into_par_iter()
            .map(|p| f(p * n / parts, &rows[p * n / parts..(p + 1) * n / parts]))
            .collect();
        let mut all = Vec::with_capacity(n);
        for o in outs {
            all.extend(o?);
        }
        Ok(all)
    }

    /// Whether the weights are far too big for the last-level cache, so that
    /// every decoding step reads them from memory. Then the rows stay in one
    /// batch and each matmul is split over the threads by output columns:
    /// each weight is read once per step, not once per slice. Below the
    /// threshold the slices win (BENCHMARKS.md, "Measurements behind the
    /// code").
    fn weights_stream(&self) -> bool {
        const STREAMED_BYTES: usize = 48 << 20;
        self.config.params() * std::mem::size_of::<f32>() >= STREAMED_BYTES
    }

    fn generate_inner(
        &self,
        prompts: &[Vec<u32>],
        opts: &GenerateOptions,
        first_row: usize,
    ) -> Result<Vec<Vec<u32>>> {
        let ctx = self.config.context;
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        for (i, p) in prompts.iter().enumerate() {
            let i = first_row + i;
            if p.is_empty() || p.len() > ctx {
                return Err(Error::Batch(format!(
                    "prompt {i} has {} tokens; needs 1..={ctx}",
                    p.len()
                )));
            }
            if let Some(&t) = p.iter().find(|&&t| t as usize >= self.config.vocab) {
                return Err(Error::Batch(format!(
                    "prompt {i} has token {t} outside the vocabulary"
                )));
            }
        }
        let b = prompts.len();
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let pad: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
        // Each row may generate until it fills the context with its own positions.
        let budget: Vec<usize> = prompts
            .iter()
            .map(|p| opts.max_new_tokens.min(ctx - p.len()))
            .collect();
        let steps = budget.iter().copied().max().unwrap_or(0);
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done: Vec<bool> = budget.iter().map(|&n| n == 0).collect();
        if steps == 0 {
            return Ok(out);
        }

        // The padded token matrix grows by one column per step.
        let mut seq: Vec<Vec<u32>> = prompts
            .iter()
            .zip(&pad)
            .map(|(p, &n)| std::iter::repeat_n(0, n).chain(p.iter().copied()).collect())
            .collect();
        let positions = |start: usize, len: usize| -> Vec<u32> {
            let mut ids = Vec::with_capacity(b * len);
            for &p in &pad {
                for j in start..start + len {
                    // Clamped: padding and rows that already stopped may run
                    // past the context; their outputs are never used.
                    ids.push(j.saturating_sub(p).min(ctx - 1) as u32);
                }
            }
            ids
        };
        let kernels = self.kernels;
        // Room for every column the padded matrix can reach.
        let mut cache = KvCache::new(longest + steps);
        for s in 0..steps {
            // With the cache, only the newest column is fed after the prefill;
            // without it, the whole padded sequence is recomputed.
            let (from, width) = if opts.no_cache || s == 0 {
                (0, longest + s)
            } else {
                (cache.len(), 1)
            };
            let cols: Vec<u32> = seq
                .iter()
                .flat_map(|r| r[from..from + width].iter().copied())
                .collect();
            let tokens = Tensor::from_vec(cols, (b, width), &self.device)?;
            let pos = Tensor::from_vec(positions(from, width), (b, width), &self.device)?;
            // Without the cache, each step starts from an empty one.
            let mut fresh = KvCache::new(width);
            let cache = if opts.no_cache {
                &mut fresh
            } else {
                &mut cache
            };
            let logits = forward(
                &self.config,
                &self.weights,
                &tokens,
                Positions::PerRow(&pos),
                Attention::Cached { cache, pad: &pad },
                kernels,
            )?;
            let next = argmax_rows(&logits.narrow(1, width - 1, 1)?.squeeze(1)?)?;
            for (i, &tok) in next.iter().enumerate() {
                seq[i].push(tok);
                if done[i] {
                    continue;
                }
                out[i].push(tok);
                if opts.stop_tokens.contains(&tok) || out[i].len() >= budget[i] {
                    done[i] = true;
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }

    /// Teacher-forced scores of each `(prompt, continuation)` pair: for every
    /// continuation token, its log-probability and whether it is the argmax
    /// given everything before it. `prompt.len() + continuation.len() - 1`
    /// must fit in the context.
    pub fn score(&self, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<Vec<TokenScore>>> {
        crate::device::in_pool(|| self.by_slices(pairs, |at, p| self.score_inner(p, at)))
    }

    fn score_inner(
        &self,
        pairs: &[(Vec<u32>, Vec<u32>)],
        first_row: usize,
    ) -> Result<Vec<Vec<TokenScore>>> {
        let ctx = self.config.context;
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(pairs.len());
        for (i, (p, c)) in pairs.iter().enumerate() {
            let i = first_row + i;
            if p.is_empty() || c.is_empty() {
                return Err(Error::Batch(format!(
                    "pair {i}: empty prompt or continuation"
                )));
            }
            let n = p.len() + c.len() - 1;
            if n > ctx {
                return Err(Error::Batch(format!(
                    "pair {i}: {n} input tokens exceed the context {ctx}"
                )));
            }
            let mut r: Vec<u32> = p.iter().chain(&c[..c.len() - 1]).copied().collect();
            if let Some(&t) = r
                .iter()
                .chain(c.iter())
                .find(|&&t| t as usize >= self.config.vocab)
            {
                return Err(Error::Batch(format!(
                    "pair {i} has token {t} outside the vocabulary"
                )));
            }
            r.shrink_to_fit();
            rows.push(r);
        }
        // Right padding: under the causal mask, trailing padding cannot
        // influence earlier positions, and positions start at 0 in every row.
        let b = rows.len();
        let t = rows.iter().map(Vec::len).max().unwrap_or(0);
        let flat: Vec<u32> = rows
            .iter()
            .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0, t - r.len())))
            .collect();
        let tokens = Tensor::from_vec(flat, (b, t), &self.device)?;
        let logits = forward(
            &self.config,
            &self.weights,
            &tokens,
            Positions::FromZero,
            Attention::Causal,
            self.kernels,
        )?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let best = logp.argmax(D::Minus1)?.to_vec2::<u32>()?;
        let logp = logp.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        Ok(pairs
            .iter()
            .enumerate()
            .map(|(i, (p, c))| {
                c.iter()
                    .enumerate()
                    .map(|(j, &tok)| {
                        let at = p.len() - 1 + j;
                        TokenScore {
                            logprob: logp[i][at][tok as usize],
                            is_argmax: best[i][at] == tok,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}
