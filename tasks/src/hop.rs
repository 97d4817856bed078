//! `hop`: two-hop questions over a synthetic world of people and relations.
//!
//! Training states every fact one hop at a time (`boss of Kem T:boss of
//! Kem=Lor A:Lor`) and asks two-hop questions only for pairs in the training
//! partition; test items are the remaining two-hop questions
//! (`mentor of boss of Kem T:boss of Kem=Lor,mentor of Lor=Bax A:Bax`).
//! The world comes from `world_seed`, not the run seed, so training and
//! evaluation agree on it whatever seeds a sweep uses.

use super::hash::{rng_for, Part};
use super::{HopParams, Item, Split, Task};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Held-out share of the two-hop questions, in per mille.
pub const TWO_HOP_TEST_PER_MILLE: u64 = 500;

pub const RELATIONS: [&str; 4] = ["boss", "mentor", "friend", "rival"];
const FIRST: &[u8] = b"BDFGKLMNPRSTVZ";
const VOWEL: &[u8] = b"aeiou";
const LAST: &[u8] = b"bdgklmnprstvxz";

/// The `i`-th name: consonant-vowel-consonant, spread over the name space by
/// a fixed stride so that neighbouring people do not share letters.
pub fn name(i: usize) -> String {
    let space = FIRST.len() * VOWEL.len() * LAST.len();
    let j = (i * 389) % space;
    let bytes = [
        FIRST[j / (VOWEL.len() * LAST.len())],
        VOWEL[(j / LAST.len()) % VOWEL.len()],
        LAST[j % LAST.len()],
    ];
    String::from_utf8_lossy(&bytes).into_owned()
}

pub struct Hop {
    p: HopParams,
    names: Vec<String>,
    /// `target[r][i]`: the person related to `i` by relation `r`.
    target: Vec<Vec<usize>>,
}

impl Hop {
    pub fn new(p: HopParams) -> Hop {
        let n = p.people as usize;
        let mut rng = rng_for(&[
            Part::Str("hop-world"),
            Part::U64(p.world_seed),
            Part::U64(u64::from(p.people)),
            Part::U64(u64::from(p.relations)),
        ]);
        let target = (0..p.relations)
            .map(|_| (0..n).map(|i| (i + rng.gen_range(1..n)) % n).collect())
            .collect();
        Hop {
            names: (0..n).map(name).collect(),
            p,
            target,
        }
    }

    fn fact(&self, r: usize, i: usize) -> (String, usize) {
        let j = self.target[r][i];
        (
            format!("{} of {}={}", RELATIONS[r], self.names[i], self.names[j]),
            j,
        )
    }

    fn one_hop(&self, r: usize, i: usize) -> Item {
        let (fact, j) = self.fact(r, i);
        Item::new(
            "hop",
            format!("1:{}:{}", RELATIONS[r], self.names[i]),
            format!("{} of {}", RELATIONS[r], self.names[i]),
            fact,
            self.names[j].clone(),
        )
    }

    /// `outer of inner of i`.
    fn two_hop(&self, outer: usize, inner: usize, i: usize) -> Item {
        let (first, j) = self.fact(inner, i);
        let (second, k) = self.fact(outer, j);
        Item::new(
            "hop",
            format!(
                "2:{},{}:{}",
                RELATIONS[outer], RELATIONS[inner], self.names[i]
            ),
            format!(
                "{} of {} of {}",
                RELATIONS[outer], RELATIONS[inner], self.names[i]
            ),
            format!("{first},{second}"),
            self.names[k].clone(),
        )
    }

    fn person(&self, name: &str) -> Result<usize, String> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("`{name}` is nobody in this world"))
    }

    fn relation(&self, rel: &str) -> Result<usize, String> {
        RELATIONS[..self.p.relations as usize]
            .iter()
            .position(|r| *r == rel)
            .ok_or_else(|| format!("`{rel}` is not a relation in this world"))
    }
}

impl Task for Hop {
    fn name(&self) -> &'static str {
        "hop"
    }

    fn params(&self) -> String {
        format!(
            "people={} relations={} two_hop_fraction={} world_seed={}",
            self.p.people, self.p.relations, self.p.two_hop_fraction, self.p.world_seed
        )
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, split: Split, anchor: Option<&Item>) -> Item {
        let two = match anchor {
            Some(a) => a.key.starts_with("2:"),
            None => split == Split::Test || rng.gen_bool(self.p.two_hop_fraction),
        };
        let nr = self.p.relations as usize;
        let i = rng.gen_range(0..self.p.people as usize);
        if two {
            self.two_hop(rng.gen_range(0..nr), rng.gen_range(0..nr), i)
        } else {
            self.one_hop(rng.gen_range(0..nr), i)
        }
    }

    /// Single facts are never held out: the test asks to compose them. Half
    /// of the two-hop questions are held out, not a tenth: a world small
    /// enough for CPU-scale models to memorize has only relations² × people
    /// two-hop questions, and the other half is plenty to teach the format.
    fn in_test(&self, item: &Item) -> bool {
        item.key.starts_with("2:")
            && super::hash::is_test_key_at("hop", &item.key, TWO_HOP_TEST_PER_MILLE)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let words: Vec<&str> = item.query.split(" of ").collect();
        let (rels, who) = words.split_at(words.len() - 1);
        let mut cur = self.person(who[0])?;
        let facts: Vec<&str> = item.trace.split(',').collect();
        if facts.len() != rels.len() || rels.is_empty() {
            return Err("one fact per hop expected".into());
        }
        for (fact, rel) in facts.iter().zip(rels.iter().rev()) {
            let (lhs, rhs) = fact.split_once('=').ok_or("fact lacks `=`")?;
            let r = self.relation(rel)?;
            if lhs != format!("{rel} of {}", self.names[cur]) {
                return Err(format!("fact `{fact}` is about the wrong person"));
            }
            let next = self.person(rhs)?;
            if next != self.target[r][cur] {
                return Err(format!("fact `{fact}` is false in this world"));
            }
            cur = next;
        }
        if self.names[cur] != item.answer {
            return Err(format!(
                "trace reaches {}, answer is {}",
                self.names[cur], item.answer
            ));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        let s = raw.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_alphabetic())).then(|| s.to_string())
    }

    fn max_len(&self) -> usize {
        let rel = RELATIONS[..self.p.relations as usize]
            .iter()
            .map(|r| r.len())
            .max()
            .expect("validated");
        let fact = rel + 4 + 3 + 1 + 3;
        let query = rel + 4 + rel + 4 + 3;
        query + 3 + (fact + 1 + fact) + 3 + 3 + 1
    }
}
