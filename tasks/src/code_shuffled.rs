//! `code_shuffled`: the displacement control of the code ablation. Each item
//! is the `code` item the same draw gives (same parameters, same random
//! numbers, same content key and partition), with the characters of its
//! query, of its trace and of its answer shuffled, each within itself.
//!
//! So an arm that trains `word` 0.75 + `code_shuffled` 0.25 sees, at every
//! stream position, the sequence the `word` 0.75 + `code` 0.25 arm sees with
//! each program's characters permuted: the same token count, the same
//! characters, the same prompt/completion split (and so the same tokens under
//! the loss), and no program left to run. The shuffle is seeded from the
//! draw's random stream without advancing it, so it is decided by (seed,
//! position) and the packing matches the `code` arm's exactly. Training
//! only: it carries no task to score ([`Task::filler`]).

use super::code::Code;
use super::hash::{rng_for, Part};
use super::{CodeParams, Item, Split, Task};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub struct CodeShuffled {
    code: Code,
    params: CodeParams,
}

impl CodeShuffled {
    pub fn new(params: CodeParams) -> CodeShuffled {
        CodeShuffled {
            code: Code::new(params.clone()),
            params,
        }
    }
}

fn shuffled(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut cs: Vec<char> = text.chars().collect();
    cs.shuffle(rng);
    cs.into_iter().collect()
}

fn sorted(text: &str) -> Vec<char> {
    let mut cs: Vec<char> = text.chars().collect();
    cs.sort_unstable();
    cs
}

impl Task for CodeShuffled {
    fn name(&self) -> &'static str {
        "code_shuffled"
    }

    fn family(&self) -> &'static str {
        "code"
    }

    fn params(&self) -> String {
        self.code.params()
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, split: Split, anchor: Option<&Item>) -> Item {
        let item = self.code.candidate(rng, split, anchor);
        let peek: u64 = rng.clone().gen();
        let mut shuffle = rng_for(&[Part::Str("code_shuffled"), Part::U64(peek)]);
        Item {
            id: format!("code_shuffled:{}", item.key),
            query: shuffled(&item.query, &mut shuffle),
            trace: shuffled(&item.trace, &mut shuffle),
            answer: shuffled(&item.answer, &mut shuffle),
            key: item.key,
        }
    }

    fn filler(&self) -> bool {
        true
    }

    /// Each field holds exactly the characters of the `code` item's.
    fn check(&self, item: &Item) -> Result<(), String> {
        let code = self.code.rebuild(&item.key)?;
        for (what, got, want) in [
            ("query", &item.query, &code.query),
            ("trace", &item.trace, &code.trace),
            ("answer", &item.answer, &code.answer),
        ] {
            if sorted(got) != sorted(want) {
                return Err(format!(
                    "the {what} `{got}` is not a shuffle of `{want}` (comments = {})",
                    self.params.comments
                ));
            }
        }
        Ok(())
    }

    /// Any text: the answer is a shuffle, of no format.
    fn normalize(&self, raw: &str) -> Option<String> {
        let s = raw.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    fn max_len(&self) -> usize {
        self.code.max_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{draw, item_at};

    #[test]
    fn items_are_the_code_items_shuffled_field_by_field() {
        for comments in [false, true] {
            let p = CodeParams {
                comments,
                ..Default::default()
            };
            let (code, filler) = (Code::new(p.clone()), CodeShuffled::new(p));
            let mut moved = 0;
            for i in 0..500 {
                // The same random stream gives the same program.
                let rng = || rng_for(&[Part::U64(i)]);
                let c = draw(&code, &mut rng(), Split::Train, None).unwrap();
                let f = draw(&filler, &mut rng(), Split::Train, None).unwrap();
                assert_eq!(c.key, f.key);
                filler.check(&f).unwrap();
                assert_eq!(sorted(&c.query), sorted(&f.query));
                moved += usize::from(c.query != f.query);
                for m in crate::format::Mode::ALL {
                    assert_eq!(c.len(m), f.len(m));
                }
            }
            assert!(moved > 490, "{moved}");
        }
        let f = item_at(
            &CodeShuffled::new(CodeParams::default()),
            2,
            Split::Train,
            0,
        )
        .unwrap();
        let bad = Item {
            answer: format!("{}1", f.answer),
            ..f.clone()
        };
        assert!(CodeShuffled::new(CodeParams::default())
            .check(&bad)
            .is_err());
    }
}
