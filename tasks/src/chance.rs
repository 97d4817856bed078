//! Chance levels: the score of answers of the right format but no skill.
//!
//! A "random answer" for a test item is the gold answer of another training
//! item drawn next to it (same question kind for `hop`), so it has the
//! task's answer format and distribution; for `icl` it is the query under a
//! rule drawn fresh from the family (`Task::guess`), the answer of a model
//! that knows the format and the rules but cannot read which rule the
//! exemplars show: 1/10 exact match for `shift`, at every shot count. The
//! mean score of those over `n` test items is the chance level the plots
//! draw.
//!
//! Token accuracy is teacher forced over the whole completion the mode asks
//! for (see `runfolder::schema::metric`), so its chance level compares the
//! other item's completion with the gold one: the answer in direct mode, the
//! trace, answer cue and answer in chain-of-thought mode.
//!
//! `word_twin`'s parrot rate has a chance level too: how often such an
//! answer happens to equal the changed training problem's answer.

use super::hash::{rng_for, Part};
use super::{draw, item_at, Split, Task, TaskError};
use crate::answer::{extract, score, token_accuracy};
use crate::format::{self, Mode};
use runfolder::schema::metric;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Chance {
    pub exact_match: f64,
    pub edit_similarity: f64,
    pub token_accuracy: f64,
    /// Mean log-probability per completion token of a model that spreads its
    /// probability evenly over the vocabulary: −ln(vocab size).
    pub completion_logprob: f64,
    /// `word_twin`: the share of those answers that equal the original
    /// training problem's answer (the parrot rate of a guesser).
    pub parrot: Option<f64>,
}

impl Chance {
    /// The level of a metric by its `scores.csv` name.
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            metric::EXACT_MATCH => Some(self.exact_match),
            metric::EDIT_SIMILARITY => Some(self.edit_similarity),
            metric::TOKEN_ACCURACY => Some(self.token_accuracy),
            metric::COMPLETION_LOGPROB => Some(self.completion_logprob),
            metric::PARROT => self.parrot,
            _ => None,
        }
    }
}

/// The text teacher forcing scores in `mode`: the completion without its end.
pub fn scored_completion(trace: &str, answer: &str, mode: Mode) -> String {
    let full = format::completion(trace, answer, mode);
    full.strip_suffix(format::END).unwrap_or(&full).to_string()
}

pub fn chance(task: &dyn Task, mode: Mode, seed: u64, n: usize) -> Result<Chance, TaskError> {
    let (mut em, mut es, mut ta) = (0.0, 0.0, 0.0);
    let mut parrot: Option<f64> = None;
    for i in 0..n as u64 {
        let item = item_at(task, seed, Split::Test, i)?;
        let mut rng = rng_for(&[
            Part::Str("chance"),
            Part::Str(task.name()),
            Part::U64(seed),
            Part::U64(i),
        ]);
        let other = match task.guess(&mut rng, &item) {
            Some(guess) => guess,
            None => draw(task, &mut rng, Split::Train, Some(&item))?,
        };
        let s = score(&extract(task, Mode::Direct, &other.answer), &item.answer);
        em += s.exact_match;
        if let Some(a) = task.parrot_answer(&item) {
            *parrot.get_or_insert(0.0) += f64::from(u8::from(other.answer == a));
        }
        es += s.edit_similarity;
        ta += token_accuracy(
            &scored_completion(&other.trace, &other.answer, mode),
            &scored_completion(&item.trace, &item.answer, mode),
        );
    }
    let n = n.max(1) as f64;
    Ok(Chance {
        exact_match: em / n,
        edit_similarity: es / n,
        token_accuracy: ta / n,
        completion_logprob: -(crate::vocab::vocab_size() as f64).ln(),
        parrot: parrot.map(|p| p / n),
    })
}
