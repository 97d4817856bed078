//! Answer extraction and the per-item metrics that chance levels use.
//!
//! The answer is the text after the last answer cue of the first example in
//! the output (everything after the first newline belongs to an example the
//! model went on to invent). Direct prompts already end with the cue, so a
//! direct output without one is the answer itself; a chain-of-thought output
//! without a cue has no answer. Failures are kept, not hidden: they score as
//! wrong and carry a reason for the samples file.

use crate::format::{Mode, ANSWER_CUE, END};
use crate::Task;
use serde::Serialize;

/// Why no answer could be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Chain of thought that never reached the answer cue.
    NoCue,
    /// Nothing after the cue.
    Empty,
    /// Text after the cue that is not of the task's answer format.
    Malformed,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NoCue => "no_cue",
            Failure::Empty => "empty",
            Failure::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// Trimmed text after the last cue ("" when there is no cue).
    pub raw: String,
    /// The normalized answer, if the output has one.
    pub answer: Option<String>,
    pub failure: Option<Failure>,
}

impl Extraction {
    /// What continuous metrics compare with the gold answer.
    pub fn scored(&self) -> &str {
        self.answer.as_deref().unwrap_or(&self.raw)
    }
}

pub fn extract(task: &dyn Task, mode: Mode, output: &str) -> Extraction {
    let first = output.split(END).next().unwrap_or("");
    let cue = ANSWER_CUE.trim_start();
    let raw = match (first.rfind(cue), mode) {
        (Some(at), _) => &first[at + cue.len()..],
        (None, Mode::Direct) => first,
        (None, Mode::Cot) => {
            return Extraction {
                raw: String::new(),
                answer: None,
                failure: Some(Failure::NoCue),
            }
        }
    };
    let raw = raw.trim().to_string();
    let (answer, failure) = if raw.is_empty() {
        (None, Some(Failure::Empty))
    } else {
        match task.normalize(&raw) {
            Some(a) => (Some(a), None),
            None => (None, Some(Failure::Malformed)),
        }
    };
    Extraction {
        raw,
        answer,
        failure,
    }
}

/// Per-item scores on the three string metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub exact_match: f64,
    pub edit_similarity: f64,
    pub token_accuracy: f64,
}

pub fn score(e: &Extraction, gold: &str) -> Scores {
    Scores {
        exact_match: f64::from(u8::from(e.answer.as_deref() == Some(gold))),
        edit_similarity: edit_similarity(e.scored(), gold),
        token_accuracy: token_accuracy(e.scored(), gold),
    }
}

/// 1 − Levenshtein / max(length): 1 for equal strings, 0 for nothing shared,
/// never negative.
pub fn edit_similarity(pred: &str, gold: &str) -> f64 {
    let longest = pred.chars().count().max(gold.chars().count());
    if longest == 0 {
        return 1.0;
    }
    1.0 - strsim::levenshtein(pred, gold) as f64 / longest as f64
}

/// Share of the gold answer's characters (= tokens) that the prediction has
/// at the same position.
pub fn token_accuracy(pred: &str, gold: &str) -> f64 {
    let n = gold.chars().count();
    if n == 0 {
        return f64::from(u8::from(pred.is_empty()));
    }
    let hits = pred
        .chars()
        .zip(gold.chars())
        .filter(|(p, g)| p == g)
        .count();
    hits as f64 / n as f64
}
