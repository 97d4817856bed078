//! Few-shot prompts: k solved examples of the same task and mode before the
//! query, exactly as several examples are packed into a training sequence.
//!
//! Exemplars are training-partition items (never test items) drawn next to
//! the query (the same rule for `icl`, training-name `word` problems for
//! `word_ood`), distinct from each other and from the query. They depend on
//! (seed, task, query) but not on the mode, so `direct` and `cot` prompts of
//! an item show the same problems.

use crate::format::Mode;
use crate::hash::{rng_for, Part};
use crate::{draw, Item, Split, Task, TaskError};

#[derive(Debug, Clone, PartialEq)]
pub struct FewShot {
    /// Exemplars' full texts, then the query's prompt (ending with the cue).
    pub prompt: String,
    /// What a perfect model writes next (ends with the newline).
    pub completion: String,
    pub exemplars: Vec<Item>,
}

pub fn few_shot(
    task: &dyn Task,
    query: &Item,
    mode: Mode,
    shots: usize,
    seed: u64,
) -> Result<FewShot, TaskError> {
    let mut rng = rng_for(&[
        Part::Str("fewshot"),
        Part::Str(task.name()),
        Part::U64(seed),
        Part::Str(&query.key),
    ]);
    let mut exemplars: Vec<Item> = Vec::with_capacity(shots);
    let mut tries = 0;
    while exemplars.len() < shots {
        let e = draw(task, &mut rng, Split::Train, Some(query))?;
        if !exemplars.iter().any(|x| x.key == e.key) {
            exemplars.push(e);
        }
        tries += 1;
        if tries > 100 * (shots + 10) {
            return Err(TaskError::Exhausted {
                task: task.name().into(),
                params: task.params(),
                split: Split::Train,
                wanted: shots,
                found: exemplars.len(),
                tries,
            });
        }
    }
    let mut prompt: String = exemplars.iter().map(|e| e.text(mode)).collect();
    prompt += &query.prompt(mode);
    Ok(FewShot {
        prompt,
        completion: query.completion(mode),
        exemplars,
    })
}

/// Upper bound on the tokens of a `shots`-shot example (prompt and
/// completion), so an evaluation can refuse a context that cannot hold it.
pub fn max_len(task: &dyn Task, shots: usize) -> usize {
    (shots + 1) * task.max_len()
}
