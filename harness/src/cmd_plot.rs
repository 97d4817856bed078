//! `emerge plot --run DIR`: PNG charts into `DIR/plots/`. Uses `DIR/fits.csv`
//! when present; otherwise fits are computed in memory (and not saved). Then
//! `DIR/report.md`, the page that shows them (see [`crate::report`]). The
//! steps are [`crate::pipeline::plot`]'s.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &PlotArgs) -> Result<(), String> {
    crate::pipeline::plot(&args.run)
}
