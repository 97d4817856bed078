//! `word`: GSM8K-style templated word problems of 2–4 steps, one equation
//! per step: `Ava uses 3 eggs a day. How many dozen eggs in 4 weeks? T:3*7=21,21*4=84,84/12=7 A:7`.
//!
//! The content key is the template and its numbers, not the names: a test
//! problem is numerically new, and `word_ood` asks the same test problems
//! with names and nouns that training never contains.

use super::util::{equation, normalize_uint, num, pick};
use super::{Item, Split, Task, WordParams};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::sync::OnceLock;

pub const TRAIN_NAMES: [&str; 20] = [
    "Ava", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivy", "Jack", "Kim", "Leo", "Mia",
    "Nora", "Omar", "Pia", "Raj", "Sam", "Tara", "Uma",
];
pub const TRAIN_NOUNS: [&str; 10] = [
    "apples", "eggs", "pens", "cards", "books", "shells", "stamps", "cookies", "marbles", "coins",
];
/// `word_ood`'s names: new words spelled only with characters that `word`'s
/// training text holds (`training_chars`), so a `word_ood` prompt holds no
/// token whose embedding training never updated.
pub const OOD_NAMES: [&str; 10] = [
    "Bruno", "Carla", "Dario", "Elsa", "Greta", "Hugo", "Ines", "Lars", "Olga", "Sven",
];
pub const OOD_NOUNS: [&str; 6] = ["plums", "bolts", "tiles", "gems", "kites", "figs"];
/// The names of `word_ood` with `surface = "unseen_chars"`: six of them
/// begin with a capital (Q, V, W, X, Y, Z) that `word`'s training text never
/// holds, so those prompts carry untrained embeddings as well as new words.
pub const UNSEEN_CHAR_NAMES: [&str; 10] = [
    "Wren", "Xena", "Yuri", "Zane", "Bjorn", "Quincy", "Odette", "Ingrid", "Vlad", "Kofi",
];

/// A problem template. In `text`, `{A}` `{B}` `{C}` are distinct names,
/// `{n}` the noun and `{0}`.. the values; in `steps`, `{k}` is a value and
/// `[k]` the result of step k.
pub struct Template {
    pub id: &'static str,
    pub text: &'static str,
    pub ranges: &'static [(u64, u64)],
    pub steps: &'static [&'static str],
    /// Step results, or `None` when the values make no sensible problem.
    pub solve: fn(&[u64]) -> Option<Vec<u64>>,
}

impl Template {
    fn n_steps(&self) -> u32 {
        self.steps.len() as u32
    }
}

/// One problem before it is written out: a template with its values and
/// step results, three distinct names and a noun.
#[derive(Clone)]
pub struct Problem {
    pub template: &'static Template,
    pub vals: Vec<u64>,
    pub results: Vec<u64>,
    pub names: [&'static str; 3],
    pub noun: &'static str,
}

impl Problem {
    /// The content key: the template and its values (not the names).
    pub fn key(&self) -> String {
        values_key(self.template.id, &self.vals)
    }

    pub fn answer(&self) -> u64 {
        *self.results.last().expect("templates have steps")
    }
}

/// `t2:3,4,5`: a template id and its values.
pub fn values_key(id: &str, vals: &[u64]) -> String {
    let vals: Vec<String> = vals.iter().map(u64::to_string).collect();
    format!("{id}:{}", vals.join(","))
}

pub const TEMPLATES: [Template; 7] = [
    Template {
        id: "t1",
        text: "{A} uses {0} {n} a day. How many dozen {n} in {1} weeks?",
        ranges: &[(1, 20), (2, 12)],
        steps: &["{0}*7", "[0]*{1}", "[1]/12"],
        solve: |v| {
            let y = v[0] * 7 * v[1];
            (y % 12 == 0).then(|| vec![v[0] * 7, y, y / 12])
        },
    },
    Template {
        id: "t2",
        text: "{A} has {0} boxes of {1} {n} and gives away {2}. How many {n} are left?",
        ranges: &[(2, 9), (2, 12), (1, 30)],
        steps: &["{0}*{1}", "[0]-{2}"],
        solve: |v| {
            let x = v[0] * v[1];
            (v[2] < x).then(|| vec![x, x - v[2]])
        },
    },
    Template {
        id: "t3",
        text: "{A} buys {0} {n} at {1} dollars each and pays with {2} dollars. How much change?",
        ranges: &[(2, 9), (2, 9), (10, 100)],
        steps: &["{0}*{1}", "{2}-[0]"],
        solve: |v| {
            let x = v[0] * v[1];
            (v[2] > x && v[2] % 10 == 0).then(|| vec![x, v[2] - x])
        },
    },
    Template {
        id: "t4",
        text: "{A} has {0} {n}. {B} has {1} more than {A}. {C} has twice as many as {B}. How many {n} in all?",
        ranges: &[(2, 30), (1, 20)],
        steps: &["{0}+{1}", "[0]*2", "{0}+[0]+[1]"],
        solve: |v| {
            let x = v[0] + v[1];
            Some(vec![x, x * 2, v[0] + x + x * 2])
        },
    },
    Template {
        id: "t5",
        text: "{A} has {0} {n} and buys {1} packs of {2}, then gives {3} to {B}. How many {n} are left?",
        ranges: &[(2, 20), (2, 9), (2, 12), (1, 30)],
        steps: &["{1}*{2}", "{0}+[0]", "[1]-{3}"],
        solve: |v| {
            let x = v[1] * v[2];
            let y = v[0] + x;
            (v[3] < y).then(|| vec![x, y, y - v[3]])
        },
    },
    Template {
        id: "t6",
        text: "{A} picks {0} {n} a day for {1} days and {2} a day for {3} days, then splits them evenly with {B}. How many does each get?",
        ranges: &[(2, 9), (2, 7), (2, 9), (2, 7)],
        steps: &["{0}*{1}", "{2}*{3}", "[0]+[1]", "[2]/2"],
        solve: |v| {
            let (x, y) = (v[0] * v[1], v[2] * v[3]);
            ((x + y) % 2 == 0).then(|| vec![x, y, x + y, (x + y) / 2])
        },
    },
    Template {
        id: "t7",
        text: "{A} sells {0} {n} on Monday and twice as many on Tuesday at {1} dollars each, then spends {2} dollars. How many dollars are left?",
        ranges: &[(2, 15), (2, 9), (1, 40)],
        steps: &["{0}*2", "{0}+[0]", "[1]*{1}", "[2]-{2}"],
        solve: |v| {
            let m = 3 * v[0] * v[1];
            (v[2] < m).then(|| vec![2 * v[0], 3 * v[0], m, m - v[2]])
        },
    },
];

fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

/// The template and values of a key (`t2:3,4,5`).
pub fn parse_key(key: &str) -> Result<(&'static Template, Vec<u64>), String> {
    let (id, vals) = key.split_once(':').ok_or("key lacks `:`")?;
    let t = template(id).ok_or("unknown template")?;
    let vals: Vec<u64> = vals.split(',').map(num).collect::<Result<_, _>>()?;
    if vals.len() != t.ranges.len() {
        return Err(format!("template {id} takes {} values", t.ranges.len()));
    }
    Ok((t, vals))
}

/// Substitute `{k}` (values) and `[k]` (step results) into a step pattern.
fn fill(pattern: &str, vals: &[u64], results: &[u64]) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' => {
                let k: String = chars.by_ref().take_while(|c| c.is_ascii_digit()).collect();
                let k: usize = k.parse().expect("template patterns are well formed");
                out += &if c == '{' { vals[k] } else { results[k] }.to_string();
            }
            _ => out.push(c),
        }
    }
    out
}

fn render_text(t: &Template, names: [&str; 3], noun: &str, vals: &[u64]) -> String {
    let mut s = t
        .text
        .replace("{A}", names[0])
        .replace("{B}", names[1])
        .replace("{C}", names[2])
        .replace("{n}", noun);
    for (k, v) in vals.iter().enumerate() {
        s = s.replace(&format!("{{{k}}}"), &v.to_string());
    }
    s
}

pub(crate) fn trace(t: &Template, vals: &[u64], results: &[u64]) -> String {
    t.steps
        .iter()
        .zip(results)
        .map(|(pat, r)| format!("{}={r}", fill(pat, vals, results)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Longest digit count of each value and step result over a template's
/// whole value space (computed once; the spaces are small).
fn widths(t: &Template) -> &'static (Vec<u64>, Vec<u64>) {
    static CACHE: OnceLock<Vec<(Vec<u64>, Vec<u64>)>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        TEMPLATES
            .iter()
            .map(|t| {
                let mut vmax = vec![0u64; t.ranges.len()];
                let mut rmax = vec![0u64; t.steps.len()];
                let mut vals: Vec<u64> = t.ranges.iter().map(|r| r.0).collect();
                loop {
                    if let Some(rs) = (t.solve)(&vals) {
                        for (m, v) in vmax.iter_mut().zip(&vals) {
                            *m = (*m).max(*v);
                        }
                        for (m, r) in rmax.iter_mut().zip(&rs) {
                            *m = (*m).max(*r);
                        }
                    }
                    let mut k = 0;
                    loop {
                        if k == vals.len() {
                            return (vmax, rmax);
                        }
                        if vals[k] < t.ranges[k].1 {
                            vals[k] += 1;
                            break;
                        }
                        vals[k] = t.ranges[k].0;
                        k += 1;
                    }
                }
            })
            .collect()
    });
    let i = TEMPLATES
        .iter()
        .position(|u| std::ptr::eq(u, t))
        .expect("a template of the table");
    &all[i]
}

/// The generator behind `word` and `word_ood`: templates of the requested
/// step counts, filled from one list of names and one of nouns.
pub struct WordGen {
    pub task: &'static str,
    pub params: WordParams,
    pub names: &'static [&'static str],
    pub nouns: &'static [&'static str],
}

impl WordGen {
    fn templates(&self) -> Vec<&'static Template> {
        TEMPLATES
            .iter()
            .filter(|t| self.params.steps.contains(&t.n_steps()))
            .collect()
    }

    /// The parameters in one line, for listings and errors.
    pub fn describe(&self) -> String {
        format!(
            "steps={:?} max_result={}",
            self.params.steps, self.params.max_result
        )
    }

    /// The template's step results, if the values make a problem whose
    /// every step stays within `max_result`.
    pub fn solve(&self, t: &Template, vals: &[u64]) -> Option<Vec<u64>> {
        let rs = (t.solve)(vals)?;
        rs.iter()
            .all(|&r| r <= u64::from(self.params.max_result))
            .then_some(rs)
    }

    pub fn candidate(&self, rng: &mut ChaCha8Rng) -> Item {
        self.item(&self.problem(rng))
    }

    /// A random problem of the parameters: template, values, names, noun.
    pub fn problem(&self, rng: &mut ChaCha8Rng) -> Problem {
        let ts = self.templates();
        let t = *pick(rng, &ts);
        // Every template has solvable values at a density above 1/50 with
        // results up to 99 (the smallest `max_result`).
        let (vals, results) = loop {
            let vals: Vec<u64> = t
                .ranges
                .iter()
                .map(|&(lo, hi)| rng.gen_range(lo..=hi))
                .collect();
            if let Some(rs) = self.solve(t, &vals) {
                break (vals, rs);
            }
        };
        let mut names: [&'static str; 3] = [""; 3];
        for k in 0..3 {
            names[k] = loop {
                let n = *pick(rng, self.names);
                if !names[..k].contains(&n) {
                    break n;
                }
            };
        }
        let noun = *pick(rng, self.nouns);
        Problem {
            template: t,
            vals,
            results,
            names,
            noun,
        }
    }

    /// The same problem with other values, if they make one within the
    /// parameters (the wording, names and noun stay).
    pub fn with_values(&self, p: &Problem, vals: Vec<u64>) -> Option<Problem> {
        let results = self.solve(p.template, &vals)?;
        Some(Problem {
            vals,
            results,
            ..p.clone()
        })
    }

    /// The item of a problem, as this generator's task writes it.
    pub fn item(&self, p: &Problem) -> Item {
        Item::new(
            self.task,
            p.key(),
            render_text(p.template, p.names, p.noun, &p.vals),
            trace(p.template, &p.vals, &p.results),
            p.answer().to_string(),
        )
    }

    /// Every character this generator's text can hold: its templates' words
    /// and step operators, its names and nouns, digits, and the format's cues.
    pub fn chars(&self) -> BTreeSet<char> {
        let outside_braces = |text: &str| -> Vec<char> {
            let mut depth = 0;
            text.chars()
                .filter(|&c| {
                    match c {
                        '{' | '[' => depth += 1,
                        '}' | ']' => depth -= 1,
                        _ => return depth == 0,
                    }
                    false
                })
                .collect()
        };
        let mut out: BTreeSet<char> = ('0'..='9').collect();
        for t in self.templates() {
            out.extend(outside_braces(t.text));
            for step in t.steps {
                out.extend(outside_braces(step));
            }
        }
        // A trace's steps are joined by commas, each ends in `=result`.
        out.extend([',', '=']);
        for w in self.names.iter().chain(self.nouns) {
            out.extend(w.chars());
        }
        out.extend(crate::format::THINK_CUE.chars());
        out.extend(crate::format::ANSWER_CUE.chars());
        out.insert(crate::format::END);
        out
    }

    /// Every number in the trace must be a value of the query or an earlier
    /// result, every equation must hold, and the key's values must solve
    /// to the same chain.
    pub fn check(&self, item: &Item) -> Result<(), String> {
        let (t, vals) = parse_key(&item.key)?;
        let results = self.solve(t, &vals).ok_or("key values do not solve")?;
        let query_nums: Vec<u64> = item
            .query
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(num)
            .collect::<Result<_, _>>()?;
        let mut known = query_nums.clone();
        known.extend([7, 12, 2]);
        let steps: Vec<&str> = item.trace.split(',').collect();
        if steps.len() != t.steps.len() {
            return Err("wrong number of steps".into());
        }
        for (step, want) in steps.iter().zip(&results) {
            let (lhs, rhs) = equation(step)?;
            let op = ['+', '-', '*', '/']
                .into_iter()
                .find(|&o| lhs.contains(o))
                .ok_or("step has no operator")?;
            let terms: Vec<u64> = lhs.split(op).map(num).collect::<Result<_, _>>()?;
            if let Some(t) = terms.iter().find(|t| !known.contains(t)) {
                return Err(format!(
                    "step `{step}` uses {t}, which nothing before gives"
                ));
            }
            let mut acc = terms[0];
            for &x in &terms[1..] {
                acc = match op {
                    '+' => acc + x,
                    '-' => acc.checked_sub(x).ok_or("negative result")?,
                    '*' => acc * x,
                    _ if x != 0 && acc.is_multiple_of(x) => acc / x,
                    _ => return Err(format!("step `{step}` does not divide evenly")),
                };
            }
            let r = num(rhs)?;
            if acc != r || r != *want {
                return Err(format!("step `{step}` is wrong"));
            }
            known.push(r);
        }
        if results.last().map(u64::to_string).as_deref() != Some(item.answer.as_str()) {
            return Err(format!("trace does not reach the answer {}", item.answer));
        }
        Ok(())
    }

    pub fn max_len(&self) -> usize {
        let name = self.names.iter().map(|n| n.len()).max().unwrap_or(0);
        let noun = self.nouns.iter().map(|n| n.len()).max().unwrap_or(0);
        let long = "x".repeat(name);
        self.templates()
            .into_iter()
            .map(|t| {
                let (vmax, rmax) = widths(t);
                let q = render_text(t, [&long, &long, &long], &"x".repeat(noun), vmax);
                let tr = trace(t, vmax, rmax);
                let ans = rmax.last().expect("steps").to_string();
                crate::format::example_len(&q, &tr, &ans, crate::format::Mode::Cot)
            })
            .max()
            .expect("validated: some template has the requested steps")
    }
}

pub struct Word {
    gen: WordGen,
}

impl Word {
    pub fn new(params: WordParams) -> Word {
        Word {
            gen: WordGen::training(params),
        }
    }
}

impl WordGen {
    /// `word`'s own generator: training names and nouns.
    pub fn training(params: WordParams) -> WordGen {
        WordGen {
            task: "word",
            params,
            names: &TRAIN_NAMES,
            nouns: &TRAIN_NOUNS,
        }
    }
}

/// Every character `word`'s training text holds with these parameters
/// (from its templates, names and nouns: see [`WordGen::chars`]).
pub fn training_chars(params: &WordParams) -> BTreeSet<char> {
    WordGen::training(params.clone()).chars()
}

impl Task for Word {
    fn name(&self) -> &'static str {
        "word"
    }

    fn params(&self) -> String {
        self.gen.describe()
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        self.gen.candidate(rng)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        self.gen.check(item)
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        normalize_uint(raw)
    }

    fn max_len(&self) -> usize {
        self.gen.max_len()
    }
}
