//! `emerge plot --run DIR`: PNG charts into `DIR/plots/`. Uses `DIR/fits.csv`
//! when present; otherwise fits are computed in memory (and not saved).

use crate::output::{esay, say};
use clap::Args;
use results::schema::{files, FitRow};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &PlotArgs) -> Result<(), String> {
    let run = results::Run::load(&args.run).map_err(|e| e.to_string())?;
    run.require_scores().map_err(|e| e.to_string())?;
    let fits_path = args.run.join(files::FITS);
    let fits: Vec<FitRow> = if fits_path.is_file() {
        results::read::read_csv(&fits_path).map_err(|e| e.to_string())?
    } else {
        eprintln!(
            "note: {} missing; fitting now (run `emerge analyze` to save the fits)",
            fits_path.display()
        );
        results::analyze::analyze(&run)
            .map_err(|e| e.to_string())?
            .fits
    };
    for n in &run.notes {
        esay(&format!("note: {n}\n"));
    }
    let out = args.run.join(files::PLOTS_DIR);
    let (written, notes) = plots::plot_run(&run, &fits, &out).map_err(|e| e.to_string())?;
    for n in notes {
        esay(&format!("note: {n}\n"));
    }
    for p in &written {
        say(&format!("wrote {}\n", p.display()));
    }
    Ok(())
}
