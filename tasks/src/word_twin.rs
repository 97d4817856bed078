//! `word_twin`: a `word` training problem with one number changed so that
//! its answer changes (familiar text, changed content: the renamed
//! river-crossing situation turned around). Evaluation only; its few-shot
//! exemplars are ordinary training `word` items.
//!
//! Each item starts from a training-split `word` problem (template, values,
//! training names and noun, as `word`'s generator writes them), changes one
//! value within its template's range so that the problem still solves within
//! `max_result`, its answer differs, and its own key falls in `word`'s test
//! split. So the changed problem never appears in training while the
//! original can. The key holds both: `t2:3,4,7 from 3,4,5`; the original's
//! answer is the parrot answer ([`Task::parrot_answer`]): an output that
//! gives it answered the problem training showed, not the one asked.

use super::hash::is_test_key;
use super::util::normalize_uint;
use super::word::{parse_key, trace, values_key, WordGen};
use super::{Item, Split, Task, WordParams};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Between the twin's key and the original's values.
const FROM: &str = " from ";
/// Changes tried on one original before drawing another.
const TRIES: usize = 32;

pub struct WordTwin {
    train: WordGen,
}

impl WordTwin {
    pub fn new(params: WordParams) -> WordTwin {
        WordTwin {
            train: WordGen::training(params),
        }
    }

    /// The training problem a twin changes, as `word` writes it: the twin's
    /// text with the changed number put back.
    pub fn original(&self, item: &Item) -> Result<Item, String> {
        let (twin_key, orig) = item
            .key
            .split_once(FROM)
            .ok_or_else(|| format!("key `{}` lacks `{}`", item.key, FROM.trim()))?;
        let (t, twin_vals) = parse_key(twin_key)?;
        let (_, orig_vals) = parse_key(&format!("{}:{orig}", t.id))?;
        // Every value stands once in the text, in order.
        let mut runs = Vec::new();
        let mut query = String::new();
        let mut digits = String::new();
        for c in item.query.chars().chain(std::iter::once('.')) {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if !digits.is_empty() {
                let k = runs.len();
                runs.push(std::mem::take(&mut digits));
                match orig_vals.get(k) {
                    Some(v) => query += &v.to_string(),
                    None => return Err("the query has more numbers than the key".into()),
                }
            }
            query.push(c);
        }
        query.pop();
        let twin_text: Vec<String> = twin_vals.iter().map(u64::to_string).collect();
        if runs != twin_text {
            return Err(format!(
                "the query's numbers {runs:?} are not the key's {twin_text:?}"
            ));
        }
        let results = self
            .train
            .solve(t, &orig_vals)
            .ok_or("the original's values do not solve")?;
        Ok(Item::new(
            "word",
            values_key(t.id, &orig_vals),
            query,
            trace(t, &orig_vals, &results),
            results.last().expect("templates have steps").to_string(),
        ))
    }
}

/// The part of a key the partition reads: the twin's own problem.
fn own_key(key: &str) -> &str {
    key.split_once(FROM).map_or(key, |(own, _)| own)
}

impl Task for WordTwin {
    fn name(&self) -> &'static str {
        "word_twin"
    }

    fn family(&self) -> &'static str {
        "word"
    }

    fn params(&self) -> String {
        self.train.describe()
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, anchor: Option<&Item>) -> Item {
        if anchor.is_some() {
            return self.train.candidate(rng);
        }
        loop {
            let orig = self.train.problem(rng);
            if is_test_key("word", &orig.key()) {
                continue;
            }
            for _ in 0..TRIES {
                let k = rng.gen_range(0..orig.vals.len());
                let (lo, hi) = orig.template.ranges[k];
                let v = rng.gen_range(lo..=hi);
                if v == orig.vals[k] {
                    continue;
                }
                let mut vals = orig.vals.clone();
                vals[k] = v;
                let Some(twin) = self.train.with_values(&orig, vals) else {
                    continue;
                };
                if twin.answer() == orig.answer() || !is_test_key("word", &twin.key()) {
                    continue;
                }
                let word = self.train.item(&twin);
                let orig_vals: Vec<String> = orig.vals.iter().map(u64::to_string).collect();
                return Item::new(
                    "word_twin",
                    format!("{}{FROM}{}", word.key, orig_vals.join(",")),
                    word.query,
                    word.trace,
                    word.answer,
                );
            }
        }
    }

    fn in_test(&self, item: &Item) -> bool {
        is_test_key("word", own_key(&item.key))
    }

    fn eval_only(&self) -> bool {
        true
    }

    /// An exemplar is checked as `word`; a twin as the `word` problem it
    /// asks, then against its original: a training problem one value away
    /// whose answer differs.
    fn check(&self, item: &Item) -> Result<(), String> {
        if !item.id.starts_with("word_twin:") {
            return self.train.check(item);
        }
        let own = Item {
            key: own_key(&item.key).to_string(),
            ..item.clone()
        };
        self.train.check(&own)?;
        let orig = self.original(item)?;
        self.train.check(&orig)?;
        if is_test_key("word", &orig.key) {
            return Err(format!("the original {} is a test problem", orig.key));
        }
        let (_, a) = parse_key(&own.key)?;
        let (_, b) = parse_key(&orig.key)?;
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        if changed != 1 {
            return Err(format!("{changed} values changed, not one"));
        }
        if orig.answer == item.answer {
            return Err(format!("the answer {} did not change", item.answer));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        normalize_uint(raw)
    }

    fn max_len(&self) -> usize {
        self.train.max_len()
    }

    fn parrot_answer(&self, item: &Item) -> Option<String> {
        item.id
            .starts_with("word_twin:")
            .then(|| self.original(item).ok().map(|o| o.answer))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{distinct_items, item_at};
    use std::collections::BTreeMap;

    fn twin() -> WordTwin {
        WordTwin::new(WordParams::default())
    }

    /// A query with its numbers replaced by `#`, and the numbers.
    fn skeleton(query: &str) -> (String, Vec<String>) {
        let (mut text, mut nums, mut cur) = (String::new(), Vec::new(), String::new());
        for c in query.chars().chain(std::iter::once('.')) {
            if c.is_ascii_digit() {
                cur.push(c);
            } else {
                if !cur.is_empty() {
                    nums.push(std::mem::take(&mut cur));
                    text.push('#');
                }
                text.push(c);
            }
        }
        (text, nums)
    }

    /// A planted memorizer: it has seen the training problems in `memory`
    /// and answers a question with the answer of the one whose text is
    /// closest (same words, most numbers in common).
    fn memorizer(memory: &[Item]) -> impl Fn(&str) -> Option<String> + '_ {
        let mut by_skeleton: BTreeMap<String, Vec<(Vec<String>, &str)>> = BTreeMap::new();
        for m in memory {
            let (s, nums) = skeleton(&m.query);
            by_skeleton
                .entry(s)
                .or_default()
                .push((nums, m.answer.as_str()));
        }
        move |query: &str| {
            let (s, nums) = skeleton(query);
            let seen = by_skeleton.get(&s)?;
            let same = |n: &[String]| n.iter().zip(&nums).filter(|(a, b)| a == b).count();
            seen.iter()
                .max_by_key(|(n, _)| same(n))
                .map(|(_, a)| a.to_string())
        }
    }

    #[test]
    fn a_memorizer_parrots_and_a_solver_does_not() {
        let t = twin();
        let items = distinct_items(&t, 3, Split::Test, 400).unwrap();
        // What the memorizer saw: each twin's original among 5,000 other
        // training problems.
        let word = crate::by_name("word").unwrap();
        let mut memory: Vec<Item> = (0..5000)
            .map(|i| item_at(word.as_ref(), 3, Split::Train, i).unwrap())
            .collect();
        memory.extend(items.iter().map(|i| t.original(i).unwrap()));
        let recall = memorizer(&memory);
        let rate = |answer: &dyn Fn(&Item) -> Option<String>| {
            let hits = items
                .iter()
                .filter(|i| answer(i) == t.parrot_answer(i))
                .count();
            hits as f64 / items.len() as f64
        };
        let parrot = rate(&|i: &Item| recall(&i.query));
        let solver = rate(&|i: &Item| Some(i.answer.clone()));
        eprintln!(
            "word_twin parrot rate over {} items: memorizer {parrot:.3}, solver {solver:.3}",
            items.len()
        );
        assert!(parrot > 0.95, "memorizer parrot rate {parrot}");
        assert_eq!(solver, 0.0);
        // The memorizer is wrong on the twins: its answers are the originals'.
        let right = items
            .iter()
            .filter(|i| recall(&i.query).as_deref() == Some(i.answer.as_str()))
            .count();
        assert_eq!(right, 0);
    }

    #[test]
    fn twins_change_one_value_of_a_training_problem_into_a_test_problem() {
        let t = twin();
        for i in 0..2000 {
            let item = item_at(&t, 5, Split::Test, i).unwrap();
            t.check(&item)
                .unwrap_or_else(|e| panic!("{}: {e}", item.id));
            let orig = t.original(&item).unwrap();
            assert!(!is_test_key("word", &orig.key), "{}", item.id);
            assert!(t.in_test(&item) && is_test_key("word", own_key(&item.key)));
            assert_eq!(t.parrot_answer(&item), Some(orig.answer.clone()));
            assert_ne!(orig.answer, item.answer);
            // Same words: only the one number differs.
            let (a, b) = (skeleton(&item.query), skeleton(&orig.query));
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.iter().zip(&b.1).filter(|(x, y)| x != y).count(), 1);
        }
        // check is not vacuous: an unchanged or a test-split original fails.
        let item = item_at(&t, 5, Split::Test, 0).unwrap();
        let own = own_key(&item.key).split_once(':').unwrap().1.to_string();
        let same = Item {
            key: format!("{}{FROM}{own}", own_key(&item.key)),
            ..item.clone()
        };
        assert!(t.check(&same).is_err());
        let exemplar = t.candidate(&mut crate::hash::rng_for(&[]), Split::Train, Some(&item));
        assert!(t.parrot_answer(&exemplar).is_none());
    }
}
