//! Chance levels: the score of answers of the right format but no skill.
//!
//! A "random answer" for a test item is the gold answer of another training
//! item drawn next to it (same rule for `icl`, same question kind for `hop`),
//! so it has the task's answer format and distribution. The mean score of
//! those over `n` test items is the chance level the plots draw.

use super::hash::{rng_for, Part};
use super::{draw, item_at, Split, Task, TaskError};
use crate::answer::{extract, score};
use crate::format::Mode;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Chance {
    pub exact_match: f64,
    pub edit_similarity: f64,
    pub token_accuracy: f64,
    /// Mean log-probability per answer token of a model that spreads its
    /// probability evenly over the vocabulary: −ln(vocab size).
    pub answer_logprob: f64,
}

impl Chance {
    /// The level of a metric by its `scores.csv` name.
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "exact_match" => Some(self.exact_match),
            "edit_similarity" => Some(self.edit_similarity),
            "token_accuracy" => Some(self.token_accuracy),
            "answer_logprob" => Some(self.answer_logprob),
            _ => None,
        }
    }
}

pub fn chance(task: &dyn Task, seed: u64, n: usize) -> Result<Chance, TaskError> {
    let (mut em, mut es, mut ta) = (0.0, 0.0, 0.0);
    for i in 0..n as u64 {
        let item = item_at(task, seed, Split::Test, i)?;
        let mut rng = rng_for(&[
            Part::Str("chance"),
            Part::Str(task.name()),
            Part::U64(seed),
            Part::U64(i),
        ]);
        let other = draw(task, &mut rng, Split::Train, Some(&item))?;
        let s = score(&extract(task, Mode::Direct, &other.answer), &item.answer);
        em += s.exact_match;
        es += s.edit_similarity;
        ta += s.token_accuracy;
    }
    let n = n.max(1) as f64;
    Ok(Chance {
        exact_match: em / n,
        edit_similarity: es / n,
        token_accuracy: ta / n,
        answer_logprob: -(crate::vocab::vocab_size() as f64).ln(),
    })
}
