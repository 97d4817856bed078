//! `emerge compare DIR_A DIR_B [--out DIR]`: the two runs side by side as
//! `compare.csv`, a table on stdout and `compare_<task>.png` per shared task,
//! all in one folder (by default `compare_<A>_vs_<B>` next to run A), so a
//! comparison never scatters files into the current directory, and never
//! into a run's own folders. A task both runs score with other parameters
//! (their stored configs' `eval.tasks` differ) is left out with a note.

use crate::output::{esay, say};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table's file inside the output folder.
pub const CSV: &str = "compare.csv";

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folder A (the baseline).
    pub run_a: PathBuf,
    /// Run folder B (differences are B − A).
    pub run_b: PathBuf,
    /// Folder for compare.csv and compare_<task>.png (created if needed;
    /// default: compare_<A>_vs_<B> next to run A).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `compare_<A>_vs_<B>` in the folder that holds run A (e.g. `runs/`).
fn default_out(a: &Path, b: &Path) -> Result<PathBuf, String> {
    let full = |p: &Path| {
        p.canonicalize()
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (a, b) = (full(a)?, full(b)?);
    let name = |p: &Path| {
        p.file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned())
    };
    let parent = a.parent().unwrap_or(&a);
    Ok(parent.join(format!("compare_{}_vs_{}", name(&a), name(&b))))
}

/// The output folder, refusing a path that is (or names) a file: `--out`
/// used to take the CSV's path, and writing into `x.csv/` would surprise.
fn out_dir(args: &CompareArgs) -> Result<PathBuf, String> {
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => default_out(&args.run_a, &args.run_b)?,
    };
    if dir.is_file() || dir.extension().is_some_and(|e| e == "csv" || e == "png") {
        return Err(format!(
            "--out {}: expected a folder (compare writes {CSV} and compare_<task>.png into it)",
            dir.display()
        ));
    }
    crate::output::refuse_run_file("--out", &dir, &dir.join(CSV))?;
    Ok(dir)
}

/// Each evaluated task's parameters as the run's stored `config.toml`
/// spells them (`eval.tasks`, without `task`, `shots` and `weight`), by
/// task name; `None` when the folder has no such config to read.
fn eval_params(run: &Path) -> Option<BTreeMap<String, Vec<toml::Table>>> {
    let text = std::fs::read_to_string(run.join(runfolder::schema::files::CONFIG)).ok()?;
    let cfg: toml::Table = toml::from_str(&text).ok()?;
    let tasks = cfg.get("eval")?.get("tasks")?.as_array()?;
    let mut out: BTreeMap<String, Vec<toml::Table>> = BTreeMap::new();
    for t in tasks {
        let mut params = t.as_table()?.clone();
        let name = params.remove("task")?.as_str()?.to_string();
        params.remove("shots");
        params.remove("weight");
        out.entry(name).or_default().push(params);
    }
    Some(out)
}

fn show(params: &[toml::Table]) -> String {
    let one = |t: &toml::Table| {
        t.iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    params.iter().map(one).collect::<Vec<_>>().join(" / ")
}

/// Tasks both runs score under one name but with other parameters (2-digit
/// against 3-digit `add`, say): not the same task, so not compared. Each
/// with a note saying how they differ.
fn different_tasks(a: &Path, b: &Path) -> Vec<(String, String)> {
    let (Some(pa), Some(pb)) = (eval_params(a), eval_params(b)) else {
        return Vec::new();
    };
    pa.iter()
        .filter_map(|(task, x)| {
            let y = pb.get(task)?;
            (x != y).then(|| {
                let note = format!(
                    "task {task} is scored with {} in A and {} in B: not the same task, not compared",
                    show(x),
                    show(y)
                );
                (task.clone(), note)
            })
        })
        .collect()
}

/// `run` without the rows of `task`.
fn without_task(run: &mut results::Run, task: &str) {
    run.final_points.retain(|p| p.task != task);
    run.checkpoint_points.retain(|p| p.task != task);
    run.scores.retain(|r| r.task != task);
    run.samples.retain(|r| r.task != task);
}

pub fn run(args: &CompareArgs) -> Result<(), String> {
    let mut a = results::Run::load(&args.run_a).map_err(|e| e.to_string())?;
    let mut b = results::Run::load(&args.run_b).map_err(|e| e.to_string())?;
    let dir = out_dir(args)?;
    let unlike = different_tasks(&args.run_a, &args.run_b);
    for (task, note) in &unlike {
        without_task(&mut a, task);
        without_task(&mut b, task);
        esay(&format!("emerge: note: {note}\n"));
    }
    let c = results::compare::compare(&a, &b).map_err(|e| e.to_string())?;
    if c.rows.is_empty() {
        for n in &c.notes {
            esay(&format!("emerge: note: {n}\n"));
        }
        return Err(format!(
            "{} and {} share no (task, mode, shots, metric, model size): nothing to compare",
            args.run_a.display(),
            args.run_b.display()
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let csv = dir.join(CSV);
    runfolder::write_csv(&csv, &c.rows).map_err(|e| e.to_string())?;
    say(&results::compare::table(&c));
    let prefix = csv.with_extension("");
    let pngs = plots::plot_compare(&a, &b, &prefix).map_err(|e| e.to_string())?;
    say(&format!(
        "wrote {} ({} rows)\n",
        csv.display(),
        c.rows.len()
    ));
    for p in pngs {
        say(&format!("wrote {}\n", p.display()));
    }
    Ok(())
}
