//! `icl`: in-context learning. A rule is drawn fresh for each training
//! sequence (and each few-shot prompt) and every example in it shares the
//! rule, so the only way to answer is to infer it from the examples before.
//! Rules map each symbol of a short string:
//! `affine` y = (a·x + b) mod 10 per digit, a ∈ {1,3,7,9} (a bijection),
//! `shift` the affine rules with a = 1 (10 rules instead of 40),
//! `subst` a random permutation of the letters a–h.
//! `map 407 T:3x+2:4>4,0>2,7>3 A:423` — name the rule, then apply it.
//!
//! A training sequence also keeps one mode, so its (k+1)-th example is a
//! k-shot prompt; a model that cannot read the rule off the exemplars can
//! only guess one of the family (chance: 1/10 for `shift`).

use super::util::pick;
use super::{IclParams, Item, Split, Task};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const LETTERS: &[u8] = b"abcdefgh";
const SLOPES: [u8; 4] = [1, 3, 7, 9];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Affine {
        a: u8,
        b: u8,
    },
    /// The image of each letter of `LETTERS`.
    Subst(Vec<u8>),
}

impl Rule {
    fn apply(&self, c: u8) -> u8 {
        match self {
            Rule::Affine { a, b } => b'0' + (a * (c - b'0') + b) % 10,
            Rule::Subst(img) => img[usize::from(c - b'a')],
        }
    }

    fn alphabet(&self) -> &'static [u8] {
        match self {
            Rule::Affine { .. } => b"0123456789",
            Rule::Subst(_) => LETTERS,
        }
    }

    fn key(&self) -> String {
        match self {
            Rule::Affine { a, b } => format!("affine:{a},{b}"),
            Rule::Subst(img) => format!("subst:{}", String::from_utf8_lossy(img)),
        }
    }

    fn parse(key: &str) -> Result<Rule, String> {
        if let Some(ab) = key.strip_prefix("affine:") {
            let (a, b) = ab.split_once(',').ok_or("bad affine rule")?;
            let (a, b) = (
                a.parse().map_err(|_| "bad a")?,
                b.parse().map_err(|_| "bad b")?,
            );
            if !SLOPES.contains(&a) || b > 9 {
                return Err(format!("affine rule {a},{b} out of range"));
            }
            return Ok(Rule::Affine { a, b });
        }
        let img = key.strip_prefix("subst:").ok_or("unknown rule")?.as_bytes();
        let mut sorted = img.to_vec();
        sorted.sort_unstable();
        if sorted != LETTERS {
            return Err("substitution is not a permutation of a-h".into());
        }
        Ok(Rule::Subst(img.to_vec()))
    }
}

pub struct Icl {
    p: IclParams,
}

impl Icl {
    pub fn new(p: IclParams) -> Icl {
        Icl { p }
    }

    fn fresh_rule(&self, rng: &mut ChaCha8Rng) -> Rule {
        match pick(rng, &self.p.rules).as_str() {
            "affine" => Rule::Affine {
                a: *pick(rng, &SLOPES),
                b: rng.gen_range(0..10),
            },
            "shift" => Rule::Affine {
                a: 1,
                b: rng.gen_range(0..10),
            },
            _ => {
                let mut img = LETTERS.to_vec();
                img.shuffle(rng);
                Rule::Subst(img)
            }
        }
    }
}

pub fn render(rule: &Rule, query: &[u8]) -> Item {
    let q = String::from_utf8_lossy(query).into_owned();
    let maps: Vec<String> = query
        .iter()
        .map(|&c| format!("{}>{}", c as char, rule.apply(c) as char))
        .collect();
    let named = match rule {
        Rule::Affine { a, b } => format!("{a}x+{b}:"),
        Rule::Subst(_) => String::new(),
    };
    let answer: String = query.iter().map(|&c| rule.apply(c) as char).collect();
    Item::new(
        "icl",
        format!("{}|{q}", rule.key()),
        format!("map {q}"),
        format!("{named}{}", maps.join(",")),
        answer,
    )
}

fn rule_of(item: &Item) -> Result<Rule, String> {
    Rule::parse(item.key.split_once('|').ok_or("key lacks `|`")?.0)
}

impl Task for Icl {
    fn name(&self) -> &'static str {
        "icl"
    }

    fn params(&self) -> String {
        match self.p.min_len {
            Some(min) => format!("rules={:?} len={min}..={}", self.p.rules, self.p.len),
            None => format!("rules={:?} len={}", self.p.rules, self.p.len),
        }
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, anchor: Option<&Item>) -> Item {
        let rule = match anchor.map(rule_of) {
            Some(Ok(rule)) => rule,
            _ => self.fresh_rule(rng),
        };
        let len = match self.p.min_len {
            Some(min) => rng.gen_range(min..=self.p.len),
            None => self.p.len,
        };
        let query: Vec<u8> = (0..len).map(|_| *pick(rng, rule.alphabet())).collect();
        render(&rule, &query)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let rule = rule_of(item)?;
        let q = item.query.strip_prefix("map ").ok_or("no `map ` prefix")?;
        if format!("{}|{q}", rule.key()) != item.key {
            return Err("query does not match key".into());
        }
        let maps = match (&rule, item.trace.split_once(':')) {
            (Rule::Affine { a, b }, Some((named, maps))) if named == format!("{a}x+{b}") => maps,
            (Rule::Affine { .. }, _) => return Err("trace does not name the affine rule".into()),
            (Rule::Subst(_), _) => item.trace.as_str(),
        };
        let mut reached = String::new();
        let maps: Vec<&str> = maps.split(',').collect();
        if maps.len() != q.len() {
            return Err("one map per query symbol expected".into());
        }
        for (m, c) in maps.iter().zip(q.bytes()) {
            let mb = m.as_bytes();
            if mb.len() != 3 || mb[0] != c || mb[1] != b'>' || mb[2] != rule.apply(c) {
                return Err(format!("map `{m}` is wrong for `{}`", c as char));
            }
            reached.push(mb[2] as char);
        }
        if reached != item.answer {
            return Err(format!(
                "trace reaches {reached}, answer is {}",
                item.answer
            ));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        let s = raw.trim();
        let ok = !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_digit() || LETTERS.contains(&c));
        ok.then(|| s.to_string())
    }

    fn one_mode_per_sequence(&self) -> bool {
        true
    }

    fn guess(&self, rng: &mut ChaCha8Rng, item: &Item) -> Option<Item> {
        let query = item.query.strip_prefix("map ")?;
        // A rule of the item's own alphabet: with digits and letters both
        // configured, a guess never maps letters with a digit rule.
        let alphabet = rule_of(item).ok()?.alphabet();
        let rule = (0..1000)
            .map(|_| self.fresh_rule(rng))
            .find(|r| r.alphabet() == alphabet)?;
        Some(render(&rule, query.as_bytes()))
    }

    fn max_len(&self) -> usize {
        let n = self.p.len as usize;
        let named = if self.p.rules.iter().any(|r| r == "affine" || r == "shift") {
            5
        } else {
            0
        };
        let query = 4 + n;
        let trace = named + 4 * n - 1;
        query + 3 + trace + 3 + n + 1
    }
}
