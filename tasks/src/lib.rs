//! The task suite, with no model and no data engine in it: [`vocab`]
//! (character tokens, ids fixed forever), [`format`] (the one text format
//! and its cues), eleven seeded item generators behind one trait (this
//! module), their parameters ([`params`]), the held-out partition
//! ([`hash`]) and chance levels ([`chance`]), [`stream`] (training
//! sequences by seed and position), [`fewshot`] (k-shot prompts from
//! training exemplars) and [`answer`] (extraction and per-item string
//! metrics).
//!
//! A task turns random numbers into items `{ id, key, query, trace, answer }`.
//! The content key decides the partition (see [`hash::is_test_key`]); every
//! draw is rejection-sampled into the split asked for, so a training draw can
//! never yield a test item whatever the difficulty settings.

pub mod add;
pub mod answer;
pub mod chance;
pub mod code;
pub mod code_shuffled;
pub mod fewshot;
pub mod format;
pub mod hash;
pub mod hop;
pub mod icl;
pub mod modp;
pub mod mul;
pub mod params;
pub mod sort;
pub mod stream;
pub mod vocab;
pub mod word;
pub mod word_ood;
pub mod word_twin;

use crate::format::Mode;
use crate::vocab::VocabError;
use hash::Part;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

pub use params::{
    AddParams, CodeParams, HopParams, IclParams, ModpParams, MulParams, SortParams, Surface,
    TaskConfig, WordOodParams, WordParams,
};

/// Every task, in the order the suite lists them.
pub const TASK_NAMES: [&str; 11] = [
    "add",
    "mul",
    "sort",
    "word",
    "word_ood",
    "word_twin",
    "modp",
    "icl",
    "hop",
    "code",
    "code_shuffled",
];

/// One generated item. `query` is the question without a cue; use
/// [`Item::prompt`] / [`Item::completion`] for the text of a mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `task:key`, stable across seeds and releases.
    pub id: String,
    /// Content key: equal keys are the same item for the partition.
    pub key: String,
    pub query: String,
    pub trace: String,
    pub answer: String,
}

impl Item {
    pub fn new(task: &str, key: String, query: String, trace: String, answer: String) -> Item {
        Item {
            id: format!("{task}:{key}"),
            key,
            query,
            trace,
            answer,
        }
    }

    pub fn prompt(&self, mode: Mode) -> String {
        format::prompt(&self.query, mode)
    }

    pub fn completion(&self, mode: Mode) -> String {
        format::completion(&self.trace, &self.answer, mode)
    }

    /// The whole example as it appears in training text.
    pub fn text(&self, mode: Mode) -> String {
        self.prompt(mode) + &self.completion(mode)
    }

    pub fn len(&self, mode: Mode) -> usize {
        format::example_len(&self.query, &self.trace, &self.answer, mode)
    }

    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
    }
}

/// Training items and held-out test items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(format!("unknown split `{s}` (expected train or test)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    #[error("unknown task `{name}` (known tasks: {})", TASK_NAMES.join(", "))]
    UnknownTask { name: String },
    #[error("task `{task}`: key `{key}` = {value}: {why}")]
    BadParam {
        task: String,
        key: String,
        value: String,
        why: String,
    },
    #[error("task `{task}`: bad parameters: {message}")]
    Params { task: String, message: String },
    #[error("task `{task}` is evaluation-only: its items must never be used for training")]
    EvalOnly { task: String },
    #[error("task `{task}` ({params}): found only {found} distinct {split} items after {tries} draws, {wanted} asked for; widen the difficulty settings")]
    Exhausted {
        task: String,
        params: String,
        split: Split,
        wanted: usize,
        found: usize,
        tries: usize,
    },
    #[error(
        "task `{task}` ({params}): examples need up to {need} tokens but the context is {context}"
    )]
    ContextTooShort {
        task: String,
        params: String,
        need: usize,
        context: usize,
    },
    #[error("stream: key `{key}` = {value}: {why}")]
    BadStream {
        key: String,
        value: String,
        why: String,
    },
    #[error(transparent)]
    Vocab(#[from] VocabError),
}

/// One task generator, configured with its difficulty parameters.
pub trait Task: Send + Sync {
    fn name(&self) -> &'static str;

    /// The item space keys live in (`word_ood` and `word_twin` share
    /// `word`'s, `code_shuffled` `code`'s).
    fn family(&self) -> &'static str {
        self.name()
    }

    /// One-line summary of the parameters, for listings and errors.
    fn params(&self) -> String;

    /// A random item; `split` is only a hint (the caller rejects items of the
    /// other split), used by `hop` to ask two-hop questions at test time. With an anchor, an item that belongs
    /// next to it in one sequence or prompt: the same rule for `icl`, the
    /// same question kind for `hop`, a training-name `word` item for
    /// `word_ood` and `word_twin`; other tasks ignore the anchor.
    fn candidate(&self, rng: &mut ChaCha8Rng, split: Split, anchor: Option<&Item>) -> Item;

    fn in_test(&self, item: &Item) -> bool {
        hash::is_test_key(self.family(), &item.key)
    }

    /// Items may be drawn for the test split only.
    fn eval_only(&self) -> bool {
        false
    }

    /// Re-derive the item from its key and verify every step of the trace
    /// and that the trace ends at the answer. The property tests run this
    /// over thousands of items.
    fn check(&self, item: &Item) -> Result<(), String>;

    /// Normalize an extracted answer; `None` if it is not of the task's
    /// answer format (counted as an extraction failure).
    fn normalize(&self, raw: &str) -> Option<String>;

    /// Longest whole chain-of-thought example (prompt, trace, answer and the
    /// end newline) the parameters can produce; direct examples are shorter.
    fn max_len(&self) -> usize;

    /// Training-only text that carries no task (`code_shuffled`, the
    /// displacement control of an ablation): never evaluated.
    fn filler(&self) -> bool {
        false
    }

    /// `word_twin` only: the answer of the training problem this item
    /// changes. An answer equal to it is a parrot (`parrot` in samples.csv).
    fn parrot_answer(&self, _item: &Item) -> Option<String> {
        None
    }

    /// Every example of a training sequence takes the sequence's mode, so the
    /// (k+1)-th example reads exactly as a k-shot prompt does (`icl`, whose
    /// exemplars are the only way to the answer).
    fn one_mode_per_sequence(&self) -> bool {
        false
    }

    /// What a model that knows the task but not what the item's context
    /// decides would answer: `icl`'s query under a rule drawn fresh from the
    /// family. `None`: chance takes another training item drawn next to this
    /// one (see `chance`).
    fn guess(&self, _rng: &mut ChaCha8Rng, _item: &Item) -> Option<Item> {
        None
    }
}

/// Bound on rejection sampling; the smallest legal split holds roughly 10 %
/// of a space, so hitting it means the space itself is (nearly) empty.
const MAX_TRIES: usize = 20_000;

/// Draw one item of a split (optionally next to an anchor).
pub fn draw(
    task: &dyn Task,
    rng: &mut ChaCha8Rng,
    split: Split,
    anchor: Option<&Item>,
) -> Result<Item, TaskError> {
    if split == Split::Train && task.eval_only() && anchor.is_none() {
        return Err(TaskError::EvalOnly {
            task: task.name().into(),
        });
    }
    for _ in 0..MAX_TRIES {
        let item = task.candidate(rng, split, anchor);
        if task.in_test(&item) == (split == Split::Test) && anchor.is_none_or(|a| a.key != item.key)
        {
            return Ok(item);
        }
    }
    Err(TaskError::Exhausted {
        task: task.name().into(),
        params: task.params(),
        split,
        wanted: 1,
        found: 0,
        tries: MAX_TRIES,
    })
}

/// The item at `index` of a split, decided by (seed, task, split, index) only.
pub fn item_at(task: &dyn Task, seed: u64, split: Split, index: u64) -> Result<Item, TaskError> {
    let mut rng = hash::rng_for(&[
        Part::Str("item"),
        Part::Str(task.name()),
        Part::U64(seed),
        Part::Str(split.as_str()),
        Part::U64(index),
    ]);
    draw(task, &mut rng, split, None)
}

/// The first `n` items of a split with distinct keys (an evaluation set).
pub fn distinct_items(
    task: &dyn Task,
    seed: u64,
    split: Split,
    n: usize,
) -> Result<Vec<Item>, TaskError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    let budget = 50 * n + 1000;
    let mut index = 0u64;
    while out.len() < n && (index as usize) < budget {
        let item = item_at(task, seed, split, index)?;
        index += 1;
        if seen.insert(item.key.clone()) {
            out.push(item);
        }
    }
    if out.len() < n {
        return Err(TaskError::Exhausted {
            task: task.name().into(),
            params: task.params(),
            split,
            wanted: n,
            found: out.len(),
            tries: budget,
        });
    }
    Ok(out)
}

/// Build a task with its default parameters.
pub fn by_name(name: &str) -> Result<Box<dyn Task>, TaskError> {
    TaskConfig::default_for(name)?.build()
}

/// Shared helpers for the task files.
/// A task's generator, from its parameters: one arm per task, here at the
/// root that knows every task (`params` knows only the parameters).
impl TaskConfig {
    /// Validate and build the generator.
    pub fn build(&self) -> Result<Box<dyn Task>, TaskError> {
        self.validate()?;
        Ok(match self {
            TaskConfig::Add(p) => Box::new(crate::add::Add::new(p.clone())),
            TaskConfig::Mul(p) => Box::new(crate::mul::Mul::new(p.clone())),
            TaskConfig::Sort(p) => Box::new(crate::sort::Sort::new(p.clone())),
            TaskConfig::Word(p) => Box::new(crate::word::Word::new(p.clone())),
            TaskConfig::WordOod(p) => Box::new(crate::word_ood::WordOod::new(p.clone())),
            TaskConfig::WordTwin(p) => Box::new(crate::word_twin::WordTwin::new(p.clone())),
            TaskConfig::Modp(p) => Box::new(crate::modp::Modp::new(p.clone())),
            TaskConfig::Icl(p) => Box::new(crate::icl::Icl::new(p.clone())),
            TaskConfig::Hop(p) => Box::new(crate::hop::Hop::new(p.clone())),
            TaskConfig::Code(p) => Box::new(crate::code::Code::new(p.clone())),
            TaskConfig::CodeShuffled(p) => {
                Box::new(crate::code_shuffled::CodeShuffled::new(p.clone()))
            }
        })
    }
}

pub(crate) mod util {
    use rand::Rng;
    use rand_chacha::ChaCha8Rng;

    /// A uniformly random number with exactly `digits` digits (0..=9 for 1).
    pub fn number_with_digits(rng: &mut ChaCha8Rng, digits: u32) -> u64 {
        if digits == 1 {
            rng.gen_range(0..10)
        } else {
            let lo = 10u64.pow(digits - 1);
            rng.gen_range(lo..lo * 10)
        }
    }

    pub fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
        &xs[rng.gen_range(0..xs.len())]
    }

    /// Parse a canonical non-negative decimal (no sign, no leading zeros).
    pub fn canonical_uint(s: &str) -> Option<u64> {
        let ok = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        if ok {
            s.parse().ok()
        } else {
            None
        }
    }

    /// Normalize a numeric answer: trim, drop a leading `+` and leading zeros.
    pub fn normalize_uint(raw: &str) -> Option<String> {
        let s = raw.trim();
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let t = s.trim_start_matches('0');
        Some(if t.is_empty() { "0".into() } else { t.into() })
    }

    /// Split `"lhs=rhs"` equations of a trace.
    pub fn equation(step: &str) -> Result<(&str, &str), String> {
        step.split_once('=')
            .ok_or_else(|| format!("trace step `{step}` is not an equation"))
    }

    pub fn num(s: &str) -> Result<u64, String> {
        canonical_uint(s).ok_or_else(|| format!("`{s}` is not a canonical number"))
    }
}
