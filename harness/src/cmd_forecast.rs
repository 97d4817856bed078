//! `emerge forecast --run DIR`: N* of every located exact-match curve
//! forecast from the sizes below it, checked against the measured N*, into
//! `DIR/forecast.csv` and `DIR/plots/forecast_<task>.png` (for a run of
//! ablation arms, each arm's into `DIR/arms/<arm>/`). `emerge analyze`
//! writes the CSV too and `emerge plot` the charts. The steps are
//! [`crate::pipeline::forecast`]'s.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &ForecastArgs) -> Result<(), String> {
    crate::pipeline::forecast(&args.run, true)
}
