//! `emerge analyze --run DIR`: fit every curve of a run and write `DIR/fits.csv`.
//! For a run of ablation arms, each arm is fitted on its own into
//! `DIR/arms/<arm>/` and the arms are compared in `DIR/arms.csv`. A run with
//! a located exact-match N* is then forecast (`emerge forecast`). The steps
//! are [`crate::pipeline::analyze`]'s.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &AnalyzeArgs) -> Result<(), String> {
    crate::pipeline::analyze(&args.run)
}
