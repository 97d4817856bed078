//! `word_ood`: `word`'s test problems retold with names and nouns from a
//! held-out list (the "renamed river-crossing" test). Evaluation only;
//! its few-shot exemplars are ordinary training `word` items. Per output it
//! reports whether the model mentions a name or noun of the training lists
//! (the parrot flag).

use super::util::normalize_uint;
use super::word::{WordGen, OOD_NAMES, OOD_NOUNS, TRAIN_NAMES, TRAIN_NOUNS};
use super::{Item, Split, Task, WordParams};
use rand_chacha::ChaCha8Rng;

pub struct WordOod {
    ood: WordGen,
    train: WordGen,
}

impl WordOod {
    pub fn new(params: WordParams) -> WordOod {
        WordOod {
            ood: WordGen {
                task: "word_ood",
                params: params.clone(),
                names: &OOD_NAMES,
                nouns: &OOD_NOUNS,
            },
            train: WordGen {
                task: "word",
                params,
                names: &TRAIN_NAMES,
                nouns: &TRAIN_NOUNS,
            },
        }
    }
}

impl Task for WordOod {
    fn name(&self) -> &'static str {
        "word_ood"
    }

    fn family(&self) -> &'static str {
        "word"
    }

    fn params(&self) -> String {
        self.ood.describe()
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, anchor: Option<&Item>) -> Item {
        match anchor {
            Some(_) => self.train.candidate(rng),
            None => self.ood.candidate(rng),
        }
    }

    fn eval_only(&self) -> bool {
        true
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let gen = if item.id.starts_with("word_ood:") {
            &self.ood
        } else {
            &self.train
        };
        gen.check(item)
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        normalize_uint(raw)
    }

    fn max_len(&self) -> usize {
        self.ood.max_len().max(self.train.max_len())
    }

    fn mentions_training_name(&self, output: &str) -> Option<bool> {
        Some(
            output
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|w| TRAIN_NAMES.contains(&w) || TRAIN_NOUNS.contains(&w)),
        )
    }
}
