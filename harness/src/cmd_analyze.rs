//! `emerge analyze --run DIR`: fit every curve of a run and write `DIR/fits.csv`.
//! The work is in `results::analyze`; this is the command-line shell.

use crate::output::{esay, say};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &AnalyzeArgs) -> Result<(), String> {
    let (analysis, path) = results::analyze::analyze_run(&args.run).map_err(|e| e.to_string())?;
    say(&results::analyze::summary(&analysis));
    for n in &analysis.notes {
        esay(&format!("note: {n}\n"));
    }
    say(&format!(
        "wrote {} ({} rows)\n",
        path.display(),
        analysis.fits.len()
    ));
    Ok(())
}
