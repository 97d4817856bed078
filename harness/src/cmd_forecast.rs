//! `emerge forecast --run DIR`: N* of every located exact-match curve
//! forecast from the sizes below it, checked against the measured N*, into
//! `DIR/forecast.csv` and `DIR/plots/forecast_<task>.png` (for a run of
//! ablation arms, each arm's into `DIR/arms/<arm>/`). `emerge analyze` runs
//! it too. The work is in `results::forecast` and `plots`.

use crate::output::{esay, say};
use clap::Args;
use results::schema::files;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

/// Forecast one run (or one arm's run) whose own files live in `dir`.
fn forecast_one(run: &results::Run, dir: &Path, label: &str) -> Result<(), String> {
    let err = |e: results::Error| e.to_string();
    let mut notes = Vec::new();
    let fits = results::forecast::fits_for(run, dir, &mut notes).map_err(err)?;
    let f = results::forecast::forecast(run, &fits);
    let path = results::forecast::write_forecast(dir, &f).map_err(err)?;
    say(&results::forecast::summary(&f));
    for n in notes.iter().chain(&f.notes) {
        esay(&format!("emerge: note: {label}{n}\n"));
    }
    let pngs =
        plots::plot_forecast(run, &f, &dir.join(files::PLOTS_DIR)).map_err(|e| e.to_string())?;
    say(&format!(
        "wrote {} ({} curves) and {} chart(s)\n",
        path.display(),
        f.curves.len(),
        pngs.len()
    ));
    Ok(())
}

pub fn run(args: &ForecastArgs) -> Result<(), String> {
    let arms = crate::cmd_analyze::arm_specs(&args.run);
    if arms.is_empty() {
        let run = results::Run::load(&args.run).map_err(|e| e.to_string())?;
        run.require_scores().map_err(|e| e.to_string())?;
        return forecast_one(&run, &args.run, "");
    }
    for a in &arms {
        let run = results::Run::load_arm(&args.run, &a.name).map_err(|e| e.to_string())?;
        let dir = results::arms::arm_dir(&args.run, &a.name);
        forecast_one(&run, &dir, &format!("{}: ", a.name))?;
    }
    Ok(())
}

/// Whether an analysis located any exact-match N* on the parameter axis:
/// then `emerge analyze` forecasts it.
pub fn has_located(fits: &[results::FitRow]) -> bool {
    results::threshold::transitions(fits)
        .iter()
        .any(|t| t.key.metric == results::schema::metric::EXACT_MATCH)
}
