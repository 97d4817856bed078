//! `emerge compare DIR_A DIR_B [--out FILE]`: the two runs side by side as a
//! CSV, a table on stdout and an overlay PNG per shared task.

use crate::output::{esay, say};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folder A (the baseline).
    pub run_a: PathBuf,
    /// Run folder B (differences are B − A).
    pub run_b: PathBuf,
    /// CSV to write; overlay PNGs go next to it as `<stem>_<task>.png`.
    #[arg(long, default_value = "compare.csv")]
    pub out: PathBuf,
}

pub fn run(args: &CompareArgs) -> Result<(), String> {
    let a = results::Run::load(&args.run_a).map_err(|e| e.to_string())?;
    let b = results::Run::load(&args.run_b).map_err(|e| e.to_string())?;
    let c = results::compare::compare(&a, &b).map_err(|e| e.to_string())?;
    if c.rows.is_empty() {
        for n in &c.notes {
            esay(&format!("note: {n}\n"));
        }
        return Err(format!(
            "{} and {} share no (task, mode, shots, metric, model size): nothing to compare",
            args.run_a.display(),
            args.run_b.display()
        ));
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    results::write_csv(&args.out, &c.rows).map_err(|e| e.to_string())?;
    say(&results::compare::table(&c));
    let prefix = args.out.with_extension("");
    let pngs = plots::plot_compare(&a, &b, &prefix).map_err(|e| e.to_string())?;
    say(&format!(
        "wrote {} ({} rows)\n",
        args.out.display(),
        c.rows.len()
    ));
    for p in pngs {
        say(&format!("wrote {}\n", p.display()));
    }
    Ok(())
}
