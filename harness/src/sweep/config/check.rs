//! The semantic checks of a parsed config: every problem, each naming its
//! key, so that a user fixes them all in one pass.

use super::{Checkpoints, Problem, Shape, SweepConfig, TaskEntry};
use tasks::TaskConfig;

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        at: None,
        message: message.into(),
    }
}

/// Every semantic problem of a parsed config.
pub fn check(c: &SweepConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    check_run(&mut p, c);
    check_model(&mut p, c);
    check_train(&mut p, c);
    check_hours(&mut p, c);
    check_eval(&mut p, c);
    check_device_section(&mut p, c);
    p
}

/// `[run]`: the name and the seeds.
fn check_run(p: &mut Vec<Problem>, c: &SweepConfig) {
    let name_ok = !c.run.name.is_empty()
        && c.run
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        && !c.run.name.starts_with('.');
    if !name_ok {
        p.push(problem(
            "run.name",
            format!(
                "{:?} must be a non-empty folder name of letters, digits, `-`, `_`, `.`",
                c.run.name
            ),
        ));
    }
    if c.run.seeds.is_empty() {
        p.push(problem("run.seeds", "must list at least one seed"));
    }
    let mut seeds = c.run.seeds.clone();
    seeds.sort_unstable();
    seeds.dedup();
    if seeds.len() != c.run.seeds.len() {
        p.push(problem("run.seeds", "lists a seed twice"));
    }
}

/// `[model]`: the vocabulary, the context and the ladder's shapes.
fn check_model(p: &mut Vec<Problem>, c: &SweepConfig) {
    let m = &c.model;
    if m.vocab != tasks::vocab::vocab_size() {
        p.push(problem(
            "model.vocab",
            format!(
                "{} differs from the task vocabulary's {} tokens",
                m.vocab,
                tasks::vocab::vocab_size()
            ),
        ));
    }
    if m.context < 8 || m.context > 8192 {
        p.push(problem(
            "model.context",
            format!("{} must be in 8..=8192", m.context),
        ));
    }
    match (&m.geometric, m.ladder.is_empty()) {
        (Some(_), false) => p.push(problem(
            "model.ladder",
            "give either `ladder` or `geometric`, not both",
        )),
        (None, true) => p.push(problem(
            "model.ladder",
            "the ladder is empty: list shapes in `ladder` or give `[model.geometric]`",
        )),
        _ => {}
    }
    let listed = m.ladder.iter().map(|s| ("ladder", s));
    let refined = m.refined.iter().map(|s| ("refined", s));
    let all: Vec<(&str, &Shape)> = listed.chain(refined).collect();
    for (i, &(list, s)) in all.iter().enumerate() {
        let at = if list == "ladder" {
            i
        } else {
            i - m.ladder.len()
        };
        let key = format!("model.{list}[{at}]");
        let cfg = models::ModelConfig::new(m.vocab, m.context, s.n_layer, s.d_model, s.n_head);
        if let Err(e) = cfg.validate() {
            p.push(problem(key.clone(), e.to_string()));
        }
        if all[..i].iter().any(|(_, t)| *t == s) {
            p.push(problem(key, "shape listed twice"));
        }
    }
    if let Some(g) = &m.geometric {
        let k = "model.geometric";
        if !(g.min_params >= 1.0 && g.min_params.is_finite()) {
            p.push(problem(
                format!("{k}.min_params"),
                format!("{} must be >= 1", g.min_params),
            ));
        }
        if !(g.max_params > g.min_params && g.max_params.is_finite()) {
            p.push(problem(
                format!("{k}.max_params"),
                format!("{} must exceed min_params {}", g.max_params, g.min_params),
            ));
        }
        if g.sizes == 0 || g.sizes > 64 {
            p.push(problem(
                format!("{k}.sizes"),
                format!("{} must be in 1..=64", g.sizes),
            ));
        }
        if g.aspect == 0 {
            p.push(problem(format!("{k}.aspect"), "must be positive"));
        }
        if g.head_dim == 0 {
            p.push(problem(format!("{k}.head_dim"), "must be positive"));
        }
    }
}

/// `[train]`: the budget, the optimizer, the schedule and the mixture (or
/// the arms').
fn check_train(p: &mut Vec<Problem>, c: &SweepConfig) {
    let t = &c.train;
    match (t.tokens, t.tokens_per_param) {
        (Some(_), Some(_)) => p.push(problem(
            "train.tokens",
            "give either `tokens` or `tokens_per_param`, not both",
        )),
        (None, None) => p.push(problem(
            "train.tokens",
            "missing: give `tokens` (per model) or `tokens_per_param`",
        )),
        (Some(0), _) => p.push(problem("train.tokens", "must be positive")),
        (_, Some(x)) if !(x > 0.0 && x.is_finite()) => p.push(problem(
            "train.tokens_per_param",
            format!("{x} must be positive"),
        )),
        _ => {}
    }
    if t.batch == 0 {
        p.push(problem("train.batch", "must be positive"));
    }
    let pos = |p: &mut Vec<Problem>, key: &str, v: f64| {
        if !(v > 0.0 && v.is_finite()) {
            p.push(problem(key, format!("{v} must be a positive number")));
        }
    };
    pos(p, "train.lr", t.lr);
    pos(p, "train.eps", t.eps);
    let unit = |p: &mut Vec<Problem>, key: &str, v: f64, open_top: bool| {
        let ok = v >= 0.0 && if open_top { v < 1.0 } else { v <= 1.0 };
        if !ok {
            let range = if open_top { "0..1" } else { "0..=1" };
            p.push(problem(key, format!("{v} must be in {range}")));
        }
    };
    unit(p, "train.min_lr_ratio", t.min_lr_ratio, false);
    unit(p, "train.beta1", t.beta1, true);
    unit(p, "train.beta2", t.beta2, true);
    unit(p, "train.cot_fraction", t.cot_fraction, false);
    if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
        p.push(problem(
            "train.weight_decay",
            format!("{} must be >= 0", t.weight_decay),
        ));
    }
    if !(t.grad_clip >= 0.0 && t.grad_clip.is_finite()) {
        p.push(problem(
            "train.grad_clip",
            format!("{} must be >= 0 (0 disables clipping)", t.grad_clip),
        ));
    }
    if t.checkpoint_every == 0 {
        p.push(problem("train.checkpoint_every", "must be positive"));
    }
    if t.log_every == 0 {
        p.push(problem("train.log_every", "must be positive"));
    } else if !t.checkpoint_every.is_multiple_of(t.log_every) {
        p.push(problem(
            "train.checkpoint_every",
            format!(
                "{} must be a multiple of train.log_every ({})",
                t.checkpoint_every, t.log_every
            ),
        ));
    }
    if c.arms.is_empty() {
        check_mixture(p, &t.mixture, "train.mixture", c.model.context);
    } else {
        check_arms(p, c);
    }
}

/// `run.hours`, checked after the training it sizes.
fn check_hours(p: &mut Vec<Problem>, c: &SweepConfig) {
    if let Some(h) = c.run.hours {
        if !(h.is_finite() && h > 0.0 && h <= 10_000.0) {
            p.push(problem(
                "run.hours",
                format!("{h} must be a number of hours in (0, 10000]"),
            ));
        }
    }
}

/// `[eval]`: what is scored, how, and whether each task's longest prompt
/// fits the context.
fn check_eval(p: &mut Vec<Problem>, c: &SweepConfig) {
    let e = &c.eval;
    if e.tasks.is_empty() {
        p.push(problem("eval.tasks", "must list at least one task"));
    }
    if e.items == 0 {
        p.push(problem("eval.items", "must be positive (0 items)"));
    }
    if e.modes.is_empty() {
        p.push(problem("eval.modes", "must list `direct`, `cot` or both"));
    }
    if e.shots.is_empty() {
        p.push(problem("eval.shots", "must list at least one shot count"));
    }
    if e.batch == 0 {
        p.push(problem("eval.batch", "must be positive"));
    }
    if let Some(l) = e.threshold_level.filter(|l| !(*l > 0.0 && *l < 1.0)) {
        p.push(problem(
            "eval.threshold_level",
            format!(
                "{l} must be strictly between 0 and 1 (a fraction of the way from chance to 1)"
            ),
        ));
    }
    match e.checkpoints {
        Checkpoints::Halvings(n) if n > 20 => {
            p.push(problem(
                "eval.checkpoints",
                format!("{n} must be at most 20"),
            ));
        }
        Checkpoints::LogSpaced { count, from } => {
            if !(1..=20).contains(&count) {
                p.push(problem(
                    "eval.checkpoints.count",
                    format!("{count} must be from 1 to 20 (scored points, the end included)"),
                ));
            }
            if !(from > 0.0 && from < 1.0) {
                p.push(problem(
                    "eval.checkpoints.from",
                    format!("{from} must be strictly between 0 and 1 (a fraction of training)"),
                ));
            }
        }
        Checkpoints::Halvings(_) => {}
    }
    let mut names: Vec<String> = Vec::new();
    for (i, entry) in e.tasks.iter().enumerate() {
        let key = format!("eval.tasks[{i}]");
        if entry.shots.as_ref().is_some_and(|s| s.is_empty()) {
            p.push(problem(
                format!("{key}.shots"),
                "must list at least one shot count",
            ));
        }
        let max_shots = e.shots_of(entry).iter().copied().max().unwrap_or(0) as usize;
        if let Ok(task) = task_problem(entry, &key, c.model.context).map_err(|q| p.push(q)) {
            if names.contains(&entry.task) {
                p.push(problem(
                    format!("{key}.task"),
                    format!("`{}` listed twice", entry.task),
                ));
            }
            names.push(entry.task.clone());
            if let Ok(built) = task.build() {
                if built.filler() {
                    p.push(problem(
                        format!("{key}.task"),
                        format!(
                            "`{}` is training-only filler with no task to score",
                            entry.task
                        ),
                    ));
                }
                let need = tasks::fewshot::max_len(built.as_ref(), max_shots);
                if need > c.model.context {
                    p.push(problem(
                        format!("{key}.task"),
                        format!(
                            "`{}` with {max_shots} shots needs up to {need} tokens, more than model.context = {}",
                            entry.task, c.model.context
                        ),
                    ));
                }
            }
        }
    }
}

/// `[device]`.
fn check_device_section(p: &mut Vec<Problem>, c: &SweepConfig) {
    let d = &c.device;
    if let Err(e) = check_device(&d.device) {
        p.push(problem("device.device", e));
    }
    if d.threads > 1024 {
        p.push(problem(
            "device.threads",
            format!("{} is not a plausible thread count", d.threads),
        ));
    }
}

/// The problems of one training mixture (`train.mixture` or an arm's).
fn check_mixture(p: &mut Vec<Problem>, mixture: &[TaskEntry], key_prefix: &str, context: usize) {
    let mut tasks = Vec::new();
    if mixture.is_empty() {
        p.push(problem(key_prefix, "must list at least one task"));
    }
    for (i, e) in mixture.iter().enumerate() {
        let key = format!("{key_prefix}[{i}]");
        if e.shots.is_some() {
            p.push(problem(
                format!("{key}.shots"),
                "shot counts belong to evaluation entries (eval.tasks), not to the training mixture",
            ));
        }
        match task_problem(e, &key, context) {
            Ok(task) => {
                if !(e.weight >= 0.0 && e.weight.is_finite()) {
                    p.push(problem(
                        format!("{key}.weight"),
                        format!("{} must be >= 0", e.weight),
                    ));
                } else if let Ok(built) = task.build() {
                    if built.eval_only() && e.weight > 0.0 {
                        p.push(problem(
                            format!("{key}.task"),
                            format!("`{}` is evaluation-only and cannot be trained on", e.task),
                        ));
                    }
                }
                if tasks.iter().any(|t: &TaskConfig| t.name() == task.name()) {
                    p.push(problem(
                        format!("{key}.task"),
                        format!("`{}` listed twice", e.task),
                    ));
                }
                tasks.push(task);
            }
            Err(q) => p.push(q),
        }
    }
    if !mixture.is_empty() && mixture.iter().all(|e| e.weight <= 0.0) {
        p.push(problem(key_prefix, "needs a task with positive weight"));
    }
}

/// `[[arms]]`: at least two, named for folder names and told apart (no two
/// with the same mixture and learning rate), each mixture checked like
/// `train.mixture` and each `lr` like `train.lr`. `train.mixture` is what an
/// arm without a mixture trains on: it must be given when such an arm
/// exists, and must be absent when every arm has its own (a shared one would
/// then be ambiguous).
fn check_arms(p: &mut Vec<Problem>, c: &SweepConfig) {
    if c.arms.len() < 2 {
        p.push(problem(
            "arms",
            format!(
                "{} arm: an ablation needs at least two (or remove [[arms]] and use train.mixture)",
                c.arms.len()
            ),
        ));
    }
    let shared = c.arms.iter().any(|a| a.mixture.is_none());
    if !shared && !c.train.mixture.is_empty() {
        p.push(problem(
            "train.mixture",
            "with [[arms]] that each give their own mixture, remove train.mixture",
        ));
    }
    if shared {
        check_mixture(p, &c.train.mixture, "train.mixture", c.model.context);
    }
    for (i, arm) in c.arms.iter().enumerate() {
        let key = format!("arms[{i}]");
        let name_ok = !arm.name.is_empty()
            && arm
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_+-.".contains(ch))
            && !arm.name.starts_with('.');
        if !name_ok {
            p.push(problem(
                format!("{key}.name"),
                format!(
                    "{:?} must be a non-empty name of letters, digits, `_`, `+`, `-`, `.` (it becomes part of each job's folder name)",
                    arm.name
                ),
            ));
        }
        if let Some(j) = c.arms[..i].iter().position(|a| a.name == arm.name) {
            p.push(problem(
                format!("{key}.name"),
                format!("{:?} is also the name of arms[{j}]", arm.name),
            ));
        }
        let same =
            |j: usize| c.mixture(Some(j)) == c.mixture(Some(i)) && c.lr(Some(j)) == c.lr(Some(i));
        if let Some(j) = (0..i).find(|&j| same(j)) {
            let what = match (arm.lr, &arm.mixture) {
                (Some(_), _) => "lr",
                (None, Some(_)) => "mixture",
                (None, None) => "name",
            };
            p.push(problem(
                format!("{key}.{what}"),
                format!("trains the mixture at the learning rate of arms[{j}]: the two arms would train the same models"),
            ));
        }
        if let Some(lr) = arm.lr {
            if !(lr > 0.0 && lr.is_finite()) {
                p.push(problem(
                    format!("{key}.lr"),
                    format!("{lr} must be a positive number"),
                ));
            }
        }
        if let Some(m) = &arm.mixture {
            check_mixture(p, m, &format!("{key}.mixture"), c.model.context);
        }
    }
    let controls: Vec<&str> = c
        .arms
        .iter()
        .enumerate()
        .filter(|&(i, _)| control_arm(c, i))
        .map(|(_, a)| a.name.as_str())
        .collect();
    if control_arm(c, 0) {
        p.push(problem(
            "arms[0].mixture",
            "the first arm is the baseline; a displacement control (a mixture with filler) comes after it",
        ));
    } else if controls.len() > 1 {
        p.push(problem(
            "arms",
            format!(
                "arms {} all train on filler: one displacement control at most",
                controls.join(", ")
            ),
        ));
    }
}

/// Whether arm `i` is a displacement control: its mixture gives filler
/// (a task with nothing to learn, such as `code_shuffled`) a positive weight.
pub fn control_arm(c: &SweepConfig, i: usize) -> bool {
    c.mixture(Some(i)).iter().any(|e| {
        e.weight > 0.0
            && e.task_config()
                .and_then(|t| t.build())
                .is_ok_and(|t| t.filler())
    })
}

fn check_device(spec: &str) -> Result<(), String> {
    match spec {
        "auto" | "cpu" | "cuda" => Ok(()),
        s if s
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok()) =>
        {
            Ok(())
        }
        s => Err(format!("{s:?} must be auto, cpu or cuda:N")),
    }
}

/// A task entry's config, or the problem with it (naming the key).
fn task_problem(e: &TaskEntry, key: &str, context: usize) -> Result<TaskConfig, Problem> {
    use tasks::TaskError;
    let task = match e.task_config() {
        Ok(t) => t,
        Err(TaskError::UnknownTask { .. }) => {
            return Err(problem(
                format!("{key}.task"),
                format!(
                    "unknown task `{}` (known: {})",
                    e.task,
                    tasks::TASK_NAMES.join(", ")
                ),
            ))
        }
        Err(TaskError::BadParam {
            key: k, value, why, ..
        }) => return Err(problem(format!("{key}.{k}"), format!("{value} {why}"))),
        Err(TaskError::Params { message, .. }) => {
            // serde names the offending field in backticks: point at it.
            let field = message
                .split('`')
                .nth(1)
                .filter(|f| e.params.contains_key(*f))
                .map(|f| format!("{key}.{f}"))
                .unwrap_or_else(|| key.to_string());
            return Err(problem(field, message));
        }
        Err(other) => return Err(problem(key, other.to_string())),
    };
    let built = task.build().map_err(|err| problem(key, err.to_string()))?;
    if built.max_len() > context {
        return Err(problem(
            format!("{key}.task"),
            format!(
                "`{}` ({}) has examples of up to {} tokens, more than model.context = {context}",
                e.task,
                built.params(),
                built.max_len()
            ),
        ));
    }
    Ok(task)
}
