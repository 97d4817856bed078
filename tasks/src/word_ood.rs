//! `word_ood`: `word`'s test problems retold with names and nouns from a
//! held-out list (the "renamed river-crossing" test). Evaluation only; its
//! few-shot exemplars are ordinary training `word` items.
//!
//! The new names and nouns are spelled only with characters `word`'s
//! training text holds (`surface = "seen_chars"`, the default; a test checks
//! every prompt against [`super::word::training_chars`]), so the gap to
//! `word` measures a new surface and not untrained token embeddings. The
//! first list, whose capitals Q, V, W, X, Y and Z training never shows,
//! stays reachable as `surface = "unseen_chars"`.

use super::params::{Surface, WordOodParams};
use super::util::normalize_uint;
use super::word::{WordGen, OOD_NAMES, OOD_NOUNS, UNSEEN_CHAR_NAMES};
use super::{Item, Split, Task};
use rand_chacha::ChaCha8Rng;

pub struct WordOod {
    surface: Surface,
    ood: WordGen,
    train: WordGen,
}

impl WordOod {
    pub fn new(params: WordOodParams) -> WordOod {
        let names: &'static [&'static str] = match params.surface {
            Surface::SeenChars => &OOD_NAMES,
            Surface::UnseenChars => &UNSEEN_CHAR_NAMES,
        };
        WordOod {
            surface: params.surface,
            ood: WordGen {
                task: "word_ood",
                params: params.word(),
                names,
                nouns: &OOD_NOUNS,
            },
            train: WordGen::training(params.word()),
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
        let surface = match self.surface {
            Surface::SeenChars => "seen_chars",
            Surface::UnseenChars => "unseen_chars",
        };
        format!("{} surface={surface}", self.ood.describe())
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
}
