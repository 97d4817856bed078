//! The sweep configuration: one TOML file (or a built-in preset) read into
//! [`SweepConfig`], then checked as a whole so that every problem is listed
//! at once, each with the key it concerns and, where the file has it, its
//! line and column. Nothing is written before a config passes.
//!
//! This file holds the types, [`parse`] and the comparison of two configs;
//! [`check`] the semantic checks; `position` finds keys in the TOML text.

use models::TrainConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tasks::format::Mode;
use tasks::stream::LossMask;
use tasks::TaskConfig;

mod check;
mod position;

pub use check::{check, control_arm};
use position::{dotted, line_col, locate_dotted, locate_key, segments, Seg};

/// The whole sweep, as `config.toml` of a run folder stores it.
///
/// No struct here denies unknown fields: [`parse`] collects every unknown
/// key with `serde_ignored` instead, so that all of them are reported at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    pub run: RunSection,
    pub model: ModelSection,
    pub train: TrainSection,
    pub eval: EvalSection,
    #[serde(default)]
    pub device: DeviceSection,
    /// Ablation arms (`[[arms]]`): two or more training mixtures or
    /// learning rates, each run on the same ladder, seeds, token budget and
    /// evaluation items. Empty for an ordinary sweep, which trains on
    /// `train.mixture` at `train.lr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<Arm>,
}

/// One arm of an ablation: a name, and the training mixture that replaces
/// `train.mixture` for its jobs, the learning rate that replaces `train.lr`,
/// or both. Nothing else may differ between arms, so an arm has no other key
/// ([`parse`] refuses one, naming it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Part of every job's id (`L2-D64-H4-s0@word+code`): letters, digits, `_`, `+`, `-`, `.`.
    pub name: String,
    /// Absent: the arm trains on `train.mixture`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture: Option<Vec<TaskEntry>>,
    /// Absent: the arm trains at `train.lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

/// The only keys an `[[arms]]` table may have.
pub const ARM_KEYS: [&str; 3] = ["name", "mixture", "lr"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSection {
    /// Folder name under the output root (`runs/<name>`).
    pub name: String,
    /// One job per (size, seed): the seed sets weight init and data order.
    pub seeds: Vec<u64>,
    /// Wall-clock hours the whole sweep should take on this machine: the
    /// training budget is scaled from the plan's measured step times to fit
    /// (`--hours`). The run folder stores the scaled budget, so a resume
    /// trains to the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
}

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
}

/// A ladder generated between two non-embedding parameter counts, spaced
/// evenly in log(params), at a fixed width/depth ratio and head size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geometric {
    pub min_params: f64,
    pub max_params: f64,
    pub sizes: usize,
    /// d_model / n_layer (nanoGPT-like shapes have 32–64).
    #[serde(default = "default_aspect")]
    pub aspect: usize,
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
}

fn default_aspect() -> usize {
    32
}
fn default_head_dim() -> usize {
    16
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSection {
    /// Tokens a model sees at once; every selected task must fit.
    pub context: usize,
    /// Fixed by the task vocabulary; stated so a config reads whole.
    #[serde(default = "default_vocab")]
    pub vocab: usize,
    /// Explicit ladder; exclusive with `geometric`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder: Vec<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometric: Option<Geometric>,
    /// Shapes `emerge sweep --refine` added between the sizes that straddle a
    /// transition, in the order it added them. They are ordinary jobs of the
    /// run, listed after the ladder's so that earlier jobs keep their index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refined: Vec<Shape>,
}

fn default_vocab() -> usize {
    tasks::vocab::vocab_size()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear warmup, then cosine decay to `lr * min_lr_ratio`.
    Cosine,
    /// Linear warmup, then constant.
    Constant,
}

/// A task with its weight in the training mixture and its difficulty
/// parameters inline: `{ task = "add", weight = 1.0, digits = [3] }`. An
/// evaluation entry may set its own shot counts (`shots = [0, 2, 4]`) in
/// place of `eval.shots`, so that one suite can score `icl` at several shot
/// counts without asking long tasks for prompts no context holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry {
    pub task: String,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots: Option<Vec<u32>>,
    #[serde(flatten)]
    pub params: toml::Table,
}

fn one() -> f64 {
    1.0
}
fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl TaskEntry {
    pub fn task_config(&self) -> Result<TaskConfig, tasks::TaskError> {
        let t = TaskConfig::from_named(&self.task, toml::Value::Table(self.params.clone()))?;
        t.validate()?;
        Ok(t)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSection {
    /// Training tokens per model; exclusive with `tokens_per_param`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Training tokens per non-embedding parameter (Chinchilla-style budgets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_param: Option<f64>,
    pub batch: usize,
    pub lr: f64,
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Global gradient-norm clip; 0 disables it.
    #[serde(default = "default_grad_clip")]
    pub grad_clip: f64,
    /// Share of training examples written with their chain of thought.
    pub cot_fraction: f64,
    #[serde(default = "default_loss_mask")]
    pub loss_mask: LossMask,
    /// Steps between checkpoints (a resumed job loses at most this many).
    pub checkpoint_every: u64,
    /// Steps per `train_log.csv` row.
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// Tasks trained on, with weights; empty (or absent) when `[[arms]]`
    /// gives each arm its own.
    #[serde(default)]
    pub mixture: Vec<TaskEntry>,
}

// The optimizer's defaults are the model crate's (`models::TrainConfig`).
fn default_min_lr_ratio() -> f64 {
    TrainConfig::default().min_lr_ratio
}
fn default_schedule() -> Schedule {
    Schedule::Cosine
}
fn default_weight_decay() -> f64 {
    TrainConfig::default().weight_decay
}
fn default_beta1() -> f64 {
    TrainConfig::default().beta1
}
fn default_beta2() -> f64 {
    TrainConfig::default().beta2
}
fn default_eps() -> f64 {
    TrainConfig::default().eps
}
fn default_grad_clip() -> f64 {
    TrainConfig::default().grad_clip
}
fn default_loss_mask() -> LossMask {
    LossMask::Completion
}
fn default_log_every() -> u64 {
    10
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSection {
    /// Tasks scored, with their test difficulties (weights are ignored).
    pub tasks: Vec<TaskEntry>,
    /// Held-out test items per task (the same items for every model).
    pub items: usize,
    pub modes: Vec<Mode>,
    #[serde(default = "default_shots")]
    pub shots: Vec<u32>,
    /// Which checkpoints are scored besides the last: a count of halvings
    /// (1/2, 1/4, … of the training steps), or a log-spaced schedule
    /// `{ count = 8, from = 0.01 }` ([`Checkpoints`]).
    #[serde(default)]
    pub checkpoints: Checkpoints,
    /// Prompts decoded together.
    #[serde(default = "default_eval_batch")]
    pub batch: usize,
    /// Seed of the test items and few-shot exemplars; shared by every model
    /// and seed so that runs can be compared item by item.
    #[serde(default = "default_eval_seed")]
    pub seed: u64,
    /// Where N* is read: this fraction of the way from chance to a perfect
    /// score (the analysis's default, 0.5, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_level: Option<f64>,
}

/// `eval.checkpoints`: the scored points of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Checkpoints {
    /// This many checkpoints besides the last, at 1/2, 1/4, … of training.
    Halvings(u32),
    /// `count` scored points log-spaced from `from` of training (a
    /// fraction) to its end, both included: `{ count = 8, from = 0.01 }`
    /// scores at 1 %, 1.9 %, 3.7 %, … 100 %, so an ability that appears
    /// over training (rather than with size) shows where it appears.
    LogSpaced { count: u32, from: f64 },
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints::Halvings(0)
    }
}

impl EvalSection {
    /// The shot counts an evaluation entry is scored at.
    pub fn shots_of<'a>(&'a self, entry: &'a TaskEntry) -> &'a [u32] {
        entry.shots.as_deref().unwrap_or(&self.shots)
    }
}

fn default_shots() -> Vec<u32> {
    vec![0]
}
fn default_eval_batch() -> usize {
    64
}
fn default_eval_seed() -> u64 {
    1234
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSection {
    /// `auto`, `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// CPU threads for candle and rayon; 0 = all cores.
    #[serde(default)]
    pub threads: usize,
}

fn default_device() -> String {
    "auto".into()
}

impl Default for DeviceSection {
    fn default() -> Self {
        DeviceSection {
            device: default_device(),
            threads: 0,
        }
    }
}

/// One problem with a config: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key (`train.mixture[0].digits`), empty for the whole file.
    pub key: String,
    /// 1-based line and column in the file, when known.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

/// Every problem of a config file, ready to print one per line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.origin,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", self.origin)?;
            if let Some((l, c)) = p.at {
                write!(f, ":{l}:{c}")?;
            }
            if p.key.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": `{}`: {}", p.key, p.message)?;
            }
        }
        Ok(())
    }
}

/// Parse `text` (named `origin` in messages) and check it whole.
pub fn parse(text: &str, origin: &str) -> Result<SweepConfig, ConfigErrors> {
    let errs = |problems| ConfigErrors {
        origin: origin.to_string(),
        problems,
    };
    let not_toml = |span: Option<std::ops::Range<usize>>, message: &str| {
        errs(vec![Problem {
            key: String::new(),
            at: span.map(|s| line_col(text, s.start)),
            message: format!("not valid TOML: {}", message.trim()),
        }])
    };
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| not_toml(e.span(), e.message()))?;
    let mut problems = Vec::new();
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| not_toml(e.span(), e.message()))?;
    // Each section on its own, so that a wrong type in one does not hide
    // the problems of the others.
    let mut take = |name: &str, required: bool, problems: &mut Vec<Problem>| {
        let v = table.remove(name);
        if v.is_none() && required {
            problems.push(Problem {
                key: name.to_string(),
                at: None,
                message: format!("missing section [{name}]"),
            });
        }
        // A missing optional section takes its defaults; a missing required
        // one is reported once, not again for each of its fields.
        match (v, required) {
            (Some(v), _) => Some(v),
            (None, false) => Some(toml::Value::Table(toml::Table::new())),
            (None, true) => None,
        }
    };
    let run = take("run", true, &mut problems);
    let model = take("model", true, &mut problems);
    let train = take("train", true, &mut problems);
    let eval = take("eval", true, &mut problems);
    let device = take("device", false, &mut problems);
    let arms = table
        .remove("arms")
        .map(|v| arm_tables(v, &doc, text, &mut problems));
    for name in table.keys() {
        problems.push(Problem {
            key: name.clone(),
            at: locate_key(&doc, text, &[Seg::Key(name.clone())]),
            message: "unknown section or key".into(),
        });
    }
    let pr = &mut problems;
    let (run, model, train, eval, device) = (
        section::<RunSection>("run", run, &doc, text, pr),
        section::<ModelSection>("model", model, &doc, text, pr),
        section::<TrainSection>("train", train, &doc, text, pr),
        section::<EvalSection>("eval", eval, &doc, text, pr),
        section::<DeviceSection>("device", device, &doc, text, pr),
    );
    let arms = match arms {
        Some(v) => section::<Vec<Arm>>("arms", Some(v), &doc, text, pr),
        None => Some(Vec::new()),
    };
    let (Some(run), Some(model), Some(train), Some(eval), Some(device), Some(arms)) =
        (run, model, train, eval, device, arms)
    else {
        return Err(errs(problems));
    };
    if problems
        .iter()
        .any(|p| p.message.starts_with("missing section"))
    {
        // An empty stand-in for a missing section is not a config to check.
        return Err(errs(problems));
    }
    let cfg = SweepConfig {
        run,
        model,
        train,
        eval,
        device,
        arms,
    };
    for mut p in check(&cfg) {
        if p.at.is_none() {
            p.at = locate_dotted(&doc, text, &p.key);
        }
        problems.push(p);
    }
    if problems.is_empty() {
        Ok(resolved(cfg))
    } else {
        Err(errs(problems))
    }
}

/// One section of the config (`None`: missing, already reported): its unknown keys and its first wrong type or
/// missing key become problems (with positions); `None` if it did not parse.
fn section<T: serde::de::DeserializeOwned>(
    name: &str,
    value: Option<toml::Value>,
    doc: &toml_edit::ImDocument<&str>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let value = value?;
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    let parsed: Result<T, _> = serde_ignored::deserialize(de, |p| unknown.push(segments(&p)));
    for rel in unknown {
        let path: Vec<Seg> = std::iter::once(Seg::Key(name.to_string()))
            .chain(rel)
            .collect();
        problems.push(Problem {
            key: dotted(&path),
            at: locate_key(doc, text, &path),
            message: "unknown key".into(),
        });
    }
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = track.path().to_string();
            // The path of a field missing at the section's top is ".".
            let key = if matches!(inner.as_str(), "?" | "." | "") {
                name.to_string()
            } else {
                format!("{name}.{inner}")
            };
            problems.push(Problem {
                at: locate_dotted(doc, text, &key),
                key,
                message: e.to_string().trim().replace('\n', " "),
            });
            None
        }
    }
}

/// `[[arms]]` with every key but `name`, `mixture` and `lr` reported and
/// removed: arms may differ in the training mixture and the learning rate
/// alone, and a key such as `tokens` in an arm would make the ablation
/// compare another thing at once.
fn arm_tables(
    mut value: toml::Value,
    doc: &toml_edit::ImDocument<&str>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> toml::Value {
    if let toml::Value::Array(arms) = &mut value {
        for (i, arm) in arms.iter_mut().enumerate() {
            let toml::Value::Table(t) = arm else { continue };
            let extra: Vec<String> = t
                .keys()
                .filter(|k| !ARM_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            for k in extra {
                let v = t.remove(&k).expect("listed above");
                let path = [Seg::Key("arms".into()), Seg::Index(i), Seg::Key(k.clone())];
                problems.push(Problem {
                    key: dotted(&path),
                    at: locate_key(doc, text, &path),
                    message: format!(
                        "= {v}: arms may differ only in the training mixture and the learning rate; an arm sets `name`, `mixture` and `lr`, and `{k}` belongs to the sections every arm shares"
                    ),
                });
            }
        }
    }
    value
}

/// Every task entry with all its parameters spelled out (defaults included),
/// so `config.toml` records exactly what ran even if a default changes later.
fn resolved(mut cfg: SweepConfig) -> SweepConfig {
    let arms = cfg
        .arms
        .iter_mut()
        .flat_map(|a| a.mixture.iter_mut().flatten());
    for e in cfg
        .train
        .mixture
        .iter_mut()
        .chain(arms)
        .chain(cfg.eval.tasks.iter_mut())
    {
        if let Ok(t) = e.task_config() {
            if let Ok(toml::Value::Table(full)) = toml::Value::try_from(&t) {
                e.params = full;
            }
        }
    }
    cfg
}

impl SweepConfig {
    /// The training mixture of arm `arm` (an index into `arms`): its own,
    /// else `train.mixture`, which a sweep without arms trains on.
    pub fn mixture(&self, arm: Option<usize>) -> &[TaskEntry] {
        arm.and_then(|i| self.arms[i].mixture.as_deref())
            .unwrap_or(&self.train.mixture)
    }

    /// The learning rate of arm `arm`: its own, else `train.lr`.
    pub fn lr(&self, arm: Option<usize>) -> f64 {
        arm.and_then(|i| self.arms[i].lr).unwrap_or(self.train.lr)
    }

    /// The config as `config.toml` stores it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a sweep config serializes")
    }

    /// Flattened `key = value` pairs, for showing how two configs differ.
    pub fn flat(&self) -> BTreeMap<String, String> {
        let v = toml::Value::try_from(self).expect("a sweep config serializes");
        let mut out = BTreeMap::new();
        flatten("", &v, &mut out);
        out
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        toml::Value::Array(a) if a.iter().any(|x| x.is_table()) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Keys whose values differ between two configs (`key: old -> new`),
/// ignoring the `device` section, which may change between resumes, and
/// `run.name`, which names the folder (a copied run resumes under its new
/// name) and is no part of the experiment.
pub fn differences(old: &SweepConfig, new: &SweepConfig) -> Vec<String> {
    let (a, b) = (old.flat(), new.flat());
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !k.starts_with("device.") && k.as_str() != "run.name")
        .filter_map(|k| {
            let (x, y) = (a.get(k), b.get(k));
            (x != y).then(|| {
                format!(
                    "{k}: {} -> {}",
                    x.map_or("(absent)", String::as_str),
                    y.map_or("(absent)", String::as_str)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::Preset;

    #[test]
    fn every_preset_is_valid_and_survives_its_own_round_trip() {
        for p in Preset::ALL {
            let cfg = parse(p.text(), p.name()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cfg.run.name, p.name());
            let again = parse(&cfg.to_toml(), "stored").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again, cfg, "{}", p.name());
            assert!(differences(&cfg, &again).is_empty());
        }
    }

    #[test]
    fn stored_task_entries_spell_out_their_defaults() {
        let cfg = parse(Preset::Smoke.text(), "smoke").unwrap();
        let stored = cfg.to_toml();
        // The smoke preset only names `digits`; nothing else of `add` exists,
        // but `modp`-style defaults would be written out here too.
        assert!(stored.contains("digits = [2]"), "{stored}");
        let text = Preset::Smoke.text().replace(
            "{ task = \"add\", digits = [2] }]",
            "{ task = \"add\", digits = [2] }, { task = \"modp\", weight = 0.0 }]",
        );
        let cfg = parse(&text, "x").unwrap_or_else(|e| panic!("{e}"));
        let stored = cfg.to_toml();
        assert!(stored.contains("modulus = 97"), "{stored}");
    }

    #[test]
    fn differences_name_the_keys_and_ignore_the_device() {
        let a = parse(Preset::Smoke.text(), "a").unwrap();
        let mut b = a.clone();
        b.train.lr = 0.01;
        b.eval.modes = vec![Mode::Cot];
        b.device.threads = 7;
        b.run.name = "copied".into();
        let d = differences(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.iter().any(|x| x.starts_with("train.lr: 0.003 -> 0.01")),
            "{d:?}"
        );
        assert!(d.iter().any(|x| x.starts_with("eval.modes")), "{d:?}");
    }

    /// `lr-robust`: arms that set `lr` and no mixture train `train.mixture`
    /// at their own rate, and the stored config keeps the rates.
    #[test]
    fn arms_may_set_a_learning_rate_and_a_control_is_found_by_its_filler() {
        let cfg = parse(Preset::LrRobust.text(), "lr-robust").unwrap();
        let rates: Vec<f64> = (0..cfg.arms.len()).map(|i| cfg.lr(Some(i))).collect();
        assert_eq!(rates, [2e-3, 1e-3, 4e-3]);
        assert!((0..3).all(|i| cfg.mixture(Some(i)) == cfg.train.mixture.as_slice()));
        assert!(cfg.arms.iter().all(|a| a.mixture.is_none()));
        let stored = cfg.to_toml();
        assert!(stored.contains("lr = 0.004"), "{stored}");
        assert_eq!(parse(&stored, "stored").unwrap(), cfg);
        assert!((0..3).all(|i| !control_arm(&cfg, i)));
        // code-ablation: the fourth arm, on shuffled code, is the control.
        let ab = parse(Preset::CodeAblation.text(), "code-ablation").unwrap();
        let controls: Vec<&str> = (0..ab.arms.len())
            .filter(|&i| control_arm(&ab, i))
            .map(|i| ab.arms[i].name.as_str())
            .collect();
        assert_eq!(controls, ["word+shuffled"]);
        assert!((0..ab.arms.len()).all(|i| ab.lr(Some(i)) == ab.train.lr));
        // A control may not be the baseline, and there is one at most.
        let swapped = Preset::CodeAblation.text().replacen(
            "{ task = \"code\", weight = 0.25 },",
            "{ task = \"code_shuffled\", weight = 0.25, lines = [3, 4] },",
            1,
        );
        let e = parse(&swapped, "two").unwrap_err().to_string();
        assert!(
            e.contains("word+code, word+shuffled") && e.contains("one displacement control"),
            "{e}"
        );
        // Filler is never scored.
        let scored = Preset::CodeAblation.text().replace(
            "{ task = \"word_twin\", steps = [2], max_result = 99 },",
            "{ task = \"code_shuffled\" },",
        );
        let e = parse(&scored, "f").unwrap_err().to_string();
        assert!(
            e.contains("eval.tasks[2].task") && e.contains("no task to score"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse("[run]\nname = \"x\"\nseeds = [0\n", "f.toml").unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].at.is_some(), "{e}");
        assert!(e.to_string().contains("not valid TOML"), "{e}");
    }

    #[test]
    fn unknown_task_parameters_point_at_their_key() {
        let text = Preset::Smoke.text().replace(
            "mixture = [{ task = \"add\", digits = [2] }]",
            "mixture = [{ task = \"add\", digitz = [2] }]",
        );
        let e = parse(&text, "f.toml").unwrap_err();
        let p = e
            .problems
            .iter()
            .find(|p| p.key == "train.mixture[0].digitz")
            .unwrap_or_else(|| panic!("{e}"));
        let line = text.lines().position(|l| l.contains("digitz")).unwrap() + 1;
        assert_eq!(p.at.map(|a| a.0), Some(line), "{e}");
    }

    #[test]
    fn a_log_spaced_checkpoint_schedule_parses_round_trips_and_is_checked() {
        let with = |v: &str| {
            Preset::Smoke
                .text()
                .replace("checkpoints = 1", &format!("checkpoints = {v}"))
        };
        let cfg = parse(&with("{ count = 8, from = 0.01 }"), "f.toml").unwrap();
        assert_eq!(
            cfg.eval.checkpoints,
            Checkpoints::LogSpaced {
                count: 8,
                from: 0.01
            }
        );
        // The run folder's stored config reads back as the same schedule.
        let back = parse(&cfg.to_toml(), "config.toml").unwrap();
        assert_eq!(back.eval.checkpoints, cfg.eval.checkpoints);
        // A plain count is still a count of halvings.
        let plain = parse(&with("2"), "f.toml").unwrap();
        assert_eq!(plain.eval.checkpoints, Checkpoints::Halvings(2));
        for (bad, key) in [
            ("{ count = 8, from = 1.5 }", "eval.checkpoints.from"),
            ("{ count = 0, from = 0.01 }", "eval.checkpoints.count"),
            ("{ count = 30, from = 0.01 }", "eval.checkpoints.count"),
            ("21", "eval.checkpoints"),
        ] {
            let e = parse(&with(bad), "f.toml").unwrap_err();
            assert!(e.problems.iter().any(|p| p.key == key), "{bad}: {e}");
        }
    }
}
