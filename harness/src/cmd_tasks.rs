//! `emerge tasks`: list the suite, or print generated items of one task.

use clap::{Args, ValueEnum};
use std::io::Write;
use tasks::chance::chance;
use tasks::fewshot::few_shot;
use tasks::format::Mode;
use tasks::{distinct_items, Split, Task, TaskConfig, TASK_NAMES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Direct,
    Cot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
}

/// Arguments of `emerge tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Task to print items of; omit to list every task.
    pub task: Option<String>,
    #[arg(long, value_enum, default_value = "direct")]
    pub mode: ModeArg,
    /// Number of items (distinct content keys).
    #[arg(long, default_value_t = 5)]
    pub n: usize,
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Solved training examples before each query.
    #[arg(long, default_value_t = 0)]
    pub shots: usize,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Difficulty parameter in TOML syntax, e.g. `--set 'digits=[4,5]'` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Task config from defaults plus `--set` overrides.
pub fn config_with(task: &str, sets: &[String]) -> Result<TaskConfig, String> {
    TaskConfig::default_for(task).map_err(|e| e.to_string())?;
    let table: toml::Table = toml::from_str(&sets.join("\n"))
        .map_err(|e| format!("--set for task `{task}`: {}", e.message()))?;
    let cfg = TaskConfig::from_named(task, toml::Value::Table(table)).map_err(|e| e.to_string())?;
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

pub fn run(args: &TasksArgs) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match &args.task {
        None => list(&mut out, args.seed),
        Some(name) => show(&mut out, name, args),
    }
    .map_err(|e| e.to_string())
}

fn list(out: &mut impl Write, seed: u64) -> Result<(), Box<dyn std::error::Error>> {
    let w = TASK_NAMES.iter().map(|n| n.len()).max().unwrap_or(4);
    writeln!(
        out,
        "{:<w$} {:>7} {:>7} {:>7} {:>7}  default parameters",
        "task", "max_len", "chance", "edit", "tok_acc"
    )?;
    for name in TASK_NAMES {
        let task = TaskConfig::default_for(name)?.build()?;
        let c = chance(task.as_ref(), Mode::Direct, seed, 500)?;
        writeln!(
            out,
            "{:<w$} {:>7} {:>7.4} {:>7.3} {:>7.3}  {}{}",
            name,
            task.max_len(),
            c.exact_match,
            c.edit_similarity,
            c.token_accuracy,
            task.params(),
            if task.eval_only() {
                "  (evaluation only)"
            } else if task.filler() {
                "  (training only: filler)"
            } else {
                ""
            }
        )?;
    }
    writeln!(
        out,
        "max_len: longest chain-of-thought example in tokens; chance, edit, tok_acc: direct-mode scores of random answers of the task's format"
    )?;
    Ok(())
}

fn show(
    out: &mut impl Write,
    name: &str,
    args: &TasksArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    let task: Box<dyn Task> = config_with(name, &args.set)?.build()?;
    let mode = match args.mode {
        ModeArg::Direct => Mode::Direct,
        ModeArg::Cot => Mode::Cot,
    };
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
    let items = distinct_items(task.as_ref(), args.seed, split, args.n)?;
    let mut csv = (args.format == OutputFormat::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv.as_mut() {
        w.write_record([
            "task", "mode", "split", "item_id", "prompt", "trace", "answer",
        ])?;
    }
    for item in &items {
        let fs = few_shot(task.as_ref(), item, mode, args.shots, args.seed)?;
        match csv.as_mut() {
            Some(w) => w.write_record([
                name,
                mode.as_str(),
                split.as_str(),
                &item.id,
                &fs.prompt,
                &item.trace,
                &item.answer,
            ])?,
            None => {
                writeln!(
                    out,
                    "== {} ({split}, {mode}, {} shots)",
                    item.id, args.shots
                )?;
                for line in fs.prompt.lines() {
                    writeln!(out, "prompt | {line}")?;
                }
                writeln!(out, "trace  | {}", item.trace)?;
                writeln!(out, "answer | {}", item.answer)?;
                if let Some(parrot) = task.parrot_answer(item) {
                    writeln!(out, "parrot | {parrot} (the training problem's answer)")?;
                }
            }
        }
    }
    if let Some(w) = csv {
        out.write_all(&w.into_inner().map_err(|e| e.to_string())?)?;
    }
    Ok(())
}
