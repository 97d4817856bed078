//! `emerge runs DIR... [--out FILE]`: one tidy CSV over many run folders
//! (see `results::table`); a folder of run folders (e.g. `runs/`) stands for
//! every run in it.

use crate::output::{esay, say};
use clap::Args;
use std::path::{Path, PathBuf};

/// The table's default file name.
pub const TABLE: &str = "runs_table.csv";

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Run folders, or folders of run folders (e.g. `runs/`).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// CSV to write (default: runs_table.csv in the folder holding the first
    /// run, or in DIR itself when DIR is a folder of runs).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Next to the runs, like `compare`'s folder: never the current directory
/// unless the runs are there.
fn default_out(first: &Path) -> PathBuf {
    if results::load::is_run_folder(first) {
        let parent = first.parent().filter(|p| !p.as_os_str().is_empty());
        parent.unwrap_or(Path::new(".")).join(TABLE)
    } else {
        first.join(TABLE)
    }
}

pub fn run(args: &RunsArgs) -> Result<(), String> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.dirs[0]));
    if out.is_dir() {
        return Err(format!(
            "--out {}: a folder; expected the CSV file to write",
            out.display()
        ));
    }
    crate::output::refuse_run_file("--out", &out, &out)?;
    let s = results::table::write_runs_table(&args.dirs, &out).map_err(|e| e.to_string())?;
    for n in &s.notes {
        esay(&format!("emerge: note: {n}\n"));
    }
    say(&format!(
        "wrote {} ({} score rows, {} fit rows from {} run{})\n",
        out.display(),
        s.score_rows,
        s.fit_rows,
        s.runs.len(),
        if s.runs.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}
