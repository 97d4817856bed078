//! Difficulty parameters of every task, as the sweep config spells them.
//!
//! Each struct is a TOML table (`deny_unknown_fields`, missing keys take the
//! defaults); [`TaskConfig::validate`] names the task, key and value of
//! anything out of range before a generator is built.

use super::{TaskError, TASK_NAMES};
use serde::{Deserialize, Deserializer, Serialize};

/// `add`: a + b with both operands `digits` long (a set: one is drawn per item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddParams {
    pub digits: Vec<u32>,
}

impl Default for AddParams {
    fn default() -> Self {
        AddParams { digits: vec![3] }
    }
}

/// `mul`: a × b with `a_digits` and `b_digits` long operands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MulParams {
    pub a_digits: Vec<u32>,
    pub b_digits: Vec<u32>,
}

impl Default for MulParams {
    fn default() -> Self {
        MulParams {
            a_digits: vec![2],
            b_digits: vec![2],
        }
    }
}

/// `sort`: lists of `k` numbers from 0 to `max`. The default is single
/// digits (one token each): with two-digit numbers, models up to 336k
/// parameters sorted nothing at CPU scale (docs/CALIBRATION.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SortParams {
    pub k: Vec<u32>,
    pub max: u32,
}

impl Default for SortParams {
    fn default() -> Self {
        SortParams { k: vec![6], max: 9 }
    }
}

/// `word`, `word_ood` and `word_twin`: templated problems of `steps` steps (2–4) whose
/// every step result is at most `max_result`. The default, 99, keeps each
/// step a one- or two-digit operation; with three- and four-digit steps
/// (`45*9=405`, `140*12=1680`) models up to 336k parameters solved nothing at
/// CPU scale (docs/CALIBRATION.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WordParams {
    pub steps: Vec<u32>,
    pub max_result: u32,
}

impl Default for WordParams {
    fn default() -> Self {
        WordParams {
            steps: vec![2, 3, 4],
            max_result: 99,
        }
    }
}

/// How `word_ood` spells its new names and nouns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// New words made only of characters `word`'s training text holds: the
    /// gap to `word` measures a new surface alone.
    SeenChars,
    /// The first list, six of whose names begin with a capital training
    /// never shows: the gap also holds untrained token embeddings.
    UnseenChars,
}

/// `word_ood`: `word`'s parameters, and which list of new names it uses
/// (`surface`, default `seen_chars`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WordOodParams {
    pub steps: Vec<u32>,
    pub max_result: u32,
    pub surface: Surface,
}

impl Default for WordOodParams {
    fn default() -> Self {
        let w = WordParams::default();
        WordOodParams {
            steps: w.steps,
            max_result: w.max_result,
            surface: Surface::SeenChars,
        }
    }
}

impl WordOodParams {
    /// The `word` parameters of the same problems.
    pub fn word(&self) -> WordParams {
        WordParams {
            steps: self.steps.clone(),
            max_result: self.max_result,
        }
    }
}

/// `modp`: (a op b) mod `modulus` for op in `ops` (`+`, `-`, `*`). The
/// default leaves out `*`: its trace needs four-digit products and a
/// quotient by p, and models up to 336k parameters stayed at chance with it
/// (docs/CALIBRATION.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModpParams {
    pub ops: Vec<String>,
    pub modulus: u32,
}

impl Default for ModpParams {
    fn default() -> Self {
        ModpParams {
            ops: vec!["+".into(), "-".into()],
            modulus: 97,
        }
    }
}

/// `icl`: rule families (`affine`: y = (a·x + b) mod 10 per digit,
/// `shift`: the affine rules with a = 1, y = (x + b) mod 10, whose table a
/// small model learns sooner; `subst`: a letter substitution over a–h) and
/// the query length `len`, or, with `min_len`, a length drawn from
/// `min_len..=len` for each item, so that examples start at varying
/// positions and a model cannot find the exemplars' rule by absolute
/// position alone.
/// The default is `affine` alone: k exemplars of a substitution often leave a
/// query letter unmapped (at 4 shots of length 3, about half the queries), so
/// even a perfect in-context learner could not reach a high score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IclParams {
    pub rules: Vec<String>,
    pub len: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_len: Option<u32>,
}

impl Default for IclParams {
    fn default() -> Self {
        IclParams {
            rules: vec!["affine".into()],
            len: 3,
            min_len: None,
        }
    }
}

/// `hop`: a world of `people` with `relations` relation kinds, built from
/// `world_seed` (not the run seed, so training and evaluation always agree);
/// `two_hop_fraction` of training items are two-hop questions. The default
/// world (100 people, 4 relations: 400 facts) is small enough to memorize at
/// CPU scale and still has 1,600 two-hop questions, half of them held out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HopParams {
    pub people: u32,
    pub relations: u32,
    pub two_hop_fraction: f64,
    pub world_seed: u64,
}

impl Default for HopParams {
    fn default() -> Self {
        HopParams {
            people: 100,
            relations: 4,
            two_hop_fraction: 0.5,
            world_seed: 0,
        }
    }
}

/// `code` (and `code_shuffled`, which shuffles its text): programs of
/// `lines` statements before the final `print` (a set,
/// 3..=8: one is drawn per item), over `a`, `b`, `c`: `a` and `b` set to
/// constants 1..=9, then assignments, at most one `repeat` loop and at most
/// one `if`. Every value a program reaches stays in 0..=`max_value` (at
/// least 9, the largest constant). `comments = true` follows each statement
/// with a phrase in words; the programs and their partition are the same
/// either way. The default, 3–5 lines up to 99, keeps a chain-of-thought
/// example near 100 characters, so it packs beside `word` into a context of
/// 128; with comments it needs about twice that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeParams {
    pub lines: Vec<u32>,
    pub max_value: u32,
    pub comments: bool,
}

impl Default for CodeParams {
    fn default() -> Self {
        CodeParams {
            lines: vec![3, 4, 5],
            max_value: 99,
            comments: false,
        }
    }
}

/// A task name with its parameters. Serializes as the bare parameter table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TaskConfig {
    Add(AddParams),
    Mul(MulParams),
    Sort(SortParams),
    Word(WordParams),
    WordOod(WordOodParams),
    WordTwin(WordParams),
    Modp(ModpParams),
    Icl(IclParams),
    Hop(HopParams),
    Code(CodeParams),
    CodeShuffled(CodeParams),
}

impl TaskConfig {
    pub fn name(&self) -> &'static str {
        match self {
            TaskConfig::Add(_) => "add",
            TaskConfig::Mul(_) => "mul",
            TaskConfig::Sort(_) => "sort",
            TaskConfig::Word(_) => "word",
            TaskConfig::WordOod(_) => "word_ood",
            TaskConfig::WordTwin(_) => "word_twin",
            TaskConfig::Modp(_) => "modp",
            TaskConfig::Icl(_) => "icl",
            TaskConfig::Hop(_) => "hop",
            TaskConfig::Code(_) => "code",
            TaskConfig::CodeShuffled(_) => "code_shuffled",
        }
    }

    pub fn default_for(name: &str) -> Result<TaskConfig, TaskError> {
        Ok(match name {
            "add" => TaskConfig::Add(Default::default()),
            "mul" => TaskConfig::Mul(Default::default()),
            "sort" => TaskConfig::Sort(Default::default()),
            "word" => TaskConfig::Word(Default::default()),
            "word_ood" => TaskConfig::WordOod(Default::default()),
            "word_twin" => TaskConfig::WordTwin(Default::default()),
            "modp" => TaskConfig::Modp(Default::default()),
            "icl" => TaskConfig::Icl(Default::default()),
            "hop" => TaskConfig::Hop(Default::default()),
            "code" => TaskConfig::Code(Default::default()),
            "code_shuffled" => TaskConfig::CodeShuffled(Default::default()),
            _ => return Err(TaskError::UnknownTask { name: name.into() }),
        })
    }

    /// Read the parameter table of task `name` from any serde source (a
    /// `toml::Value`, JSON, ...). Unknown keys and wrong types are errors
    /// naming the task; call [`TaskConfig::validate`] (or `build`) after.
    pub fn from_named<'de, D: Deserializer<'de>>(
        name: &str,
        table: D,
    ) -> Result<TaskConfig, TaskError> {
        let bad = |e: D::Error| TaskError::Params {
            task: name.into(),
            message: e.to_string(),
        };
        Ok(match name {
            "add" => TaskConfig::Add(AddParams::deserialize(table).map_err(bad)?),
            "mul" => TaskConfig::Mul(MulParams::deserialize(table).map_err(bad)?),
            "sort" => TaskConfig::Sort(SortParams::deserialize(table).map_err(bad)?),
            "word" => TaskConfig::Word(WordParams::deserialize(table).map_err(bad)?),
            "word_ood" => TaskConfig::WordOod(WordOodParams::deserialize(table).map_err(bad)?),
            "word_twin" => TaskConfig::WordTwin(WordParams::deserialize(table).map_err(bad)?),
            "modp" => TaskConfig::Modp(ModpParams::deserialize(table).map_err(bad)?),
            "icl" => TaskConfig::Icl(IclParams::deserialize(table).map_err(bad)?),
            "hop" => TaskConfig::Hop(HopParams::deserialize(table).map_err(bad)?),
            "code" => TaskConfig::Code(CodeParams::deserialize(table).map_err(bad)?),
            "code_shuffled" => {
                TaskConfig::CodeShuffled(CodeParams::deserialize(table).map_err(bad)?)
            }
            _ => return Err(TaskError::UnknownTask { name: name.into() }),
        })
    }

    pub fn validate(&self) -> Result<(), TaskError> {
        let task = self.name();
        match self {
            TaskConfig::Add(p) => set_in(task, "digits", &p.digits, 1, 15),
            TaskConfig::Mul(p) => {
                set_in(task, "a_digits", &p.a_digits, 1, 9)?;
                set_in(task, "b_digits", &p.b_digits, 1, 9)
            }
            TaskConfig::Sort(p) => {
                if !(1..=999).contains(&p.max) {
                    return Err(bad(task, "max", p.max, "must be in 1..=999"));
                }
                set_in(task, "k", &p.k, 2, 20)
            }
            TaskConfig::Word(p) | TaskConfig::WordTwin(p) => word_params(task, p),
            TaskConfig::WordOod(p) => word_params(task, &p.word()),
            TaskConfig::Modp(p) => {
                if !(2..=1000).contains(&p.modulus) {
                    return Err(bad(task, "modulus", p.modulus, "must be in 2..=1000"));
                }
                names_in(task, "ops", &p.ops, &["+", "-", "*"])
            }
            TaskConfig::Icl(p) => {
                if !(1..=8).contains(&p.len) {
                    return Err(bad(task, "len", p.len, "must be in 1..=8"));
                }
                if let Some(m) = p.min_len.filter(|m| !(1..=p.len).contains(m)) {
                    return Err(bad(
                        task,
                        "min_len",
                        m,
                        &format!("must be in 1..={}", p.len),
                    ));
                }
                names_in(task, "rules", &p.rules, &["affine", "shift", "subst"])
            }
            TaskConfig::Hop(p) => {
                if !(4..=500).contains(&p.people) {
                    return Err(bad(task, "people", p.people, "must be in 4..=500"));
                }
                if !(1..=4).contains(&p.relations) {
                    return Err(bad(task, "relations", p.relations, "must be in 1..=4"));
                }
                if !(0.0..=1.0).contains(&p.two_hop_fraction) {
                    return Err(bad(
                        task,
                        "two_hop_fraction",
                        p.two_hop_fraction,
                        "must be in 0..=1",
                    ));
                }
                Ok(())
            }
            TaskConfig::Code(p) | TaskConfig::CodeShuffled(p) => {
                if !(9..=9999).contains(&p.max_value) {
                    return Err(bad(task, "max_value", p.max_value, "must be in 9..=9999"));
                }
                set_in(task, "lines", &p.lines, 3, 8)
            }
        }
    }

    /// Position of the task in [`TASK_NAMES`] (a canonical order).
    pub fn order(&self) -> usize {
        TASK_NAMES
            .iter()
            .position(|n| *n == self.name())
            .unwrap_or(usize::MAX)
    }
}

fn word_params(task: &str, p: &WordParams) -> Result<(), TaskError> {
    // Every template has solutions with results up to 99.
    if !(99..=1_000_000).contains(&p.max_result) {
        return Err(bad(
            task,
            "max_result",
            p.max_result,
            "must be in 99..=1000000",
        ));
    }
    set_in(task, "steps", &p.steps, 2, 4)
}

fn bad(task: &str, key: &str, value: impl std::fmt::Debug, why: &str) -> TaskError {
    TaskError::BadParam {
        task: task.into(),
        key: key.into(),
        value: format!("{value:?}"),
        why: why.into(),
    }
}

/// A non-empty set of distinct values within lo..=hi.
fn set_in(task: &str, key: &str, xs: &[u32], lo: u32, hi: u32) -> Result<(), TaskError> {
    if xs.is_empty() {
        return Err(bad(task, key, xs, "must list at least one value"));
    }
    for (i, x) in xs.iter().enumerate() {
        if !(lo..=hi).contains(x) {
            return Err(bad(task, key, x, &format!("must be in {lo}..={hi}")));
        }
        if xs[..i].contains(x) {
            return Err(bad(task, key, x, "is listed twice"));
        }
    }
    Ok(())
}

/// A non-empty set of distinct names from `allowed`.
fn names_in(task: &str, key: &str, xs: &[String], allowed: &[&str]) -> Result<(), TaskError> {
    if xs.is_empty() {
        return Err(bad(task, key, xs, "must list at least one value"));
    }
    for (i, x) in xs.iter().enumerate() {
        if !allowed.contains(&x.as_str()) {
            return Err(bad(
                task,
                key,
                x,
                &format!("must be one of {}", allowed.join(", ")),
            ));
        }
        if xs[..i].contains(x) {
            return Err(bad(task, key, x, "is listed twice"));
        }
    }
    Ok(())
}
