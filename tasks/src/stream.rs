//! The training stream: fixed-length token sequences decided by (seed,
//! position) alone.
//!
//! Sequence `p` draws one task from the mixture, then packs examples of that
//! task (each direct or chain of thought with probability `cot_fraction`)
//! after a leading EOS until the sequence is full; the last example is cut
//! at the end rather than padded, since every prefix is correct text and
//! padding would waste a quarter of the tokens at context 96. Packing one
//! task per sequence makes few-shot prompts look like training text, and
//! for `icl` every example of a sequence shares the rule and the mode drawn
//! for it, so its (k+1)-th example is a k-shot prompt. Nothing depends on
//! what came before `p`, so every model of a sweep sees the same sequences
//! in the same order and a resumed run continues exactly where it stopped.

use crate::format::Mode;
use crate::hash::{rng_for, Part};
use crate::vocab::{self, EOS};
use crate::{draw, Item, Split, Task, TaskConfig, TaskError};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which target positions count in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossMask {
    /// Every target token.
    All,
    /// Only what a model writes after a prompt: trace, answer cue, answer
    /// and the end newline.
    Completion,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MixtureEntry {
    pub task: TaskConfig,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub seed: u64,
    /// Model context: sequences hold `context + 1` tokens.
    pub context: usize,
    pub mixture: Vec<MixtureEntry>,
    pub cot_fraction: f64,
    pub loss_mask: LossMask,
}

/// One training sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// `context + 1` ids: inputs are `tokens[..context]`, targets `tokens[1..]`.
    pub tokens: Vec<u32>,
    /// `context` weights, 1.0 where the target at that position counts.
    pub loss_mask: Vec<f32>,
    pub task: &'static str,
    /// The packed examples, for audits and inspection.
    pub examples: Vec<(Item, Mode)>,
    /// Whether the last example is cut off by the end of the sequence.
    pub truncated: bool,
}

pub struct Stream {
    seed: u64,
    context: usize,
    cot_fraction: f64,
    loss_mask: LossMask,
    /// Tasks in suite order with their cumulative weights.
    tasks: Vec<(Box<dyn Task>, f64)>,
}

fn bad(key: &str, value: impl std::fmt::Display, why: &str) -> TaskError {
    TaskError::BadStream {
        key: key.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

impl Stream {
    /// Validate the configuration and build the task generators. Refuses a
    /// context shorter than the longest example of any task in the mixture,
    /// so that every sequence holds at least one whole example.
    pub fn new(cfg: StreamConfig) -> Result<Stream, TaskError> {
        if !(0.0..=1.0).contains(&cfg.cot_fraction) {
            return Err(bad("cot_fraction", cfg.cot_fraction, "must be in 0..=1"));
        }
        let mut entries = cfg.mixture.clone();
        entries.sort_by_key(|e| e.task.order());
        let mut tasks = Vec::new();
        let mut total = 0.0;
        for (i, e) in entries.iter().enumerate() {
            let name = e.task.name();
            let key = format!("mixture.{name}.weight");
            if !e.weight.is_finite() || e.weight < 0.0 {
                return Err(bad(&key, e.weight, "must be a finite number >= 0"));
            }
            if entries[..i].iter().any(|x| x.task.name() == name) {
                return Err(bad("mixture", name, "task listed twice"));
            }
            let task = e.task.build()?;
            if e.weight == 0.0 {
                continue;
            }
            if task.eval_only() {
                return Err(TaskError::EvalOnly { task: name.into() });
            }
            let need = task.max_len();
            if need > cfg.context {
                return Err(TaskError::ContextTooShort {
                    task: name.into(),
                    params: task.params(),
                    need,
                    context: cfg.context,
                });
            }
            total += e.weight;
            tasks.push((task, total));
        }
        if tasks.is_empty() {
            return Err(bad(
                "mixture",
                "(no positive weight)",
                "needs at least one training task",
            ));
        }
        let stream = Stream {
            seed: cfg.seed,
            context: cfg.context,
            cot_fraction: cfg.cot_fraction,
            loss_mask: cfg.loss_mask,
            tasks,
        };
        // Surface an empty training partition now rather than mid-run.
        for (task, _) in &stream.tasks {
            let mut rng = rng_for(&[Part::Str("stream-probe"), Part::Str(task.name())]);
            draw(task.as_ref(), &mut rng, Split::Train, None)?;
        }
        Ok(stream)
    }

    pub fn context(&self) -> usize {
        self.context
    }

    pub fn vocab_size(&self) -> usize {
        vocab::vocab_size()
    }

    /// The sequence at an absolute position.
    pub fn sequence(&self, position: u64) -> Result<Sequence, TaskError> {
        let mut rng = rng_for(&[
            Part::Str("stream-v1"),
            Part::U64(self.seed),
            Part::U64(position),
        ]);
        let total = self.tasks.last().expect("non-empty").1;
        let u = rng.gen::<f64>() * total;
        let task = &self
            .tasks
            .iter()
            .find(|(_, cum)| u < *cum)
            .unwrap_or(self.tasks.last().expect("non-empty"))
            .0;
        let len = self.context + 1;
        let mut tokens = Vec::with_capacity(len);
        let mut counts = Vec::with_capacity(len);
        tokens.push(EOS);
        counts.push(false);
        let mut examples: Vec<(Item, Mode)> = Vec::new();
        let draw_mode = |rng: &mut ChaCha8Rng| {
            if rng.gen_bool(self.cot_fraction) {
                Mode::Cot
            } else {
                Mode::Direct
            }
        };
        let sequence_mode = task.one_mode_per_sequence().then(|| draw_mode(&mut rng));
        loop {
            let mode = sequence_mode.unwrap_or_else(|| draw_mode(&mut rng));
            let anchor = examples.first().map(|(item, _)| item);
            let item = draw(task.as_ref(), &mut rng, Split::Train, anchor)?;
            let prompt = vocab::encode(&item.prompt(mode), item.id.as_str())?;
            let completion = vocab::encode(&item.completion(mode), item.id.as_str())?;
            counts.extend(std::iter::repeat_n(false, prompt.len()));
            counts.extend(std::iter::repeat_n(true, completion.len()));
            tokens.extend(prompt);
            tokens.extend(completion);
            examples.push((item, mode));
            if tokens.len() >= len {
                break;
            }
        }
        let truncated = tokens.len() > len;
        tokens.truncate(len);
        counts.truncate(len);
        let loss_mask = (1..len)
            .map(|i| {
                let on = match self.loss_mask {
                    LossMask::All => true,
                    LossMask::Completion => counts[i],
                };
                f32::from(u8::from(on))
            })
            .collect();
        Ok(Sequence {
            tokens,
            loss_mask,
            task: task.name(),
            examples,
            truncated,
        })
    }

    /// `n` consecutive sequences starting at `first` (one training batch).
    pub fn batch(&self, first: u64, n: usize) -> Result<Vec<Sequence>, TaskError> {
        (first..first + n as u64)
            .map(|p| self.sequence(p))
            .collect()
    }
}
